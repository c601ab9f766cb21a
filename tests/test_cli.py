"""The ``tvcompat`` command: parsing, output, ``--json`` and exit codes of every command.

Most tests call ``main([...])`` in-process; a few run ``python -m tvcompat`` for real. Online
checks and downloads only ever reach the loopback HTTPS servers of ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _files import write_state_dict
from tvcompat import _catalog, _settings
from tvcompat._net import paths as _paths
from tvcompat._versions import capabilities
from tvcompat.cli import build_parser, main

if TYPE_CHECKING:
    from conftest import TLS, Served
    from https_server import HTTPSServer


COMMANDS = (
    ["doctor"],
    ["models"],
    ["weights"],
    ["download"],
    ["cache"],
    ["cache", "list"],
    ["cache", "verify"],
    ["migrate"],
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private torch hub folder, seen by the command (which does not import torch)."""
    folder = tmp_path / "hub"
    monkeypatch.setattr(_paths, "hub_dir", lambda: folder)
    return folder


# --------------------------------------------------------------------------------------------
# Parsing and exit codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: tvcompat " + " ".join(command))


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("doctor", "models", "weights", "download", "cache", "migrate"):
        assert command in out
    assert "0 ok, 1 problem found, 2 usage error" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["models", "--family", "nonsense"],
        ["weights"],
        ["cache"],
        ["doctor", "--timeout", "soon"],
        ["migrate", "x.py", "--check", "--write"],
        ["download", "resnet50", "--insecure", "--certifi"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: tvcompat" in err


def test_build_parser_is_reusable() -> None:
    args = build_parser().parse_args(["weights", "resnet50", "--json"])
    assert (args.command, args.model, args.json) == ("weights", "resnet50", True)


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def test_weights_resnet50_table_is_the_seed_example(
    capsys: pytest.CaptureFixture[str], hub: Path
) -> None:
    code, out, _ = run(capsys, "weights", "resnet50")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("resnet50 (classification) on torchvision ")
    assert "pretrained=True loads ResNet50_Weights.IMAGENET1K_V1" in out
    header = next(line for line in lines if line.startswith("WEIGHTS"))
    v1 = next(line for line in lines if line.startswith("ResNet50_Weights.IMAGENET1K_V1"))
    v2 = next(line for line in lines if line.startswith("ResNet50_Weights.IMAGENET1K_V2"))
    for column in (
        "DEFAULT",
        "LEGACY",
        "ACC@1",
        "ACC@5",
        "PARAMS",
        "GFLOPS",
        "SIZE",
        "TORCHVISION",
        "CACHED",
    ):
        assert column in header
    assert "76.130 %" in v1
    assert "92.862 %" in v1
    assert "pretrained=True" in v1
    assert "80.858 %" in v2
    assert "95.434 %" in v2
    assert v2.split()[1] == "yes"  # DEFAULT
    assert "25.6M" in v1
    assert "97.8 MB" in v1
    assert ">=0.10" in v1
    assert ">=0.13" in v2
    # aligned: right-aligned numbers end in the header's column
    end = header.index("ACC@1") + len("ACC@1")
    assert v1[end - 1] == "%"
    assert v2[end - 1] == "%"
    assert v1.rstrip().endswith("no")
    assert v2.rstrip().endswith("no")


def test_weights_json(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    code, data = run_json(capsys, "weights", "resnet50")
    assert code == 0
    assert data["model"] == "resnet50"
    assert data["pretrained"] == {"pretrained=True": "ResNet50_Weights.IMAGENET1K_V1"}
    rows = {r["member"]: r for r in data["weights"]}
    assert rows["IMAGENET1K_V1"]["metrics"]["ImageNet-1K"]["acc@1"] == pytest.approx(76.13)
    assert rows["IMAGENET1K_V2"]["metrics"]["ImageNet-1K"]["acc@1"] == pytest.approx(80.858)
    assert rows["IMAGENET1K_V2"]["default"] is True
    assert rows["IMAGENET1K_V1"]["legacy"] == "pretrained=True"
    assert rows["IMAGENET1K_V1"]["num_params"] == 25557032
    assert rows["IMAGENET1K_V1"]["min_torchvision"] == "0.10"
    assert rows["IMAGENET1K_V1"]["file"] == "resnet50-0676ba61.pth"
    assert rows["IMAGENET1K_V1"]["cached"] is False
    assert data["checkpoint_dir"] == str(hub / "checkpoints")


def test_weights_cached_column(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / "resnet50-11ad3fa6.pth").write_bytes(b"x")
    _, data = run_json(capsys, "weights", "resnet50")
    cached = {r["member"]: r["cached"] for r in data["weights"]}
    assert cached == {"IMAGENET1K_V1": False, "IMAGENET1K_V2": True}
    _, out, _ = run(capsys, "weights", "resnet50")
    v2 = next(line for line in out.splitlines() if "IMAGENET1K_V2" in line)
    assert v2.rstrip().endswith("yes")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            "quantized_resnet50",
            [
                "pretrained=True, quantize=True",
                "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1",
                "75.920 %",
            ],
        ),
        ("fasterrcnn_resnet50_fpn", ["BOX MAP", "37.0", "FasterRCNN_ResNet50_FPN_Weights.COCO_V1"]),
        ("maskrcnn_resnet50_fpn", ["MASK MAP", "34.6"]),
        ("keypointrcnn_resnet50_fpn", ["KP MAP", "pretrained='legacy'", "COCO_LEGACY"]),
        ("deeplabv3_resnet50", ["MIOU", "PIXEL ACC", "COCO_WITH_VOC_LABELS_V1"]),
        ("r3d_18", ["KINETICS400_V1", "ACC@1"]),
        ("raft_large", ["metrics per dataset", "Sintel-Train-Cleanpass EPE"]),
        (
            "resnet_fpn_backbone",
            ["backbone_name='resnet50', pretrained=True loads ResNet50_Weights.IMAGENET1K_V1"],
        ),
        ("ResNet50_Weights", ["ResNet50_Weights.IMAGENET1K_V2"]),
        ("RESNET50", ["ResNet50_Weights.IMAGENET1K_V1"]),
    ],
)
def test_weights_of_every_family(
    capsys: pytest.CaptureFixture[str], hub: Path, model: str, expected: list[str]
) -> None:
    code, out, _ = run(capsys, "weights", model)
    assert code == 0
    for text in expected:
        assert text in out


def test_weights_without_legacy_weights(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    code, out, _ = run(capsys, "weights", "vit_h_14")
    assert code == 0
    assert "pretrained=True loads nothing" in out
    assert "ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1" in out


def test_weights_of_a_builder_newer_than_installed(
    capsys: pytest.CaptureFixture[str], hub: Path
) -> None:
    code, data = run_json(capsys, "weights", "swin_v2_t")
    assert code == 0
    newer = not _catalog.is_available("0.14")
    assert data["available"] is not newer
    assert data["added"] == "0.14"
    _, out, _ = run(capsys, "weights", "swin_v2_t")
    assert ("lacks this builder" in out) is newer


def test_weights_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "weights", "resnet5")
    assert code == 2
    assert out == ""
    assert "Unknown model 'resnet5'" in err
    assert "resnet50" in err


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


def test_models_says_what_pretrained_true_loads(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = run_json(capsys, "models")
    assert code == 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["resnet50"]["pretrained"] == "ResNet50_Weights.IMAGENET1K_V1"
    assert by_name["resnet50"]["default"] == "ResNet50_Weights.IMAGENET1K_V2"
    assert by_name["alexnet"]["family"] == "classification"
    assert by_name["quantized_resnet50"]["pretrained_quantize"] == (
        "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1"
    )
    assert by_name["fasterrcnn_resnet50_fpn"]["pretrained"] == (
        "FasterRCNN_ResNet50_FPN_Weights.COCO_V1"
    )
    assert all(r["available"] for r in rows)
    if "regnet_y_128gf" in by_name:
        assert by_name["regnet_y_128gf"]["pretrained"] is None
        assert "no legacy weights" in by_name["regnet_y_128gf"]["notes"][0]
    code, out, _ = run(capsys, "models")
    line = next(line for line in out.splitlines() if line.startswith("resnet50 "))
    assert line.split()[1:4] == [
        "classification",
        "ResNet50_Weights.IMAGENET1K_V1",
        "IMAGENET1K_V2",
    ]


def test_models_filters(capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = run_json(capsys, "models", "--family", "detection")
    assert rows
    assert {r["family"] for r in rows} == {"detection"}
    _, rows = run_json(capsys, "models", "--include", "resnet*", "--include", "vgg11")
    names = {r["name"] for r in rows}
    assert {"resnet18", "resnet50", "vgg11"} <= names
    assert "vgg13" not in names
    assert "quantized_resnet50" not in names


def test_models_all_includes_newer_builders(capsys: pytest.CaptureFixture[str]) -> None:
    _, installed = run_json(capsys, "models")
    _, every = run_json(capsys, "models", "--all")
    assert len(every) >= len(installed)
    missing = [r for r in every if not r["available"]]
    assert len(every) - len(installed) == len(missing)
    for row in missing:
        assert any("needs torchvision >=" in n for n in row["notes"])


def test_models_follow_the_pretrained_policy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TVCOMPAT_PRETRAINED", "default")
    _, rows = run_json(capsys, "models", "--include", "resnet50")
    assert rows[0]["pretrained"] == "ResNet50_Weights.IMAGENET1K_V2"
    _, out, _ = run(capsys, "models", "--include", "resnet50")
    assert "policy 'default'" in out


def test_invalid_settings_are_usage_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TVCOMPAT_PRETRAINED", "newest")
    code, out, err = run(capsys, "models")
    assert code == 2
    assert out == ""
    assert "TVCOMPAT_PRETRAINED='newest' is not valid" in err


# --------------------------------------------------------------------------------------------
# doctor (offline)
# --------------------------------------------------------------------------------------------


def test_doctor_offline(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("tvcompat ")
    assert "torchvision " in lines[0]
    for section in (
        "capabilities:",
        "settings:",
        "pretrained=True resolves to:",
        "certificates (a download outside any tvcompat scope):",
    ):
        assert section in lines
    assert f"torch hub cache: {hub / 'checkpoints'} (does not exist yet)" in lines
    assert any(
        "resnet50" in line and "ResNet50_Weights.IMAGENET1K_V1  [not cached]" in line
        for line in lines
    )
    assert "online check" not in out


def test_doctor_json(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    code, data = run_json(capsys, "doctor")
    assert code == 0
    assert data["torchvision"] == str(capabilities().torchvision)
    assert data["capabilities"]["weights_api"] is capabilities().weights_api
    assert data["settings"]["mirror"] == {"value": None, "source": "default"}
    assert data["pretrained=True"]["resnet50"]["weights"] == "ResNet50_Weights.IMAGENET1K_V1"
    assert data["hub_cache"]["checkpoints"] == str(hub / "checkpoints")
    assert data["certificates"]["certifi"]["where"]
    assert "online" not in data


def test_doctor_shows_settings_sources(
    capsys: pytest.CaptureFixture[str],
    hub: Path,
    monkeypatch: pytest.MonkeyPatch,
    tvc_settings: None,
) -> None:
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", "/srv/weights")
    _settings.set_offline(True)
    _, data = run_json(capsys, "doctor")
    assert data["settings"]["mirror"] == {
        "value": "/srv/weights",
        "source": "env:TVCOMPAT_WEIGHTS_MIRROR",
    }
    assert data["settings"]["offline"] == {"value": True, "source": "api"}
    _, out, _ = run(capsys, "doctor")
    assert "(env:TVCOMPAT_WEIGHTS_MIRROR)" in out


def test_doctor_reports_an_invalid_setting(
    capsys: pytest.CaptureFixture[str], hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TVCOMPAT_OFFLINE", "maybe")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "INVALID: TVCOMPAT_OFFLINE='maybe' is not valid" in out


def test_doctor_lists_the_cache(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    folder = hub / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "resnet50-0676ba61.pth").write_bytes(b"x" * 2000)
    (folder / "mine.pt").write_bytes(b"y")
    (folder / "resnet18-f37072fd.pth.1234.partial").write_bytes(b"z")
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert f"torch hub cache: {folder} (3 files, 2.0 KB)" in out
    assert "ResNet50_Weights.IMAGENET1K_V1  [cached]" in out
    listing = out[out.index("torch hub cache") :]
    assert "mine.pt" in listing
    assert "not a torchvision file" in listing
    assert "partial download" in listing


def test_doctor_names_the_ca_bundle(
    capsys: pytest.CaptureFixture[str], hub: Path, tls: TLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    _, data = run_json(capsys, "doctor")
    ca = data["certificates"]
    assert ca["bundle"] == str(tls.ca_file)
    assert ca["bundle_source"] == "env:SSL_CERT_FILE"
    assert ca["verifies"] is True
    _, out, _ = run(capsys, "doctor")
    assert f"verifies against                 {tls.ca_file} [env:SSL_CERT_FILE]" in out


def test_hub_dir_mirrors_torch_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        monkeypatch.setattr(hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert _paths.hub_dir() == tmp_path / "th" / "hub"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _paths.hub_dir() == tmp_path / "xdg" / "torch" / "hub"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _paths.hub_dir() == Path(os.path.expanduser("~/.cache/torch/hub"))
    if hub is not None:  # set_dir in this process is seen
        monkeypatch.setattr(hub, "_hub_dir", str(tmp_path / "set"))
        assert _paths.hub_dir() == tmp_path / "set"
        assert Path(hub.get_dir()) == tmp_path / "set"


# --------------------------------------------------------------------------------------------
# doctor --online, against the loopback servers
# --------------------------------------------------------------------------------------------


def test_online_explains_an_untrusted_certificate(
    capsys: pytest.CaptureFixture[str], hub: Path, https_server: HTTPSServer
) -> None:
    code, out, _ = run(capsys, "doctor", "--online", "--url", https_server.base_url())
    assert code == 1
    online = out[out.index("online check") :]
    assert f"TLS handshake with 127.0.0.1:{https_server.port}" in online
    assert "FAILED with Python's default CA certificates: certificate verify failed" in online
    assert "It was issued by: O=trustme" in online
    assert "certifi's bundle does not verify it either" in online
    fixes = [online.index(f"    {i}. ") for i in range(1, 5)]
    assert fixes == sorted(fixes)
    assert "1. certifi" in online
    assert "2. your organisation's CA file" in online
    assert "3. a mirror" in online
    assert "4. last resort" in online


def test_online_ok_with_the_right_ca(
    capsys: pytest.CaptureFixture[str], hub: Path, https_server: HTTPSServer, tls: TLS
) -> None:
    code, out, _ = run(
        capsys, "doctor", "--online", "--url", https_server.base_url(), "--cafile", str(tls.ca_file)
    )
    assert code == 0
    assert f"with the CA file {tls.ca_file}: certificate for" in out
    assert "  OK (TLSv1" in out
    assert "issued by O=trustme" in out


def test_online_ok_through_ssl_cert_file(
    capsys: pytest.CaptureFixture[str],
    hub: Path,
    https_server: HTTPSServer,
    tls: TLS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    code, data = run_json(capsys, "doctor", "--online", "--url", https_server.base_url())
    assert code == 0
    assert data["online"]["ok"] is True
    assert data["online"]["attempts"][0]["with"] == "Python's default CA certificates"


def test_online_defaults_to_the_mirror(
    capsys: pytest.CaptureFixture[str],
    hub: Path,
    https_server: HTTPSServer,
    tls: TLS,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", https_server.base_url() + "/weights")
    code, data = run_json(capsys, "doctor", "--online", "--cafile", str(tls.ca_file))
    assert code == 0
    assert (data["online"]["host"], data["online"]["port"]) == ("127.0.0.1", https_server.port)


def test_online_json_failure(
    capsys: pytest.CaptureFixture[str], hub: Path, untrusted_server: HTTPSServer, tls: TLS
) -> None:
    code, data = run_json(
        capsys,
        "doctor",
        "--online",
        "--url",
        untrusted_server.base_url(),
        "--cafile",
        str(tls.ca_file),
    )
    assert code == 1
    online = data["online"]
    assert online["ok"] is False
    assert [a["ok"] for a in online["attempts"]] == [False, False, True]
    assert online["attempts"][0]["kind"] == "verify"
    assert "does not verify it" in online["fixes"][1]
    assert "insecure" in online["fixes"][-1]


def test_online_connection_refused(capsys: pytest.CaptureFixture[str], hub: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, _ = run(
        capsys, "doctor", "--online", "--url", f"https://127.0.0.1:{port}", "--timeout", "5"
    )
    assert code == 1
    assert "refused" in out
    assert "HTTPS_PROXY" in out
    assert "TVCOMPAT_WEIGHTS_MIRROR" in out


def test_online_with_a_missing_ca_file(
    capsys: pytest.CaptureFixture[str], hub: Path, tmp_path: Path
) -> None:
    code, _, err = run(
        capsys,
        "doctor",
        "--online",
        "--url",
        "https://127.0.0.1:9",
        "--cafile",
        str(tmp_path / "nope.pem"),
    )
    assert code == 2
    assert "no CA file" in err


# --------------------------------------------------------------------------------------------
# download, against the loopback servers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def served_mirror(official_urls: dict[str, str], hub_dir: Path, tvc_settings: None) -> Path:
    """resnet18/mobilenet_v3_large entries named after the served files; a fresh hub."""
    return hub_dir / "checkpoints"


def test_download_through_a_mirror_with_a_ca_file(
    capsys: pytest.CaptureFixture[str],
    served_mirror: Path,
    https_server: HTTPSServer,
    tls: TLS,
    served: dict[str, Served],
) -> None:
    code, out, err = run(
        capsys,
        "download",
        "resnet18",
        "--mirror",
        https_server.base_url(),
        "--cafile",
        str(tls.ca_file),
        "--quiet",
    )
    assert code == 0, err
    item = served["resnet18"]
    assert (served_mirror / item.name).read_bytes() == item.path.read_bytes()
    assert out.startswith(f"ResNet18_Weights.IMAGENET1K_V1: {served_mirror / item.name}")
    assert https_server.completed(item.url_path) == 1
    assert _settings.mirror() is None  # --mirror lasts one command
    code, out, _ = run(
        capsys,
        "download",
        "resnet18",
        "--mirror",
        https_server.base_url(),
        "--cafile",
        str(tls.ca_file),
        "--quiet",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert data["files"][0]["size"] == item.path.stat().st_size
    assert https_server.completed(item.url_path) == 1  # cached: not downloaded again
    assert not list(served_mirror.rglob("*.partial"))


def test_download_the_backbone(
    capsys: pytest.CaptureFixture[str],
    served_mirror: Path,
    https_server: HTTPSServer,
    tls: TLS,
    served: dict[str, Served],
) -> None:
    code, out, err = run(
        capsys,
        "download",
        "ssdlite320_mobilenet_v3_large",
        "--backbone",
        "--mirror",
        https_server.base_url(),
        "--cafile",
        str(tls.ca_file),
        "--quiet",
    )
    assert code == 0, err
    assert out.startswith("MobileNet_V3_Large_Weights.IMAGENET1K_V1")
    assert (served_mirror / served["mobilenet_v3_large"].name).is_file()


def test_download_fails_on_an_untrusted_certificate(
    capsys: pytest.CaptureFixture[str], served_mirror: Path, untrusted_server: HTTPSServer
) -> None:
    code, out, err = run(
        capsys, "download", "resnet18", "--mirror", untrusted_server.base_url(), "--quiet"
    )
    assert code == 1
    assert out == ""
    assert "CERTIFICATE_VERIFY_FAILED" in err
    assert not served_mirror.exists() or not [
        p for p in served_mirror.iterdir() if p.suffix == ".pth"
    ]
    assert not list(served_mirror.rglob("*.partial"))  # the failed download left nothing


def test_download_insecure_as_a_last_resort(
    capsys: pytest.CaptureFixture[str],
    served_mirror: Path,
    untrusted_server: HTTPSServer,
    served: dict[str, Served],
) -> None:
    code, _, err = run(
        capsys,
        "download",
        "resnet18",
        "--mirror",
        untrusted_server.base_url(),
        "--insecure",
        "--quiet",
    )
    assert code == 0, err
    assert "WARNING: --insecure" in err
    assert (served_mirror / served["resnet18"].name).is_file()
    assert not list(served_mirror.rglob("*.partial"))


def test_download_offline_reports_the_missing_file(
    capsys: pytest.CaptureFixture[str], served_mirror: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TVCOMPAT_OFFLINE", "1")
    code, _, err = run(capsys, "download", "resnet18", "--quiet")
    assert code == 1
    assert "offline mode is on" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["download", "resnet5"], "Unknown model"),
        (["download", "vit_h_14"], "no"),
        (["download", "resnet50", "--backbone"], "no backbone weights"),
        (["download", "resnet50", "--weights", "IMAGENET1K_V9"], "IMAGENET1K_V9"),
        (["download", "resnet50", "--quantize"], "not a quantizable model"),
        (["download", "resnet50", "--cafile", "/nonexistent/ca.pem"], "--cafile"),
    ],
)
def test_download_usage_errors(
    capsys: pytest.CaptureFixture[str], tvc_settings: None, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cache_files(hub: Path) -> Path:
    folder = hub / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "resnet18-f37072fd.pth").write_bytes(b"not the real file")  # corrupt
    write_state_dict(folder / "resnet18_fbgemm_16fa66dd.pth")  # no hash in the name
    (folder / "somebody-else.bin").write_bytes(b"?")
    (folder / "resnet50-0676ba61.pth.abc.partial").write_bytes(b"")
    return folder


def test_cache_list(capsys: pytest.CaptureFixture[str], cache_files: Path) -> None:
    code, out, _ = run(capsys, "cache", "list")
    assert code == 0
    assert out.splitlines()[0] == f"{cache_files}: 4 files"
    assert "ResNet18_Weights.IMAGENET1K_V1" in out
    assert "not a torchvision file" in out
    code, data = run_json(capsys, "cache", "list")
    assert code == 0
    assert {f["name"]: f["weights"] for f in data["files"]}["resnet18-f37072fd.pth"] == (
        "ResNet18_Weights.IMAGENET1K_V1"
    )


def test_cache_verify_finds_and_removes_corrupt_files(
    capsys: pytest.CaptureFixture[str], cache_files: Path
) -> None:
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 1
    row = next(line for line in out.splitlines() if "resnet18-f37072fd.pth" in line)
    assert row.split()[:2] == ["CORRUPT", "resnet18-f37072fd.pth"]
    assert "UNCHECKED" in out
    assert "--remove-corrupt" in out
    assert (cache_files / "resnet18-f37072fd.pth").exists()
    code, data = run_json(capsys, "cache", "verify", "--remove-corrupt")
    assert code == 1  # found (and removed) a problem
    status = {f["name"]: (f["status"], f["removed"]) for f in data["files"]}
    assert status == {
        "resnet18-f37072fd.pth": ("corrupt", True),
        "resnet18_fbgemm_16fa66dd.pth": ("unchecked", False),
        "somebody-else.bin": ("unknown", False),
        "resnet50-0676ba61.pth.abc.partial": ("partial", False),
    }
    assert not (cache_files / "resnet18-f37072fd.pth").exists()
    code, out, _ = run(capsys, "cache", "verify")
    assert code == 0
    assert out.rstrip().endswith("no corrupt files")


def test_cache_verify_another_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, data = run_json(capsys, "cache", "verify", "--dir", str(tmp_path / "empty"))
    assert code == 0
    assert data == {"folder": str(tmp_path / "empty"), "ok": True, "files": []}
    code, _, err = run(capsys, "cache", "verify", "--dir", str(tmp_path / "none"))
    assert code == 2  # a missing folder is a usage error, not "0 files" (tests/test_cli_faults.py)
    assert str(tmp_path / "none") in err


# --------------------------------------------------------------------------------------------
# The real command
# --------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "error"}


def test_python_m_tvcompat() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tvcompat", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: tvcompat")
    proc = subprocess.run(
        [sys.executable, "-m", "tvcompat", "weights", "nope"],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert proc.returncode == 2
    assert "Unknown model 'nope'" in proc.stderr


def test_offline_commands_import_neither_torch_nor_torchvision() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from tvcompat.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['doctor']) == 0\n"
        "    assert main(['models']) == 0\n"
        "    assert main(['cache', 'list']) == 0\n"
        "rc = main(['weights', 'resnet50', '--json'])\n"
        "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\n"
        "sys.stderr.write(json.dumps(heavy))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr) == []
    data = json.loads(proc.stdout)
    assert [r["name"] for r in data["weights"]] == [
        "ResNet50_Weights.IMAGENET1K_V1",
        "ResNet50_Weights.IMAGENET1K_V2",
    ]
