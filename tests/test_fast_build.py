"""The fast path of pretrained builds builds exactly torchvision's model.

For every builder with pretrained weights on the installed release, the weights file is
generated under the entry's official file name in a fresh hub cache: the state dict of the
model the builder is about to load into (captured there, its initialisation skipped; fetch
and load replaced: the official bytes cannot exist here), its floating-point tensors given a
cheap distinct fill, saved by torch. The fast build and the plain build
(``set_fast_pretrained(False)``: torchvision's path) load that real file and are compared on
everything (see ``assert_same_model``). Models over ``FULL_LIMIT`` parameters are compared
structurally, for the suite's time: the fast model is compared with a plain skeleton
(initialisation zeroed, no load) but for values, and with the file bitwise.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import posixpath
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

import tvcompat
from tvcompat import _catalog
from tvcompat._models import fastload
from tvcompat._models import registry as _registry
from tvcompat._models.resolve import resolve as resolve_key
from tvcompat._net import safety
from tvcompat._versions import capabilities
from tvcompat.errors import NoPretrainedWeightsError, TorchvisionTooOldError

FULL_LIMIT = 15_000_000

pytestmark = [
    pytest.mark.usefixtures("hub_dir", "_fast_setting"),
    # warnings torch/torchvision emit while building (see test_legacy_equivalence.py)
    pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Note that order of the arguments:UserWarning"),
    pytest.mark.filterwarnings("ignore:The default weight initialization:FutureWarning"),
    pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning"),
    pytest.mark.filterwarnings("ignore:TypedStorage is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:must run observer before calling:UserWarning"),
    pytest.mark.filterwarnings("ignore:Please use quant_min and quant_max:UserWarning"),
    # torch 1.13 on torchvision 0.14's maxvit (torchvision's own builder warns the same)
    pytest.mark.filterwarnings("ignore:torch.meshgrid. in an upcoming release:UserWarning"),
]


@pytest.fixture
def _fast_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TVCOMPAT_FAST_PRETRAINED", raising=False)
    tvcompat.set_fast_pretrained(None)
    yield
    tvcompat.set_fast_pretrained(None)


#: two small quantized builders: their ``quantize=True`` builds (torchvision's initialisation
#: and calibration, packing deferred: tvcompat._models.packing) in the sample; the full sweep
#: builds every quantized builder's that way
QUANTIZED_CASES = ("quantization.mobilenet_v2", "quantization.shufflenet_v2_x0_5")


def _forms(key: str) -> list[dict[str, Any]]:
    forms: list[dict[str, Any]] = [{"pretrained": True}, {"weights": "DEFAULT"}]
    if key.startswith("quantization."):
        forms.append({"pretrained": True, "quantize": True})
    return forms


def _cases() -> list[Any]:
    cases = []
    for key in _catalog.builder_keys():
        info = _catalog.builder(key)
        if info is None or info["family"] == "backbone_utils":
            continue
        if not _catalog.builder_available(info):
            continue
        # one case per architecture the builder's weights make: a second entry of the same
        # size (IMAGENET1K_V2 after V1) only loads other values through the same path
        seen: set[tuple[Any, ...]] = set()
        for kwargs in _forms(key):
            try:
                res = resolve_key(key, (), dict(kwargs))
            except (NoPretrainedWeightsError, TorchvisionTooOldError, ValueError):
                continue
            if res.weights is None:
                continue
            meta = res.weights.record["meta"]
            shape = (meta.get("num_params"), str(meta.get("min_size")), kwargs.get("quantize"))
            if shape in seen:
                continue
            seen.add(shape)
            size = int(meta.get("num_params") or 0)
            kind = "full" if 0 < size <= FULL_LIMIT else "structure"
            label = ",".join(f"{k}={v}" for k, v in kwargs.items())
            cases.append(pytest.param(key, kwargs, kind, id=f"{key}[{label}]"))
    return cases


#: what ``TVCOMPAT_TEST_FAST_BUILD=sample`` builds (noxfile.py sets it on the pairs that
#: do not build every builder, for the CI's time): one or two builders of each family, with
#: the fast path's special cases (transform_input, aux heads, frozen batch norm, quantized)
SAMPLE = (
    "resnet18",
    "mobilenet_v2",
    "googlenet",
    "inception_v3",
    "densenet121",
    "efficientnet_b0",
    "vit_b_16",
    "detection.fasterrcnn_mobilenet_v3_large_320_fpn",
    "detection.ssdlite320_mobilenet_v3_large",
    "segmentation.lraspp_mobilenet_v3_large",
    "video.r3d_18",
    "optical_flow.raft_small",
    *QUANTIZED_CASES,
)
_SWEEP = os.environ.get("TVCOMPAT_TEST_FAST_BUILD", "all")
if _SWEEP not in ("all", "sample"):
    raise pytest.UsageError(f"TVCOMPAT_TEST_FAST_BUILD={_SWEEP!r}: use 'all' or 'sample'")
CASES = [c for c in _cases() if _SWEEP == "all" or c.values[0] in SAMPLE]


def _no_file(*args: Any, **kwargs: Any) -> Any:
    return {}


@contextlib.contextmanager
def _capturing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Within the block, builds initialise to zeros and nothing is fetched, read or loaded:
    the state dict a model has when its builder first loads weights is recorded in the
    list yielded, and the build goes on (its model: the plain path's skeleton)."""
    from tvcompat._net import cache

    with monkeypatch.context() as mp:
        mp.setattr(cache, "ensure_checked", lambda url, **kw: Path(url))
        mp.setattr(cache, "load_state_dict", _no_file)
        mp.setattr(torch.hub, "load_state_dict_from_url", _no_file)
        modules = [torchvision.models]
        for info in pkgutil.walk_packages(torchvision.models.__path__, "torchvision.models."):
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                modules.append(importlib.import_module(info.name))
        for module in modules:
            for attr in ("load_state_dict_from_url", "load_url"):
                if hasattr(module, attr):
                    mp.setattr(module, attr, _no_file)
        if capabilities().weights_api:
            from torchvision.models._api import WeightsEnum

            mp.setattr(WeightsEnum, "get_state_dict", _no_file)

        loaded: list[dict[str, Any]] = []

        def capture(self: Any, state_dict: Any, *args: Any, **kwargs: Any) -> None:
            if not loaded:
                loaded.append(self.state_dict())  # with its _metadata (versions)

        mp.setattr(torch.nn.Module, "load_state_dict", capture)

        def zero(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            with torch.no_grad():  # (not left uninitialised: NaN would compare unequal)
                return tensor.zero_()

        for name in dir(torch.nn.init):
            if name.endswith("_") and not name.startswith("_"):
                mp.setattr(torch.nn.init, name, zero)
        for name in ("normal_", "uniform_"):
            mp.setattr(torch.Tensor, name, zero)
        yield loaded


def _fill(state: dict[str, Any]) -> dict[str, Any]:
    """Distinct values for an uninitialised state (floating-point tensors only: the others
    were computed, not initialised), cheaply and without touching torch's global RNG: a
    constant per tensor, and a ramp over its first elements."""
    for i, tensor in enumerate(state.values()):
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            with torch.no_grad():
                tensor.fill_((i % 97) * 0.01 + 0.005)
                head = tensor.view(-1)[:4096]
                head.copy_(torch.arange(head.numel(), dtype=head.dtype).mul_(1e-4).add_(i))
    return state


def generate(
    hub_dir: Path, monkeypatch: pytest.MonkeyPatch, key: str, kwargs: dict[str, Any]
) -> Path:
    """Write the file ``key(**kwargs)`` loads into the hub cache; return its path."""
    return generate_with_skeleton(hub_dir, monkeypatch, key, kwargs)[0]


def generate_with_skeleton(
    hub_dir: Path, monkeypatch: pytest.MonkeyPatch, key: str, kwargs: dict[str, Any]
) -> tuple[Path, Any]:
    """:func:`generate`, and the plain path's model without the load, initialised to zeros
    (its values are the fill's where the file's are)."""
    res = resolve_key(key, (), dict(kwargs))
    info = _catalog.builder(key)
    fn = _registry.builder(info["family"], info["name"])
    tvcompat.set_fast_pretrained(False)
    torch.manual_seed(0)
    try:
        # the initialisation skipped (the values are the fill's): the file's keys, shapes,
        # dtypes and computed buffers are the model's, cheaply, for full and structural cases
        with _capturing(monkeypatch) as loaded:
            skeleton = _quiet(fn, **kwargs)
    finally:
        tvcompat.set_fast_pretrained(None)
    assert loaded, f"{key}({kwargs}) loaded no weights"
    state = _fill(loaded[0])
    folder = hub_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / posixpath.basename(res.weights.url)
    torch.save(state, path)
    return path, skeleton


def _same_values(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)):  # quantized linear layers' packed (weight, bias)
        return len(a) == len(b) and all(_same_values(x, y) for x, y in zip(a, b))
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return bool(a == b)  # e.g. a packed layer's dtype
    if a.is_quantized or b.is_quantized:
        return (
            a.is_quantized
            and b.is_quantized
            and a.qscheme() == b.qscheme()
            and torch.equal(a.int_repr(), b.int_repr())
            and torch.equal(a.dequantize(), b.dequantize())
        )
    return bool(torch.equal(a, b))


def _kind(t: Any) -> Any:
    if isinstance(t, (tuple, list)):
        return tuple(_kind(x) for x in t)
    if not isinstance(t, torch.Tensor):
        return type(t)
    stride = None if t.is_quantized else t.stride()
    return (type(t), t.dtype, t.device, tuple(t.shape), stride, t.requires_grad, t.is_meta)


def _attributes(module: Any) -> dict[str, Any]:
    out = {}
    for name, value in vars(module).items():
        if name in ("_parameters", "_buffers", "_modules"):
            continue
        found = list(fastload.tensors_in(value))
        if found:
            out[name] = found
    return out


def _scalars(module: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items() if isinstance(v, (bool, int, float, str))}


def _partition(named: list[tuple[str, Any]], mark: Any) -> set[frozenset[str]]:
    groups: dict[Any, set[str]] = {}
    for name, t in named:
        groups.setdefault(mark(t), set()).add(name)
    return {frozenset(g) for g in groups.values()}


def _storage(t: Any) -> int:
    return fastload._ptr(t) or id(t)


def assert_same_model(fast: Any, plain: Any, *, values: bool = True) -> None:
    assert type(fast) is type(plain)
    fast_mods, plain_mods = dict(fast.named_modules()), dict(plain.named_modules())
    assert fast_mods.keys() == plain_mods.keys()
    for name, module in fast_mods.items():
        other = plain_mods[name]
        assert type(module) is type(other), name
        assert module.training == other.training, name
        assert module._buffers.keys() == other._buffers.keys(), name
        assert module._non_persistent_buffers_set == other._non_persistent_buffers_set, name
        if values:  # e.g. a quantized layer's scale and zero point
            assert _scalars(module) == _scalars(other), name
        attrs, other_attrs = _attributes(module), _attributes(other)
        assert attrs.keys() == other_attrs.keys(), name
        for attr, tensors in attrs.items():  # e.g. anchors: computed, not loaded
            assert len(tensors) == len(other_attrs[attr]), (name, attr)
            for a, b in zip(tensors, other_attrs[attr]):
                assert _kind(a) == _kind(b), (name, attr)
                assert _same_values(a, b), (name, attr)
    state, other_state = fast.state_dict(keep_vars=True), plain.state_dict(keep_vars=True)
    assert list(state) == list(other_state)
    for key, tensor in state.items():
        assert _kind(tensor) == _kind(other_state[key]), key
        if values:
            assert _same_values(tensor, other_state[key]), key
    buffers = list(fast.named_buffers())  # non-persistent ones included
    other_buffers = dict(plain.named_buffers())
    assert [n for n, _ in buffers] == list(other_buffers)
    for name, buf in buffers:
        assert _kind(buf) == _kind(other_buffers[name]), name
        if values or name not in state:  # non-persistent: computed, so always equal
            assert _same_values(buf, other_buffers[name]), name
    params = list(fast.named_parameters())
    other_params = list(plain.named_parameters())
    assert [n for n, _ in params] == [n for n, _ in other_params]
    assert len({id(p) for _, p in params}) == len({id(p) for _, p in other_params})
    assert _partition(params, _storage) == _partition(other_params, _storage)
    assert all(not p.is_meta for _, p in params)


def _quiet(fn: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**kwargs)


@pytest.mark.parametrize(("key", "kwargs", "kind"), CASES)
def test_fast_equals_plain(
    key: str, kwargs: dict[str, Any], kind: str, hub_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = _catalog.builder(key)
    fn = _registry.builder(info["family"], info["name"])
    try:
        path, skeleton = generate_with_skeleton(hub_dir, monkeypatch, key, kwargs)
    except ModuleNotFoundError as exc:  # 0.10's quantized inception_v3 imports scipy
        pytest.skip(f"this release's builder needs {exc.name}, which is not installed")
    if kind == "full":
        skeleton = None  # (memory)
    before = torch.get_rng_state()
    fast = _quiet(fn, **kwargs)
    assert fastload.last_outcome() == "fast"
    drawn = torch.get_rng_state()
    if not kwargs.get("quantize"):
        assert torch.equal(drawn, before)  # the fast path draws nothing
    tvcompat.set_fast_pretrained(False)
    if kind == "full":
        torch.set_rng_state(before)
        plain = _quiet(fn, **kwargs)
        assert fastload.last_outcome() == "off"
        assert_same_model(fast, plain)
        if kwargs.get("quantize"):  # torchvision's initialisation and calibration ran
            assert torch.equal(torch.get_rng_state(), drawn)
        return
    assert_same_model(fast, skeleton, values=False)
    _assert_loaded(fast, path)


def _assert_loaded(model: Any, path: Path) -> None:
    expected = safety.load_checked(path, mmap=True)
    got = model.state_dict()
    assert got.keys() <= expected.keys()
    for name, tensor in got.items():
        assert _same_values(tensor, expected[name]), name


def _seed_resnet18(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return generate(hub_dir, monkeypatch, "resnet18", {"pretrained": True})


def _torchvision_resnet18() -> Any:
    if capabilities().weights_api:
        return torchvision.models.resnet18(
            weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1
        )
    return _quiet(torchvision.models.resnet18, pretrained=True)


@pytest.mark.parametrize("how", ["api", "env"])
def test_opt_out_restores_torchvisions_rng_stream(
    how: str, hub_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed_resnet18(hub_dir, monkeypatch)
    torch.manual_seed(123)
    _torchvision_resnet18()
    theirs = torch.get_rng_state()
    if how == "api":
        tvcompat.set_fast_pretrained(False)
    else:
        monkeypatch.setenv("TVCOMPAT_FAST_PRETRAINED", "0")
    torch.manual_seed(123)
    tvcompat.resnet18(pretrained=True)
    assert fastload.last_outcome() == "off"
    assert torch.equal(torch.get_rng_state(), theirs)
    assert not torch.equal(theirs, torch.manual_seed(123).get_state())  # it did draw
    # the fast path (the default) draws nothing
    tvcompat.set_fast_pretrained(None)
    monkeypatch.delenv("TVCOMPAT_FAST_PRETRAINED", raising=False)
    torch.manual_seed(123)
    tvcompat.resnet18(pretrained=True)
    assert fastload.last_outcome() == "fast"
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(123).get_state())


def test_random_init_builds_are_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(5)
    theirs = torchvision.models.resnet18()
    state = torch.get_rng_state()
    torch.manual_seed(5)
    ours = tvcompat.resnet18(weights=None)
    assert torch.equal(torch.get_rng_state(), state)
    assert_same_model(ours, theirs)


def test_setting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tvcompat.get_setting("fast_pretrained").value is True
    tvcompat.set_fast_pretrained(False)
    setting = tvcompat.get_setting("fast_pretrained")
    assert (setting.value, setting.source) == (False, "api")
    tvcompat.set_fast_pretrained(None)
    monkeypatch.setenv("TVCOMPAT_FAST_PRETRAINED", "maybe")
    assert "TVCOMPAT_FAST_PRETRAINED" in str(tvcompat.get_setting("fast_pretrained").error)
    with pytest.raises(ValueError, match="TVCOMPAT_FAST_PRETRAINED"):  # before any download
        tvcompat.resnet18(pretrained=True)


def _checks(model: Any) -> tuple[Any, Any]:
    model.eval()
    x = torch.linspace(-1, 1, 3 * 64 * 64).reshape(1, 3, 64, 64)
    with torch.no_grad():
        return {k: v.clone() for k, v in model.state_dict().items()}, model(x)


@pytest.mark.parametrize("change", ["remove", "replace", "rewrite_by_rename"])
def test_model_survives_its_cache_file(
    change: str, hub_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _seed_resnet18(hub_dir, monkeypatch)
    model = tvcompat.resnet18(pretrained=True)
    assert fastload.last_outcome() == "fast"
    state, out = _checks(model)
    if change == "remove":
        path.unlink()
    elif change == "replace":  # another file renamed over it, as every tvcompat download does
        other = path.with_name("other.tmp")
        torch.save({k: torch.zeros_like(v) for k, v in state.items()}, other)
        os.replace(other, path)
    else:  # the same file written again by rename (cache verify / a re-download)
        other = path.with_name(path.name + ".partial")
        other.write_bytes(path.read_bytes()[::-1])
        os.replace(other, path)
    after_state, after_out = _checks(model)
    assert all(torch.equal(state[k], after_state[k]) for k in state)
    assert torch.equal(out, after_out)
    model.train()  # and it trains: writes go to the model's memory, never to the file
    model.zero_grad()
    model(torch.ones(2, 3, 64, 64)).sum().backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert not path.exists() or path.read_bytes() != b""


@pytest.mark.usefixtures("tvc_settings", "trust_test_ca")
def test_model_survives_a_redownload(
    https_server: Any, served: dict[str, Any], official_urls: dict[str, str]
) -> None:
    from tvcompat.downloads import ensure_cached, set_mirror

    set_mirror(https_server.base_url())
    model = tvcompat.resnet18(pretrained=True)
    assert fastload.last_outcome() == "fast"
    state, out = _checks(model)
    path = ensure_cached(official_urls["resnet18"])
    path.unlink()
    assert ensure_cached(official_urls["resnet18"]) == path  # downloaded again
    assert https_server.requests(served["resnet18"].url_path) == 2
    after_state, after_out = _checks(model)
    assert all(torch.equal(state[k], after_state[k]) for k in state)
    assert torch.equal(out, after_out)


def test_a_failed_check_falls_back(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A builder that computes something from a randomly initialised tensor before loading
    (here: a wrapped resnet18 whose builder keeps a copy of fc.weight) cannot take the
    fast path: the check sees it and the plain path builds the model."""
    _seed_resnet18(hub_dir, monkeypatch)
    from torchvision.models import resnet

    original = resnet.ResNet.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register_buffer("fc_norm", self.fc.weight.detach().norm(), persistent=False)

    monkeypatch.setattr(resnet.ResNet, "__init__", init)
    torch.manual_seed(0)
    model = tvcompat.resnet18(pretrained=True)
    assert fastload.last_outcome().startswith("plain: ")
    torch.manual_seed(0)
    tvcompat.set_fast_pretrained(False)
    plain = tvcompat.resnet18(pretrained=True)
    assert torch.equal(model.fc_norm, plain.fc_norm)
