"""The torch hub cache when it is damaged, stale or unwritable: a damaged weights file is set
aside and downloaded once again, every other fault is a `DownloadError` naming the file and
the fix, interrupted downloads' ``.partial`` files are found and cleaned, and
``verify_cache`` / ``tvcompat cache verify`` / ``tvcompat doctor`` report every such entry."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import tvcompat
from _faults import child_env, run_child
from test_downloads import load
from tvcompat import _catalog
from tvcompat._net import cache as _cache
from tvcompat._net import paths as _paths
from tvcompat._net import safety
from tvcompat.cli import main
from tvcompat.downloads import ensure_cached, prefetch, set_mirror, set_offline, verify_cache
from tvcompat.errors import DownloadError, TvcompatError, UnsafeWeightsFileError

if TYPE_CHECKING:
    from conftest import TLS, Served
    from https_server import HTTPSServer

pytestmark = pytest.mark.usefixtures("hub_dir", "tvc_settings", "trust_test_ca")

RESNET18 = "resnet18-f37072fd.pth"  # ResNet18_Weights.IMAGENET1K_V1's official file name


@pytest.fixture
def checkpoints(hub_dir: Path) -> Path:
    folder = hub_dir / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def served_entry(served: dict[str, Served], monkeypatch: pytest.MonkeyPatch) -> None:
    """The served resnet18 file's name is ResNet18_Weights.IMAGENET1K_V1's (as
    ``official_urls`` makes the entry say)."""
    index = {**_catalog.filename_index(), served["resnet18"].name: RESNET18_ENTRY}
    monkeypatch.setattr(_catalog, "filename_index", lambda: index)


RESNET18_ENTRY = ("ResNet18_Weights", "IMAGENET1K_V1")


def _legacy_bytes(item: Served) -> bytes:
    """The served state dict in torch's legacy (pre-zip) format: its pickles come first, so
    a truncated copy passes a scan of the pickles alone and fails in ``torch.load``."""
    import torch

    buffer = io.BytesIO()
    torch.save(load(item.path), buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def _damaged(kind: str, item: Served) -> bytes:
    data = item.path.read_bytes()
    if kind == "empty":
        return b""
    if kind == "truncated-zip":
        return data[: len(data) // 2]
    if kind == "truncated-legacy":
        legacy = _legacy_bytes(item)
        return legacy[: len(legacy) - 1000]
    assert kind == "garbage"
    return b"<html>502 Bad Gateway</html>"


DAMAGE = ["empty", "truncated-zip", "truncated-legacy", "garbage"]


# --------------------------------------------------------------------------------------------
# A damaged file whose name carries its hash: set aside, downloaded once again
# --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("served_entry")
@pytest.mark.parametrize("kind", DAMAGE)
def test_a_builder_downloads_a_damaged_cached_file_again(
    kind: str,
    *,
    https_server: HTTPSServer,
    served: dict[str, Served],
    official_urls: dict[str, str],
    checkpoints: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    item = served["resnet18"]
    bad = _damaged(kind, item)
    (checkpoints / item.name).write_bytes(bad)
    set_mirror(https_server.base_url())
    model = tvcompat.resnet18(weights="IMAGENET1K_V1")
    expected = load(item.path)
    assert all(torch.equal(model.state_dict()[k], expected[k]) for k in expected)
    assert https_server.requests(item.url_path) == 1
    assert (checkpoints / item.name).read_bytes() == item.path.read_bytes()
    aside = checkpoints / (item.name + ".corrupt")
    assert aside.read_bytes() == bad  # kept for inspection, never loaded
    err = capsys.readouterr().err
    assert f"{checkpoints / item.name} is damaged" in err
    assert f"moving it to {aside.name} and downloading it again" in err
    found = {f.path.name: f for f in verify_cache(checkpoints)}
    assert found[aside.name].status == "corrupt"
    assert found[aside.name].weights == "ResNet18_Weights.IMAGENET1K_V1"
    verify_cache(checkpoints, remove_corrupt=True)
    assert not aside.exists()
    assert (checkpoints / item.name).exists()


@pytest.mark.parametrize("kind", ["empty", "truncated-legacy"])
def test_load_state_dict_downloads_a_damaged_cached_file_again(
    kind: str, https_server: HTTPSServer, served: dict[str, Served], checkpoints: Path
) -> None:
    """The loader of the stand-in enums and of torchvision <= 0.12's manual loads."""
    import torch

    item = served["resnet18"]
    (checkpoints / item.name).write_bytes(_damaged(kind, item))
    state = _cache.load_state_dict(https_server.url(item.url_path), progress=False)
    expected = load(item.path)
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert https_server.requests(item.url_path) == 1


def test_a_truncated_legacy_file_is_refused_before_torch_reads_it(
    served: dict[str, Served], tmp_path: Path
) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(_damaged("truncated-legacy", served["resnet18"]))
    with pytest.raises(UnsafeWeightsFileError, match="truncated") as info:
        safety.check_file(path)
    assert safety.is_damaged(info.value)
    path.write_bytes(_legacy_bytes(served["resnet18"]))
    safety.check_file(path)  # the complete file passes


def test_a_damaged_file_is_downloaded_again_once(
    https_server: HTTPSServer, served: dict[str, Served], checkpoints: Path
) -> None:
    """The new copy matches its hash but is no weights file either: the second failure
    is raised, with no third download."""
    blob = served["blob"]  # random bytes named by their own hash
    (checkpoints / blob.name).write_bytes(b"")
    with pytest.raises(UnsafeWeightsFileError, match="malformed"):
        _cache.ensure_checked(https_server.url(blob.url_path), progress=False)
    assert https_server.requests(blob.url_path) == 1
    with pytest.raises(UnsafeWeightsFileError):  # intact per its hash: not downloaded again
        _cache.ensure_checked(https_server.url(blob.url_path), progress=False)
    assert https_server.requests(blob.url_path) == 1


@pytest.mark.usefixtures("served_entry")
def test_a_damaged_file_offline_names_the_file_and_the_fix(
    served: dict[str, Served], official_urls: dict[str, str], checkpoints: Path
) -> None:
    item = served["resnet18"]
    path = checkpoints / item.name
    path.write_bytes(b"")
    set_offline(True)
    with pytest.raises(DownloadError) as info:
        tvcompat.resnet18(weights="IMAGENET1K_V1")
    message = str(info.value)
    assert str(path) in message
    assert "ResNet18_Weights.IMAGENET1K_V1" in message
    assert "is damaged (it is empty" in message
    assert "offline mode is on (api)" in message
    assert "tvcompat cache verify --remove-corrupt" in message
    assert path.exists()  # offline: nothing is moved


def test_a_damaged_file_comes_again_from_a_local_mirror_even_offline(
    served: dict[str, Served], official_urls: dict[str, str], checkpoints: Path, tmp_path: Path
) -> None:
    item = served["resnet18"]
    (checkpoints / item.name).write_bytes(b"\0" * 100)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / item.name).write_bytes(item.path.read_bytes())
    set_offline(True)
    set_mirror(mirror)
    tvcompat.resnet18(weights="IMAGENET1K_V1")
    assert (checkpoints / item.name).read_bytes() == item.path.read_bytes()


def test_a_file_that_references_code_is_refused_not_replaced(
    https_server: HTTPSServer, served: dict[str, Served], checkpoints: Path
) -> None:
    import pickle

    item = served["resnet18"]
    poisoned = pickle.dumps(os.system, protocol=2)  # a reference to code, never damage
    (checkpoints / item.name).write_bytes(poisoned)
    with pytest.raises(UnsafeWeightsFileError, match="references"):
        _cache.ensure_checked(https_server.url(item.url_path), progress=False)
    assert https_server.requests(item.url_path) == 0
    assert (checkpoints / item.name).read_bytes() == poisoned


def test_a_file_without_a_hash_in_its_name_is_not_guessed_at(checkpoints: Path) -> None:
    name = "resnet18_fbgemm_16fa66dd.pth"  # no -<sha256> segment
    (checkpoints / name).write_bytes(b"")
    with pytest.raises(UnsafeWeightsFileError, match=name):
        _cache.ensure_checked(f"https://download.pytorch.org/models/quantized/{name}")


# --------------------------------------------------------------------------------------------
# Faults that are not damage: a folder, an unreadable file, an unwritable cache
# --------------------------------------------------------------------------------------------


def test_a_folder_under_a_weights_name(checkpoints: Path) -> None:
    (checkpoints / RESNET18).mkdir()
    for build in (
        lambda: tvcompat.resnet18(pretrained=True),
        lambda: prefetch("resnet18", pretrained=True),
    ):
        with pytest.raises(DownloadError) as info:
            build()
        message = str(info.value)
        assert f"has a folder at {checkpoints / RESNET18}" in message
        assert "ResNet18_Weights.IMAGENET1K_V1" in message
        assert "rm -r" in message
    assert (checkpoints / RESNET18).is_dir()


_BUILD = textwrap.dedent(
    """
    import sys
    import tvcompat
    try:
        tvcompat.resnet18(pretrained=True)
    except Exception as exc:
        print(type(exc).__name__, isinstance(exc, tvcompat.TvcompatError))
        print(exc)
    """
)


def test_an_unreadable_cached_file(tmp_path: Path) -> None:
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    path = folder / RESNET18
    path.write_bytes(b"weights")
    path.chmod(0o000)
    proc = run_child(["-c", _BUILD], child_env(tmp_path, TVCOMPAT_OFFLINE="1"), as_owner_only=True)
    assert proc.returncode == 0, proc.stderr
    first, message = proc.stdout.splitlines()[:2]
    assert first == "DownloadError True", proc.stdout
    assert f"cannot read the weights file {RESNET18} (ResNet18_Weights.IMAGENET1K_V1)" in message
    assert str(path) in message
    assert "read access" in message


def test_a_file_where_the_checkpoints_folder_should_be(hub_dir: Path) -> None:
    hub_dir.mkdir(parents=True)
    (hub_dir / "checkpoints").write_text("not a folder")
    with pytest.raises(DownloadError) as info:
        ensure_cached("https://download.pytorch.org/models/" + RESNET18)
    message = str(info.value)
    assert f"cannot write to the torch hub cache {hub_dir / 'checkpoints'}" in message
    assert "TORCH_HOME" in message
    assert "torch.hub.set_dir" in message


def test_a_read_only_checkpoints_folder(tmp_path: Path, served: dict[str, Served]) -> None:
    mirror = tmp_path / "mirror"  # a local mirror: the download itself needs no network
    mirror.mkdir()
    item = served["resnet18"]
    (mirror / item.name).write_bytes(item.path.read_bytes())
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    code = (
        "import tvcompat\n"
        "try:\n"
        f"    tvcompat.ensure_cached({item.official_url!r}, progress=False)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "    print(exc)\n"
    )
    try:
        proc = run_child(
            ["-c", code],
            child_env(tmp_path, TVCOMPAT_WEIGHTS_MIRROR=str(mirror)),
            as_owner_only=True,
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    first, message = proc.stdout.splitlines()[:2]
    assert first == "DownloadError", proc.stdout
    assert f"cannot write to the torch hub cache {folder}" in message
    assert "TORCH_HOME" in message
    assert "torch.hub.set_dir" in message
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Interrupted downloads: a real process killed with SIGKILL mid-download
# --------------------------------------------------------------------------------------------

_DOWNLOAD = textwrap.dedent(
    """
    import sys
    import torch.hub  # first: the data must arrive while the download runs, not meanwhile
    from tvcompat.downloads import cafile_downloads, ensure_cached
    with cafile_downloads(cafile=sys.argv[2]):
        ensure_cached(sys.argv[1], progress=False)
    print("DONE")
    """
)


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.partial")) if folder.is_dir() else []


def _start_and_kill(
    https_server: HTTPSServer, blob: Served, tls: TLS, hub_dir: Path, check_running: Any = None
) -> Path:
    """Start a download in a child process, wait for its first bytes, (check it is seen as
    running,) kill it with SIGKILL; return its orphaned ``.partial`` file."""
    import subprocess

    https_server.slow(blob.url_path, 2.0)  # 4 chunks, 2 s apart
    child = subprocess.Popen(
        [sys.executable, "-c", _DOWNLOAD, https_server.url(blob.url_path), str(tls.ca_file)],
        env=child_env(hub_dir.parent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    folder = hub_dir / "checkpoints"
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in _partials(folder)):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the download did not start"
            time.sleep(0.05)
        if check_running is not None:
            check_running()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    (partial,) = _partials(folder)
    return partial


@pytest.fixture
def cli_hub(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_paths, "hub_dir", lambda: hub_dir)
    return hub_dir


def test_a_killed_download_leaves_a_stale_partial_that_verify_removes(
    https_server: HTTPSServer,
    served: dict[str, Served],
    tls: TLS,
    cli_hub: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blob = served["blob"]
    folder = cli_hub / "checkpoints"

    def running() -> None:  # the download is alive: seen as running, never removed
        (found,) = verify_cache(folder, remove_corrupt=True, remove_stale=True)
        assert (found.status, found.stale, found.removed) == ("partial", False, False)
        assert "in progress" in found.detail

    partial = _start_and_kill(https_server, blob, tls, cli_hub, running)
    assert partial.name.startswith(blob.name + ".")
    (found,) = verify_cache(folder)
    assert (found.status, found.stale, found.removed) == ("partial", True, False)
    assert "interrupted download" in found.detail
    assert partial.exists()

    assert main(["cache", "verify"]) == 0
    out = capsys.readouterr().out
    assert "stale: an interrupted download" in out
    assert "1 stale partial download: `tvcompat cache verify --remove-corrupt` deletes them" in out
    assert main(["cache", "verify", "--remove-corrupt", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["files"]
    assert (row["status"], row["stale"], row["removed"]) == ("partial", True, True)
    assert not partial.exists()


def test_a_new_download_removes_the_stale_partial_of_its_file(
    https_server: HTTPSServer, served: dict[str, Served], tls: TLS, hub_dir: Path
) -> None:
    blob = served["blob"]
    partial = _start_and_kill(https_server, blob, tls, hub_dir)
    https_server.slow(blob.url_path, 0)
    other = hub_dir / "checkpoints" / f"{blob.name}.{'0' * 32}.partial"  # e.g. torch.hub's
    other.write_bytes(b"recent, unclaimed")
    path = ensure_cached(https_server.url(blob.url_path), progress=False)
    assert path.read_bytes() == blob.path.read_bytes()
    assert not partial.exists()
    assert other.exists()  # not known to be stale: another program may be writing it


def test_unclaimed_partials_are_stale_after_a_day(checkpoints: Path) -> None:
    fresh = checkpoints / f"{RESNET18}.{'a' * 32}.partial"
    old = checkpoints / f"resnet50-0676ba61.pth.{'b' * 32}.partial"
    for path in (fresh, old):
        path.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    found = {f.path.name: f for f in verify_cache(checkpoints, remove_stale=True)}
    assert (found[fresh.name].stale, found[fresh.name].removed) == (False, False)
    assert "left alone" in found[fresh.name].detail
    assert (found[old.name].stale, found[old.name].removed) == (True, True)
    assert "unchanged for 48 h" in found[old.name].detail
    assert fresh.exists()
    assert not old.exists()


# --------------------------------------------------------------------------------------------
# Reported by verify_cache, `tvcompat cache verify` and `tvcompat doctor`
# --------------------------------------------------------------------------------------------


def test_verify_and_doctor_report_a_folder_and_an_empty_file(
    cli_hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cli_hub / "checkpoints"
    folder.mkdir(parents=True)
    (folder / RESNET18).mkdir()
    (folder / "resnet50-0676ba61.pth").write_bytes(b"")
    found = {f.path.name: f for f in verify_cache(folder, remove_corrupt=True)}
    assert found[RESNET18].status == "unreadable"
    assert "a folder, not a file" in found[RESNET18].detail
    assert found["resnet50-0676ba61.pth"].status == "corrupt"
    assert (folder / RESNET18).is_dir()  # never removed

    (folder / "resnet50-0676ba61.pth").write_bytes(b"")
    assert main(["cache", "verify"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if RESNET18 in line)
    assert row.split()[:2] == ["UNREADABLE", RESNET18]
    assert "1 unreadable entry: nothing can load them" in out
    assert "no corrupt files" not in out

    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"{folder / RESNET18}: a folder, not a file" in out
    assert f"{folder / 'resnet50-0676ba61.pth'}: empty (0 bytes)" in out
    assert main(["doctor", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    problems = {f["name"]: f["problem"] for f in data["hub_cache"]["files"]}
    assert problems[RESNET18].startswith("a folder")
    assert len(data["problems"]) == 2


def test_verify_and_doctor_report_an_unreadable_file(tmp_path: Path) -> None:
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    path = folder / RESNET18
    path.write_bytes(b"weights")
    path.chmod(0o000)
    env = child_env(tmp_path)
    verify = run_child(["-m", "tvcompat", "cache", "verify"], env, as_owner_only=True)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "Traceback" not in verify.stderr
    row = next(line for line in verify.stdout.splitlines() if RESNET18 in line)
    assert row.split()[:2] == ["UNREADABLE", RESNET18]
    assert "Permission denied" in row
    assert "no corrupt files" not in verify.stdout
    doctor = run_child(["-m", "tvcompat", "doctor"], env, as_owner_only=True)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "Traceback" not in doctor.stderr
    assert f"{path}: cannot be read: Permission denied" in doctor.stdout


def test_the_damage_kinds_fail_the_current_checks(
    served: dict[str, Served], tmp_path: Path
) -> None:
    """Each damage kind of these tests is refused by the check a builder runs (so that the
    tests above exercise the repair, not a lucky pass)."""
    for kind in DAMAGE:
        path = tmp_path / f"{kind}.pth"
        path.write_bytes(_damaged(kind, served["resnet18"]))
        with pytest.raises(TvcompatError):
            safety.check_file(path)
    assert _catalog.filename_index()[RESNET18][0] == "ResNet18_Weights"
