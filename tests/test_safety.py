"""A weights file never runs code: poisoned files in the hub cache are refused, on every path
that loads weights and every torch, before anything is unpickled; real weights files (float
and quantized, zip and legacy format) load as torch loads them."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

import tvcompat
import tvcompat.legacy
from tvcompat import _catalog
from tvcompat._net import safety
from tvcompat._versions import capabilities
from tvcompat._weights import _stand_in
from tvcompat.errors import TvcompatError, UnsafeWeightsFileError

RESNET18 = "resnet18-f37072fd.pth"  # the official file name of ResNet18_Weights.IMAGENET1K_V1


class Payload:
    """Unpickling this creates the folder ``marker``: evidence that the file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def _poisoned(kind: str, path: Path, marker: Path) -> Path:
    state = {"conv1.weight": torch.zeros(1), "evil": Payload(marker)}
    if kind == "zip":  # torch.save's format since 1.6 (pickle protocol 2: GLOBAL)
        torch.save(state, path)
    elif kind == "legacy":  # the stream of pickles torch wrote before 1.6
        torch.save(state, path, _use_new_zipfile_serialization=False)
    elif kind == "protocol4":  # a bare pickle: torch's legacy loader unpickles it first
        path.write_bytes(pickle.dumps(Payload(marker), protocol=4))  # STACK_GLOBAL + memo
    elif kind == "protocol0":
        path.write_bytes(pickle.dumps(Payload(marker), protocol=0))
    elif kind == "second-pickle-in-zip":  # the payload in another pickle of the archive
        torch.save({"conv1.weight": torch.zeros(1)}, path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("archive/extra.pkl", pickle.dumps(Payload(marker), protocol=2))
    return path


KINDS = ["zip", "legacy", "protocol4", "protocol0", "second-pickle-in-zip"]


@pytest.fixture
def checkpoints(hub_dir: Path) -> Path:
    folder = hub_dir / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_a_poisoned_cached_file_never_runs_through_a_builder(
    kind: str, checkpoints: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    _poisoned(kind, checkpoints / RESNET18, marker)
    with pytest.raises(UnsafeWeightsFileError) as info:
        tvcompat.resnet18(pretrained=True)
    assert not marker.exists()
    message = str(info.value)
    assert RESNET18 in message
    assert "tvcompat cache verify --remove-corrupt" in message
    assert isinstance(info.value, TvcompatError)
    assert isinstance(info.value, pickle.UnpicklingError)


def test_the_payload_does_run_when_torch_loads_the_file_itself(
    checkpoints: Path, tmp_path: Path
) -> None:
    """The test's payload is real: torchvision's own loader (weights_only=False) runs it."""
    marker = tmp_path / "ran"
    path = _poisoned("zip", checkpoints / RESNET18, marker)
    kwargs = {"weights_only": False} if capabilities().torch_load_weights_only else {}
    torch.load(str(path), **kwargs)
    assert marker.is_dir()


@pytest.mark.parametrize(
    "load",
    [
        pytest.param(
            lambda: _stand_in("ResNet18_Weights").IMAGENET1K_V1.get_state_dict(),  # noqa: PLW0108
            id="stand-in",
        ),
        pytest.param(
            lambda: tvcompat.legacy.load_state_dict_from_url(
                "https://download.pytorch.org/models/" + RESNET18
            ),
            id="legacy.load_state_dict_from_url",
        ),
        pytest.param(
            lambda: tvcompat.legacy.load_state_dict_from_url(
                "https://example.invalid/weights/" + RESNET18,
                model_dir=torch.hub.get_dir() + "/checkpoints",
            ),
            id="legacy.load_state_dict_from_url(model_dir=)",
        ),
        pytest.param(lambda: tvcompat.get_model("resnet18", weights="DEFAULT"), id="get_model"),
    ],
)
def test_every_loading_path_refuses_it(load: Any, checkpoints: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _poisoned("zip", checkpoints / RESNET18, marker)
    if not capabilities().weights_api:  # DEFAULT is V1 there too: the same file
        assert _catalog.enum("ResNet18_Weights") is not None
    with pytest.raises(UnsafeWeightsFileError, match=RESNET18):
        load()
    assert not marker.exists()


def test_legacy_loader_refuses_weights_only_false() -> None:
    with pytest.raises(TypeError, match=r"weights_only=False\)"):
        tvcompat.legacy.load_state_dict_from_url("https://x/y-0123abcd.pth", weights_only=False)


def test_verify_cache_reports_and_removes_a_poisoned_file(
    checkpoints: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    # the name's hash prefix cannot match here, so use a name that carries none
    path = _poisoned("zip", checkpoints / "resnet18_fbgemm_16fa66dd.pth", marker)
    (found,) = tvcompat.verify_cache()
    assert found.status == "corrupt"
    assert "references posix.mkdir" in found.detail or "references os.mkdir" in found.detail
    (found,) = tvcompat.verify_cache(remove_corrupt=True)
    assert found.removed
    assert not path.exists()
    assert not marker.exists()


# --------------------------------------------------------------------------------------------
# Real weights files pass, and load exactly as torch.load loads them
# --------------------------------------------------------------------------------------------


def _quantized_model() -> torch.nn.Module:
    from torchvision.models import quantization

    torch.manual_seed(0)
    kwargs = {"weights": None} if capabilities().weights_api else {"pretrained": False}
    with warnings.catch_warnings():  # torch.ao.quantization's deprecations (torch >= 2.10)
        warnings.simplefilter("ignore")
        return quantization.mobilenet_v2(quantize=True, **kwargs)  # type: ignore[no-any-return]


# torch >= 2.10 warns whenever it creates a quantized tensor, also when loading one, and
# torch 2.x's legacy format goes through the deprecated TypedStorage
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning")
@pytest.mark.parametrize("legacy_format", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("model", ["resnet18", "quantized_mobilenet_v2"])
def test_real_weights_files_load_unchanged(model: str, legacy_format: bool, tmp_path: Path) -> None:
    if model == "resnet18":
        torch.manual_seed(0)
        state = torchvision.models.resnet18().state_dict()
    else:
        state = _quantized_model().state_dict()
    path = tmp_path / "weights.pth"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy_format)
    safety.check_file(path)
    loaded = safety.load_checked(path)
    assert list(loaded) == list(state)
    for key, value in state.items():
        _assert_same(loaded[key], value, key)


def _assert_same(got: Any, value: Any, key: str) -> None:
    if isinstance(value, torch.Tensor):
        assert isinstance(got, torch.Tensor), key
        assert got.is_quantized == value.is_quantized, key
        if value.is_quantized:
            assert got.qscheme() == value.qscheme(), key
            assert torch.equal(got.int_repr(), value.int_repr()), key
            assert torch.equal(got.dequantize(), value.dequantize()), key
        else:
            assert torch.equal(got, value), key
    elif isinstance(value, (tuple, list)):
        assert type(got) is type(value), key
        assert len(got) == len(value), key
        for a, b in zip(got, value):
            _assert_same(a, b, key)
    else:
        assert got == value, key


# --------------------------------------------------------------------------------------------
# The checker itself
# --------------------------------------------------------------------------------------------


def _check_bytes(data: bytes) -> None:
    safety.check_stream(io.BytesIO(data), "f.pth")


def test_extension_registry_opcodes_are_refused() -> None:
    import copyreg

    module = os.mkdir.__module__  # posix, or nt
    copyreg.add_extension(module, "mkdir", 0x7E)
    try:
        data = pickle.dumps(os.mkdir, protocol=2)
    finally:
        copyreg.remove_extension(module, "mkdir", 0x7E)
    assert b"\x82" in data  # EXT1
    with pytest.raises(UnsafeWeightsFileError, match="EXT1"):
        _check_bytes(data)


def _data_pkl(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("model", ["resnet18", "quantized_mobilenet_v2"])
def test_the_fast_check_proves_real_files_clean(model: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    built = torchvision.models.resnet18() if model == "resnet18" else _quantized_model()
    path = tmp_path / "w.pth"
    torch.save(built.state_dict(), path)
    data = _data_pkl(path)
    assert safety._proven_clean(data, "w.pth")  # the opcode scan is not needed for them
    safety._scan_pickle(io.BytesIO(data), "w.pth")  # (and agrees)


def _refusal(check: Any) -> str | None:
    try:
        check()
    except UnsafeWeightsFileError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("kind", ["zip", "second-pickle-in-zip"])
def test_the_fast_check_refuses_what_the_scan_refuses(kind: str, tmp_path: Path) -> None:
    path = _poisoned(kind, tmp_path / "w.pth", tmp_path / "ran")
    with zipfile.ZipFile(path) as archive:
        pickles = [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
    refused = 0
    for data in pickles:
        scanned = _refusal(lambda d=data: safety._scan_pickle(io.BytesIO(d), "w.pth"))
        if scanned is not None:
            assert _refusal(lambda d=data: safety._proven_clean(d, "w.pth")) == scanned
            refused += 1
    assert refused == 1
    assert not (tmp_path / "ran").exists()


def test_a_registered_extension_cannot_pass_the_fast_check(tmp_path: Path) -> None:
    """The C unpickler resolves an EXT opcode from copyreg's cache without ``find_class``:
    while any extension is registered or cached the fast check proves nothing, and the opcode
    scan refuses the file (in torch's own zip format here)."""
    import copyreg

    module = os.mkdir.__module__
    marker = tmp_path / "ran"
    copyreg.add_extension(module, "mkdir", 0x7E)
    try:
        pickle.loads(pickle.dumps(os.mkdir, protocol=2))  # the code is now cached as well
        path = tmp_path / "w.pth"
        torch.save({"conv1.weight": torch.zeros(1), "evil": Payload(marker)}, path)
        data = _data_pkl(path)
        assert b"\x82\x7e" in data  # EXT1 0x7E: os.mkdir, by its extension code
        assert not safety._proven_clean(data, "w.pth")
        with pytest.raises(UnsafeWeightsFileError, match="EXT1"):
            safety.check_file(path)
    finally:
        copyreg.remove_extension(module, "mkdir", 0x7E)
    assert not marker.exists()


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    for data in (b"", b"\x80\x02}q\x00", b"not a pickle at all"):
        with pytest.raises(UnsafeWeightsFileError):
            _check_bytes(data)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("model.pth", b"x")  # torch.hub's single-file zip: not a weights file
    with pytest.raises(UnsafeWeightsFileError, match=r"without torch's data\.pkl"):
        _check_bytes(archive.getvalue())
    tar_path = tmp_path / "old.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(__file__, arcname="pickle")
    with pytest.raises(UnsafeWeightsFileError, match="tar archive"):
        safety.check_file(tar_path)


def test_duplicate_archive_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"a": torch.zeros(1)}, path)
    names = zipfile.ZipFile(path).namelist()
    data_pkl = next(n for n in names if n.endswith("data.pkl"))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as z:
        z.writestr(data_pkl, pickle.dumps(Payload(tmp_path / "ran"), protocol=2))
    with pytest.raises(UnsafeWeightsFileError, match="two entries"):
        safety.check_file(path)
