"""ensure_cached / verify_cache against a real HTTPS server on 127.0.0.1: the cache contract,
hash and length checks, failures that leave nothing behind, timeout, offline mode, mirrors,
one download per file across threads and processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import tvcompat
from _files import write_state_dict
from tvcompat import _catalog, _settings
from tvcompat._net import fetch as _fetch
from tvcompat._net import hashes as _hashes
from tvcompat._net import paths as _paths
from tvcompat.downloads import (
    KNOWN_WRONG_NAMES,
    cafile_downloads,
    ensure_cached,
    insecure_downloads,
    set_download_timeout,
    set_mirror,
    set_offline,
    verify_cache,
)
from tvcompat.errors import DownloadError, TvcompatWarning

if TYPE_CHECKING:
    from conftest import TLS, Served
    from https_server import HTTPSServer

pytestmark = pytest.mark.usefixtures("hub_dir", "tvc_settings", "trust_test_ca")


def load(path: Path) -> dict[str, Any]:
    import torch

    from tvcompat._versions import capabilities

    # Our own files: say weights_only explicitly where torch has it (2.4/2.5 warn when it is
    # left out; weights_only=True warns about TypedStorage on 2.0/2.1).
    explicit = {"weights_only": False} if capabilities().torch_load_weights_only else {}
    state: dict[str, Any] = torch.load(path, **explicit)
    return state


def leftovers(folder: Path) -> list[str]:
    """Files in the checkpoints folder (lock files aside)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != _paths.LOCK_DIR)


@pytest.fixture
def checkpoints(hub_dir: Path) -> Path:
    return hub_dir / "checkpoints"


@pytest.fixture
def blob(served: dict[str, Served]) -> Served:
    return served["blob"]


def serve_as(server: HTTPSServer, name: str, source: Path) -> str:
    """Serve ``source`` under ``models/<name>`` too; return the URL."""
    return server.add(f"models/{name}", source)


# --------------------------------------------------------------------------------------------
# The cache contract
# --------------------------------------------------------------------------------------------


def test_file_lands_where_torch_hub_looks_and_loads_without_network(
    https_server: HTTPSServer, served: dict[str, Served], checkpoints: Path
) -> None:
    import torch
    import torch.hub

    item = served["resnet18"]
    url = https_server.url(item.url_path)
    path = ensure_cached(url, progress=False)
    assert path == Path(torch.hub.get_dir()) / "checkpoints" / item.name
    assert path.read_bytes() == item.path.read_bytes()
    assert ensure_cached(url, progress=False) == path  # cached: no second request
    state = torch.hub.load_state_dict_from_url(url, progress=False, check_hash=True)
    expected = load(item.path)
    assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert https_server.requests(item.url_path) == 1
    assert leftovers(checkpoints) == [item.name]


def test_progress_bar_and_announcement_on_stderr(
    https_server: HTTPSServer, blob: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_cached(https_server.url(blob.url_path))
    err = capsys.readouterr().err
    assert f'Downloading: "{https_server.url(blob.url_path)}"' in err
    # torch.hub's bar: tqdm's, or torch's own percentages where tqdm is not installed
    assert "1.00M" in err or "100.0%" in err


def test_tampered_file_is_rejected_inside_insecure_downloads_too(
    https_server: HTTPSServer, blob: Served, checkpoints: Path
) -> None:
    https_server.fail(blob.url_path, "tamper")
    url = https_server.url(blob.url_path)
    with pytest.raises(DownloadError, match=f'invalid hash value \\(expected "{blob.sha256[:8]}"'):
        ensure_cached(url, progress=False)
    refused = pytest.raises(DownloadError, match="invalid hash value")
    with pytest.warns(TvcompatWarning), insecure_downloads(), refused:
        ensure_cached(url, progress=False)
    assert https_server.completed(blob.url_path) == 2  # the whole (wrong) body was served
    assert leftovers(checkpoints) == []


@pytest.mark.parametrize("failure", ["reset", "truncate"])
@pytest.mark.parametrize("hashed_name", [True, False], ids=["hashed-name", "no-hash-name"])
def test_broken_transfer_leaves_nothing(
    https_server: HTTPSServer,
    blob: Served,
    checkpoints: Path,
    failure: Any,
    hashed_name: bool,
) -> None:
    # A name without a "-<hash>" segment (like resnet18_fbgemm_16fa66dd.pth) has no hash to
    # catch a short body: the length check must.
    name = blob.name if hashed_name else f"blob_fbgemm_{blob.sha256[:8]}.pth"
    url = serve_as(https_server, name, blob.path)
    https_server.fail(f"models/{name}", failure)
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        ensure_cached(url, progress=False)
    assert time.monotonic() - started < 10
    assert "incomplete download" in str(info.value) or "broke" in str(info.value)
    assert leftovers(checkpoints) == []
    https_server.fail(f"models/{name}", None)
    assert ensure_cached(url, progress=False).read_bytes() == blob.path.read_bytes()


def test_not_found_is_a_clear_error(https_server: HTTPSServer, checkpoints: Path) -> None:
    url = https_server.url("models/nothing-0123abcd.pth")
    with pytest.raises(DownloadError, match=f"HTTP 404 Not Found for {url}"):
        ensure_cached(url, progress=False)
    assert leftovers(checkpoints) == []


def test_server_that_never_answers_fails_within_the_timeout(
    https_server: HTTPSServer, blob: Served, checkpoints: Path
) -> None:
    https_server.fail(blob.url_path, "hang")
    set_download_timeout(1.0)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"no data from 127\.0\.0\.1 for 1 s") as info:
        ensure_cached(https_server.url(blob.url_path), progress=False)
    assert time.monotonic() - started < 5
    assert "TVCOMPAT_DOWNLOAD_TIMEOUT" in str(info.value)
    assert leftovers(checkpoints) == []


def test_timeout_from_the_environment(
    https_server: HTTPSServer, blob: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    https_server.fail(blob.url_path, "hang")
    monkeypatch.setenv("TVCOMPAT_DOWNLOAD_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(DownloadError, match="env:TVCOMPAT_DOWNLOAD_TIMEOUT"):
        ensure_cached(https_server.url(blob.url_path), progress=False)
    assert time.monotonic() - started < 5


def test_body_that_stalls_fails_within_the_timeout(
    https_server: HTTPSServer, served: dict[str, Served], checkpoints: Path
) -> None:
    item = served["mobilenet_v3_large"]
    https_server.slow(item.url_path, 3.0)  # headers at once, then 3 s between chunks
    set_download_timeout(0.5)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="no data from"):
        ensure_cached(https_server.url(item.url_path), progress=False)
    assert time.monotonic() - started < 5
    assert leftovers(checkpoints) == []


# --------------------------------------------------------------------------------------------
# Hash rules
# --------------------------------------------------------------------------------------------


def test_known_wrong_name_is_accepted_with_its_real_hash(
    https_server: HTTPSServer, blob: Served, monkeypatch: pytest.MonkeyPatch, checkpoints: Path
) -> None:
    # Real wrong-named files cannot exist here; give the served blob a wrong name the same way.
    name = "blobnet_b0_rwightman-3dd342df.pth"
    monkeypatch.setitem(KNOWN_WRONG_NAMES, name, blob.sha256[:8])
    url = serve_as(https_server, name, blob.path)
    assert ensure_cached(url, progress=False).read_bytes() == blob.path.read_bytes()
    (checkpoints / name).unlink()
    https_server.fail(f"models/{name}", "tamper")
    with pytest.raises(DownloadError, match=f'expected "{blob.sha256[:8]}" or "3dd342df"'):
        ensure_cached(url, progress=False)
    assert leftovers(checkpoints) == []


def test_hash_expectations() -> None:
    wrong = _hashes.expectation("efficientnet_b0_rwightman-3dd342df.pth")
    assert wrong.prefixes == ("7f5810bc", "3dd342df")
    assert wrong.accepts("7f5810bc96def8f7552d5b7e68d53c4786f81167d28291b21c0d90e1fca14934")
    assert "pytorch/vision#8036" in wrong.basis
    assert _hashes.expectation("resnet18-f37072fd.pth").prefixes == ("f37072fd",)
    none = _hashes.expectation("resnet18_fbgemm_16fa66dd.pth")
    assert not none.checkable
    assert "only the length" in none.basis
    assert not _hashes.expectation("foo-.pth").checkable  # an empty prefix checks nothing
    assert all(len(v) == 8 and int(v, 16) >= 0 for v in KNOWN_WRONG_NAMES.values())


def _corrected(name: str) -> str:
    return f"{name.rsplit('-', 1)[0]}-{KNOWN_WRONG_NAMES[name]}.pth"


def test_known_wrong_names_are_real_torchvision_files() -> None:
    """Each wrong name, and its corrected name, is a file some torchvision release loads
    (tvcompat's catalog of every release)."""
    index = _catalog.filename_index()
    for name in KNOWN_WRONG_NAMES:
        assert index[name] == index[_corrected(name)]


def test_installed_torchvision_uses_a_wrong_name_or_its_correction() -> None:
    from tvcompat._versions import capabilities

    if not capabilities().weights_api:
        pytest.skip("torchvision < 0.13 names files in model_urls dicts: see the catalog test")
    import enum

    from torchvision import models

    names = set()
    for module in (models, models.detection, models.quantization, models.video):
        for attr in dir(module):
            value = getattr(module, attr)
            if isinstance(value, type) and issubclass(value, enum.Enum) and attr.endswith("s"):
                names.update(m.url.rsplit("/", 1)[1] for m in value if hasattr(m, "url"))
    for name in KNOWN_WRONG_NAMES:
        assert (name in names) != (_corrected(name) in names)


# --------------------------------------------------------------------------------------------
# Offline mode
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["api", "env"])
def test_offline_missing_file_fails_at_once_with_instructions(
    https_server: HTTPSServer,
    blob: Served,
    checkpoints: Path,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if how == "api":
        set_offline(True)
    else:
        monkeypatch.setenv("TVCOMPAT_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        ensure_cached(https_server.url(blob.url_path), progress=False)
    assert time.monotonic() - started < 1
    message = str(info.value)
    assert blob.name in message
    assert str(checkpoints / blob.name) in message
    assert "tvcompat download" in message
    assert "tvcompat.prefetch(" in message
    assert ("env:TVCOMPAT_OFFLINE" if how == "env" else "(api)") in message
    assert https_server.requests(blob.url_path) == 0


def test_offline_cached_file_is_returned(https_server: HTTPSServer, blob: Served) -> None:
    path = ensure_cached(https_server.url(blob.url_path), progress=False)
    set_offline(True)
    assert ensure_cached(https_server.url(blob.url_path), progress=False) == path


def test_offline_still_uses_a_local_folder_mirror(blob: Served, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / blob.name).write_bytes(blob.path.read_bytes())
    set_offline(True)
    set_mirror(folder)
    path = ensure_cached(blob.official_url, progress=False)
    assert path.read_bytes() == blob.path.read_bytes()
    set_mirror("https://127.0.0.1:9/")  # a URL mirror is network: refused at once
    path.unlink()
    with pytest.raises(DownloadError, match="offline mode does not reach"):
        ensure_cached(blob.official_url, progress=False)


# --------------------------------------------------------------------------------------------
# Mirrors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["api", "env"])
def test_url_mirror_replaces_the_official_host(
    https_server: HTTPSServer, blob: Served, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "api":
        set_mirror(https_server.base_url() + "/")
    else:
        monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", https_server.base_url())
    path = ensure_cached(blob.official_url, progress=False)
    assert path.name == blob.name
    assert path.read_bytes() == blob.path.read_bytes()
    assert https_server.requests(blob.url_path) == 1


def test_url_mirror_with_a_flat_layout(https_server: HTTPSServer, blob: Served) -> None:
    https_server.add(f"flat/{blob.name}", blob.path)
    set_mirror(https_server.url("flat"))
    assert ensure_cached(blob.official_url, progress=False).read_bytes() == blob.path.read_bytes()
    assert https_server.requests(f"flat/models/{blob.name}") == 1  # tried first: 404
    assert https_server.requests(f"flat/{blob.name}") == 1


def test_mirror_without_the_file_names_what_it_tried(
    https_server: HTTPSServer, checkpoints: Path
) -> None:
    set_mirror(https_server.url("empty"))
    with pytest.raises(DownloadError, match=re.escape("has no absent-0123abcd.pth")) as info:
        ensure_cached("https://download.pytorch.org/models/absent-0123abcd.pth", progress=False)
    assert "/empty/models/absent-0123abcd.pth" in str(info.value)
    assert "/empty/absent-0123abcd.pth" in str(info.value)
    assert leftovers(checkpoints) == []


def test_mirror_tampered_file_rejected(https_server: HTTPSServer, blob: Served) -> None:
    set_mirror(https_server.base_url())
    https_server.fail(blob.url_path, "tamper")
    with pytest.raises(DownloadError, match="invalid hash value"):
        ensure_cached(blob.official_url, progress=False)


@pytest.mark.parametrize("layout", ["nested", "flat", "file-url"])
def test_local_folder_mirror(blob: Served, tmp_path: Path, layout: str) -> None:
    folder = tmp_path / "mirror"
    target = folder / "models" / blob.name if layout == "nested" else folder / blob.name
    target.parent.mkdir(parents=True)
    target.write_bytes(blob.path.read_bytes())
    set_mirror(folder.as_uri() if layout == "file-url" else str(folder))
    assert ensure_cached(blob.official_url, progress=False).read_bytes() == blob.path.read_bytes()


def test_local_mirror_with_a_corrupt_file(blob: Served, tmp_path: Path, checkpoints: Path) -> None:
    (tmp_path / blob.name).write_bytes(b"not the weights")
    set_mirror(tmp_path)
    with pytest.raises(DownloadError, match="invalid hash value"):
        ensure_cached(blob.official_url, progress=False)
    assert leftovers(checkpoints) == []


def test_mirror_leaves_other_hosts_alone(https_server: HTTPSServer, blob: Served) -> None:
    set_mirror("https://127.0.0.1:9/unused")
    url = https_server.url(blob.url_path)
    assert ensure_cached(url, progress=False).read_bytes() == blob.path.read_bytes()


def test_sources() -> None:
    official = "https://download.pytorch.org/models/quantized/x_fbgemm_0123abcd.pth"
    assert [str(s) for s in _fetch.sources(official, "https://m.example/w/")] == [
        "https://m.example/w/models/quantized/x_fbgemm_0123abcd.pth",
        "https://m.example/w/x_fbgemm_0123abcd.pth",
    ]
    assert [str(s) for s in _fetch.sources(official, None)] == [official]


# --------------------------------------------------------------------------------------------
# One download per file
# --------------------------------------------------------------------------------------------


def test_threads_asking_for_the_same_file_download_it_once(
    https_server: HTTPSServer, served: dict[str, Served], tls: TLS
) -> None:
    item = served["blob"]
    https_server.slow(item.url_path, 0.1)
    url = https_server.url(item.url_path)
    results: list[Path | BaseException] = []

    def work() -> None:
        try:
            with cafile_downloads(cafile=tls.ca_file):
                results.append(ensure_cached(url, progress=False))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert isinstance(results[0], Path)
    assert https_server.requests(item.url_path) == 1


_CHILD = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")  # e.g. old torch with a new NumPy
    import torch, torch.distributed as dist, torch.hub
    from tvcompat.downloads import cafile_downloads, ensure_cached

    rank, port, hub, url, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    torch.hub.set_dir(hub)
    dist.barrier()
    with cafile_downloads(cafile=ca):
        path = ensure_cached(url, progress=True)
    dist.barrier()
    print("PATH", path)
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_in_a_gloo_group_download_once(
    https_server: HTTPSServer, served: dict[str, Served], tls: TLS, hub_dir: Path
) -> None:
    item = served["blob"]
    # 4 chunks of 256 KiB, 0.5 s apart: ~2 s of transfer, so that the two overlap even on a
    # busy machine (the test checks that they did).
    https_server.slow(item.url_path, 0.5)
    url = https_server.url(item.url_path)
    src = str(Path(tvcompat.__file__).parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "GLOO_SOCKET_IFNAME": "lo",
    }
    port = str(_free_port())
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(rank), port, str(hub_dir), url, str(tls.ca_file)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    report = "\n".join(f"rank {r}: {out}{err}" for r, (out, err) in enumerate(outputs))
    for child, (out, _) in zip(children, outputs):
        assert child.returncode == 0, report
        assert f"PATH {hub_dir / 'checkpoints' / item.name}" in out, report
    assert https_server.requests(item.url_path) == 1, report
    waited = [err for _, err in outputs if "Waiting for another process to download" in err]
    assert len(waited) == 1, report
    assert (hub_dir / "checkpoints" / item.name).read_bytes() == item.path.read_bytes()


# --------------------------------------------------------------------------------------------
# The weights torchvision loads, from the cache ensure_cached filled
# --------------------------------------------------------------------------------------------


def _torchvision_builds(stem: str) -> Any:
    import torchvision

    from tvcompat._versions import capabilities

    models = torchvision.models
    new = capabilities().weights_api
    if stem == "resnet18":
        return (
            models.resnet18(weights=models.ResNet18_Weights.IMAGENET1K_V1)
            if new
            else models.resnet18(pretrained=True)
        )
    build = models.detection.fasterrcnn_mobilenet_v3_large_320_fpn
    if new:  # a detection model loading its backbone's weights
        return build(weights_backbone=models.MobileNet_V3_Large_Weights.IMAGENET1K_V1)
    return build(pretrained_backbone=True)


def assert_backbone_loaded(model: Any, expected: dict[str, Any]) -> None:
    """The FPN backbone's ``body`` holds mobilenet_v3_large's ``features`` under the same
    names: every one of them must be the served tensor."""
    import torch

    state = model.state_dict()
    keys = [k for k in expected if k.startswith("features.") and "num_batches" not in k]
    body = {k: "backbone.body." + k.split(".", 1)[1] for k in keys}
    present = [k for k in keys if body[k] in state]
    assert len(present) > len(keys) // 2  # the body stops at the last returned stage
    assert all(torch.equal(state[body[k]], expected[k]) for k in present)


@pytest.mark.parametrize("stem", ["resnet18", "backbone"])
def test_torchvision_loads_the_mirrored_file_from_the_cache(
    https_server: HTTPSServer,
    served: dict[str, Served],
    official_urls: dict[str, str],
    stem: str,
) -> None:
    import torch

    key = "mobilenet_v3_large" if stem == "backbone" else stem
    item = served[key]
    set_mirror(https_server.base_url())
    ensure_cached(official_urls[key], progress=False)
    model = _torchvision_builds(stem)
    expected = load(item.path)
    if stem == "backbone":
        assert_backbone_loaded(model, expected)
    else:
        state = model.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    assert https_server.requests(item.url_path) == 1


# --------------------------------------------------------------------------------------------
# verify_cache
# --------------------------------------------------------------------------------------------


def test_verify_cache_reports_and_removes_corrupt_files(
    served: dict[str, Served], checkpoints: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoints.mkdir(parents=True)
    blob = served["resnet18"]  # a real state dict, named by its hash
    good = checkpoints / blob.name
    good.write_bytes(blob.path.read_bytes())
    junk = checkpoints / served["blob"].name  # the right hash, but no weights file
    junk.write_bytes(served["blob"].path.read_bytes())
    bad = checkpoints / "resnet18-f37072fd.pth"
    bad.write_bytes(b"truncated")
    quantized = write_state_dict(checkpoints / "resnet18_fbgemm_16fa66dd.pth")
    other = checkpoints / "someones-model-abc.pt"
    other.write_bytes(b"not torchvision's")
    partial = checkpoints / f"{blob.name}.0123.partial"
    partial.write_bytes(b"half")
    index = {
        blob.name: ("Blob_Weights", "V1"),
        junk.name: ("Junk_Weights", "V1"),
        bad.name: ("ResNet18_Weights", "IMAGENET1K_V1"),
        quantized.name: ("ResNet18_QuantizedWeights", "IMAGENET1K_FBGEMM_V1"),
    }
    monkeypatch.setattr(_catalog, "filename_index", lambda: index)

    report = {f.path.name: f for f in verify_cache()}
    assert {name: f.status for name, f in report.items()} == {
        blob.name: "ok",
        junk.name: "corrupt",
        bad.name: "corrupt",
        quantized.name: "unchecked",
        other.name: "unknown",
        partial.name: "partial",
    }
    assert report[bad.name].weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert report[bad.name].size == len(b"truncated")
    assert "does not start with" in report[bad.name].detail
    assert not report[bad.name].removed
    assert bad.exists()
    assert "malformed" in report[junk.name].detail

    report = {f.path.name: f for f in verify_cache(remove_corrupt=True)}
    assert report[bad.name].removed
    assert not bad.exists()
    assert good.exists()
    assert quantized.exists()
    assert other.exists()
    assert partial.exists()


def test_verify_cache_of_a_missing_folder(tmp_path: Path) -> None:
    assert verify_cache(tmp_path / "nothing") == []


def test_settings_are_read_through_the_settings_module() -> None:
    set_mirror("/somewhere")
    assert _settings.mirror() == "/somewhere"
