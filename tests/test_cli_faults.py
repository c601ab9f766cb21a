"""No ``tvcompat`` invocation prints a Python traceback for a user error or an environment
problem: every command with bad arguments and in bad environments (invalid settings,
missing, unwritable or junk-filled folders) exits 0 (ok), 1 (problem found) or 2 (usage
error) with a message. Most run in-process through ``tvcompat.cli.main``, a few for real
as ``python -m tvcompat``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from _faults import child_env, run_child
from tvcompat import _catalog
from tvcompat._net import paths as _paths
from tvcompat.cli import COMMANDS, build_parser, main

pytestmark = pytest.mark.usefixtures("tvc_settings")

RESNET18 = "resnet18-f37072fd.pth"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "hub"
    monkeypatch.setattr(_paths, "hub_dir", lambda: folder)
    return folder


@pytest.fixture
def junk_cache(hub: Path) -> Path:
    """A checkpoints folder with every kind of junk in it."""
    folder = hub / "checkpoints"
    folder.mkdir(parents=True)
    (folder / RESNET18).mkdir()  # a folder under a weights name
    (folder / "resnet50-0676ba61.pth").write_bytes(b"")  # empty
    (folder / "resnet50-11ad3fa6.pth").write_bytes(b"\x00" * 64)  # garbage
    (folder / "vgg16-397923af.pth.corrupt").write_bytes(b"set aside")
    (folder / "resnet34-b627a593.pth.0123abcd.partial").write_bytes(b"part")
    (folder / "notes.txt").write_text("someone else's")
    os.symlink(folder / "missing", folder / "alexnet-owt-7be5be79.pth")  # broken link
    (folder / _paths.LOCK_DIR).mkdir()
    return folder


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --------------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------------

BAD_ARGUMENTS: list[tuple[list[str], str]] = [
    ([], "usage: tvcompat"),
    (["nope"], "invalid choice"),
    (["doctor", "--nope"], "unrecognized arguments"),
    (["doctor", "--online", "--timeout", "nan"], "--timeout"),
    (["doctor", "--online", "--timeout", "inf"], "--timeout"),
    (["doctor", "--online", "--url", "http://[::1"], "not a valid URL"),
    (["doctor", "--online", "--cafile", "/nonexistent/ca.pem"], "ca.pem"),
    (["models", "--family", "nope"], "invalid choice"),
    (["weights", "resnet5"], "Unknown model"),
    (["weights"], "required"),
    (["download"], "required"),
    (["download", "resnet5"], "Unknown model"),
    (["download", "resnet18", "--mirror", "ftp://x"], "cannot download from ftp://"),
    (["download", "resnet18", "--mirror", "http://[::1"], "not a valid URL"),
    (["download", "resnet18", "--cafile", "/nonexistent/ca.pem"], "--cafile"),
    (["download", "resnet18", "--certifi", "--insecure"], "not allowed with"),
    (["cache"], "usage"),
    (["cache", "nope"], "invalid choice"),
    (["cache", "verify", "--dir"], "expected one argument"),
    (["migrate"], "required"),
    (["migrate", "/nonexistent/src"], "no such file or folder"),
    (["migrate", ".", "--target", "nope"], "invalid choice"),
    (["migrate", ".", "--check", "--write"], "not allowed with"),
]


@pytest.mark.parametrize(
    ("argv", "message"), BAD_ARGUMENTS, ids=[" ".join(argv) or "-" for argv, _ in BAD_ARGUMENTS]
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], message: str, hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, argv)
    assert code == 2, out + err
    assert message in err


@pytest.mark.parametrize("form", ["missing", "a-file"])
@pytest.mark.parametrize("action", ["list", "verify"])
def test_cache_dir_must_be_a_folder(
    form: str, action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "weights"
    if form == "a-file":
        target.write_bytes(b"x")
    code, out, err = run(capsys, ["cache", action, "--dir", str(target)])
    assert code == 2
    assert out == ""
    what = "no such folder" if form == "missing" else "not a folder"
    assert f"tvcompat cache: error: --dir {target}: {what}" in err


def test_every_command_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in COMMANDS:
        code, out, _ = run(capsys, [command.NAME, "--help"])
        assert code == 0
        assert out.startswith(f"usage: tvcompat {command.NAME}")
    assert build_parser().prog == "tvcompat"


# --------------------------------------------------------------------------------------------
# Bad environments: invalid settings
# --------------------------------------------------------------------------------------------

INVALID_ENV = [
    ("TVCOMPAT_PRETRAINED", "newest"),
    ("TVCOMPAT_OFFLINE", "maybe"),
    ("TVCOMPAT_DOWNLOAD_TIMEOUT", "nan"),
    ("TVCOMPAT_DOWNLOAD_TIMEOUT", "inf"),
    ("TVCOMPAT_WEIGHTS_MIRROR", "http://[::1"),
    ("TVCOMPAT_WEIGHTS_MIRROR", "ftp://x"),
]

#: a valid call of each command, and its exit code with one invalid setting: a usage error
#: where the setting is needed, a problem the doctor reports, else it runs as usual
ENV_CALLS: list[tuple[list[str], int]] = [
    (["doctor"], 1),
    (["doctor", "--online", "--url", "https://127.0.0.1:9", "--timeout", "2"], 1),
    (["models"], 2),
    (["weights", "resnet18"], 0),
    (["download", "resnet18", "--quiet"], 2),
    (["cache", "list"], 0),
    (["cache", "verify"], 0),
]


@pytest.mark.parametrize(("name", "raw"), INVALID_ENV)
@pytest.mark.parametrize(
    ("argv", "expected"), ENV_CALLS, ids=[" ".join(argv[:2]) for argv, _ in ENV_CALLS]
)
def test_invalid_settings_never_crash_a_command(
    name: str,
    raw: str,
    *,
    argv: list[str],
    expected: int,
    hub: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, raw)
    code, out, err = run(capsys, argv)
    assert code == expected, out + err
    if expected == 2:
        assert f"{name}={raw!r} is not" in err


def test_migrate_runs_whatever_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libcst")
    (tmp_path / "a.py").write_text("x = 1\n")
    for name, raw in INVALID_ENV:
        monkeypatch.setenv(name, raw)
    code, _, err = run(capsys, ["migrate", str(tmp_path), "--check"])
    assert code == 0, err


# --------------------------------------------------------------------------------------------
# Bad environments: missing, unwritable and junk-filled folders
# --------------------------------------------------------------------------------------------


def test_junk_in_the_cache(junk_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ["cache", "list"])
    assert code == 0
    assert "alexnet-owt-7be5be79.pth" in out  # the broken link is listed, with its problem
    code, out, _ = run(capsys, ["cache", "verify"])
    assert code == 1
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines()[2:] if "  " in line}
    assert rows[RESNET18] == "UNREADABLE"
    assert rows["alexnet-owt-7be5be79.pth"] == "UNREADABLE"
    assert rows["resnet50-0676ba61.pth"] == "CORRUPT"
    assert rows["vgg16-397923af.pth.corrupt"] == "CORRUPT"
    assert rows["notes.txt"] == "UNKNOWN"
    code = main(["cache", "verify", "--remove-corrupt", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1  # the folder and the broken link stay
    removed = {f["name"] for f in data["files"] if f["removed"]}
    assert removed == {
        "resnet50-0676ba61.pth",
        "resnet50-11ad3fa6.pth",
        "vgg16-397923af.pth.corrupt",
    }
    assert (junk_cache / RESNET18).is_dir()
    code, out, _ = run(capsys, ["doctor"])
    assert code == 1
    assert "problems:" in out


def test_a_cache_path_under_a_file(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.parent.mkdir(parents=True, exist_ok=True)
    hub.write_text("a file where the hub folder should be")
    for argv in (["cache", "list"], ["cache", "verify"]):
        code, out, _ = run(capsys, argv)
        assert code == 0  # nothing cached
        assert out.startswith(f"{hub / 'checkpoints'}: 0 files")
    code, out, _ = run(capsys, ["doctor"])
    assert code == 1
    assert f"{hub} is a file, where a folder of the torch hub cache" in out


def test_download_into_an_unusable_cache(
    hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.mkdir(parents=True)
    (hub / "checkpoints").write_text("a file where the folder should be")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / RESNET18).write_bytes(b"x")
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", str(mirror))
    code, _, err = run(capsys, ["download", "resnet18", "--quiet"])
    assert code == 1
    assert "cannot write to the torch hub cache" in err
    assert "TORCH_HOME" in err


def test_download_with_a_folder_under_the_weights_name(
    hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (hub / "checkpoints" / RESNET18).mkdir(parents=True)
    code, _, err = run(capsys, ["download", "resnet18", "--quiet"])
    assert code == 1
    assert "has a folder at" in err


def test_download_with_a_missing_mirror_folder(
    hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, ["download", "resnet18", "--quiet", "--mirror", str(tmp_path / "none")]
    )
    assert code == 1
    assert "has no resnet18-f37072fd.pth" in err


def test_an_unreadable_cache_folder(tmp_path: Path) -> None:
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / RESNET18).write_bytes(b"x")
    folder.chmod(0o000)
    try:
        env = child_env(tmp_path)
        for argv, expected in ((["cache", "list"], 1), (["cache", "verify"], 1), (["doctor"], 1)):
            proc = run_child(["-m", "tvcompat", *argv], env, as_owner_only=True)
            assert "Traceback" not in proc.stderr, proc.stderr
            assert proc.returncode == expected, proc.stdout + proc.stderr
            assert "Permission denied" in proc.stdout + proc.stderr
    finally:
        folder.chmod(0o755)


def test_remove_corrupt_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / RESNET18).write_bytes(b"corrupt")
    folder.chmod(0o555)
    try:
        proc = run_child(
            ["-m", "tvcompat", "cache", "verify", "--remove-corrupt"],
            child_env(tmp_path),
            as_owner_only=True,
        )
    finally:
        folder.chmod(0o755)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot remove it: Permission denied" in proc.stdout
    assert "0 removed, 1 could not be (see DETAIL)" in proc.stdout
    assert (folder / RESNET18).exists()


# --------------------------------------------------------------------------------------------
# python -m tvcompat, for real
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "expected", "message"),
    [
        (["cache", "verify", "--dir", "/nonexistent/weights"], {}, 2, "no such folder"),
        (["download", "resnet18", "--mirror", "http://[::1"], {}, 2, "not a valid URL"),
        (["download", "resnet18"], {"TVCOMPAT_DOWNLOAD_TIMEOUT": "nan"}, 2, "'nan' is not"),
        (["doctor"], {"TVCOMPAT_DOWNLOAD_TIMEOUT": "inf"}, 1, "INVALID"),
        (["doctor", "--online"], {"TVCOMPAT_WEIGHTS_MIRROR": "http://[::1"}, 1, "skipped"),
        (["doctor", "--online", "--timeout", "nan"], {}, 2, "--timeout"),
        (["models"], {"TVCOMPAT_OFFLINE": "maybe"}, 2, "'maybe' is not valid"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_python_m_tvcompat_prints_no_traceback(
    argv: list[str], env: dict[str, str], expected: int, message: str, tmp_path: Path
) -> None:
    proc = run_child(["-m", "tvcompat", *argv], child_env(tmp_path, **env))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_python_m_tvcompat_migrate_with_a_binary_file(tmp_path: Path) -> None:
    pytest.importorskip("libcst")
    src = tmp_path / "src"
    src.mkdir()
    (src / "good.py").write_text("from torchvision.models import resnet18\nm = resnet18(True)\n")
    (src / "blob.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00torchvision\xff\xfe")
    proc = run_child(["-m", "tvcompat", "migrate", str(src), "--write"], child_env(tmp_path))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    assert f"{src / 'blob.py'}: error: cannot" in proc.stderr
    assert "tvcompat.resnet18(weights=" in (src / "good.py").read_text()


# --------------------------------------------------------------------------------------------
# migrate: files that cannot be migrated are reported and left alone; the others are done
# --------------------------------------------------------------------------------------------

LEGACY = "from torchvision.models import resnet18\nmodel = resnet18(pretrained=True)\n"


def _project(root: Path, good: int = 19) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    files = [root / f"m{i:02d}.py" for i in range(good)]
    for path in files:
        path.write_text(LEGACY)
    return files


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"import torchvision\nname = '\xe9t\xe9'\n", id="latin-1-without-coding-line"),
        pytest.param(b"\x00\x01torchvision\x00\xff\xfe", id="binary"),
        pytest.param(b"# -*- coding: nope -*-\nimport torchvision\n", id="unknown-coding"),
        pytest.param(b"import torchvision\ndef (:\n", id="syntax-error"),
    ],
)
def test_migrate_write_reports_a_bad_file_and_does_the_others(
    bad: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libcst")
    files = _project(tmp_path / "src")
    broken = tmp_path / "src" / "m09_bad.py"  # sorted among the good ones
    broken.write_bytes(bad)
    code, _, err = run(capsys, ["migrate", str(tmp_path / "src"), "--write"])
    assert code == 1
    assert f"{broken}: error: cannot" in err
    assert "left alone" in err
    assert broken.read_bytes() == bad
    for path in files:
        assert "weights=tvcompat.ResNet18_Weights.IMAGENET1K_V1" in path.read_text(), path
    summary = err.strip().splitlines()[-1]
    assert summary == (
        "rewrote 19 calls in 19 files (target shim); 0 not rewritten; 20 files checked; "
        "1 file left alone (errors above)"
    )


def test_migrate_json_reports_the_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libcst")
    _project(tmp_path, good=2)
    (tmp_path / "bad.py").write_bytes(b"import torchvision\nx = '\xff'\n")
    code = main(["migrate", str(tmp_path), "--write", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    errors = {Path(f["path"]).name: f["error"] for f in data["files"] if f["error"]}
    assert list(errors) == ["bad.py"]
    assert "cannot decode: not utf-8 text (byte 0xff" in errors["bad.py"]
    assert sum(f["written"] for f in data["files"]) == 2


def test_migrate_checks_every_file_before_writing_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libcst")
    from tvcompat._migrate import files as migrate_files

    _project(tmp_path, good=5)
    events: list[str] = []
    plan, write = migrate_files._plan, migrate_files._write_atomically

    def planned(path: Path, *args: Any) -> Any:
        events.append("check")
        return plan(path, *args)

    def written(path: Path, data: bytes) -> None:
        events.append("write")
        write(path, data)

    monkeypatch.setattr(migrate_files, "_plan", planned)
    monkeypatch.setattr(migrate_files, "_write_atomically", written)
    code, _, _ = run(capsys, ["migrate", str(tmp_path), "--write"])
    assert code == 0
    assert events == ["check"] * 5 + ["write"] * 5


def test_migrate_write_refuses_a_read_only_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Also as root, whom the mode does not stop: the mode bits are checked."""
    pytest.importorskip("libcst")
    files = _project(tmp_path, good=3)
    locked = files[1]
    locked.chmod(0o444)
    code, out, err = run(capsys, ["migrate", str(tmp_path), "--write"])
    assert code == 1
    assert f"{locked}: error: cannot write: the file is read-only (mode 0444)" in err
    assert locked.read_text() == LEGACY
    assert locked.stat().st_mode & 0o777 == 0o444
    assert f"{locked}:" not in out  # its calls are not listed as rewritten
    for path in (files[0], files[2]):
        assert "weights=tvcompat" in path.read_text()
    assert "rewrote 2 calls in 2 files" in err
    assert "1 file left alone" in err


def test_migrate_check_reports_a_bad_file_but_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("libcst")
    files = _project(tmp_path, good=2)
    (tmp_path / "bad.py").write_bytes(b"import torchvision\nx = '\xff'\n")
    code, _, err = run(capsys, ["migrate", str(tmp_path), "--check"])
    assert code == 1
    assert "bad.py: error: cannot decode" in err
    assert all(path.read_text() == LEGACY for path in files)


def test_catalog_knows_the_junk_names() -> None:
    """The junk above sits under real weights file names."""
    index = _catalog.filename_index()
    for name in (
        RESNET18,
        "resnet34-b627a593.pth",
        "resnet50-0676ba61.pth",
        "resnet50-11ad3fa6.pth",
        "vgg16-397923af.pth",
        "alexnet-owt-7be5be79.pth",
    ):
        assert name in index, name
