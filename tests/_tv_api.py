"""Helpers of ``test_torchvision_api.py``: torchvision's test helpers on tvcompat."""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
import warnings
from typing import Any, Callable

import pytest
import torch
import torchvision

import tvcompat
from tvcompat import detection, optical_flow, quantization, segmentation, video

TV = torchvision.__version__.split("+")[0]
CAPS = tvcompat.capabilities()
MODULES = [tvcompat, detection, quantization, segmentation, video, optical_flow]
_MODULE_IDS = [m.__name__ for m in MODULES]
# torchvision's family name as its test computes it (``model_fn.__module__.split(".")[-2]``).
_FAMILY = {
    "tvcompat": "models",
    "tvcompat.detection": "detection",
    "tvcompat.quantization": "quantization",
    "tvcompat.segmentation": "segmentation",
    "tvcompat.video": "video",
    "tvcompat.optical_flow": "optical_flow",
}
SIX = [
    "resnet50",
    "retinanet_resnet50_fpn_v2",
    "raft_large",
    "quantized_resnet50",
    "lraspp_mobilenet_v3_large",
    "mvit_v1_b",
]


def _installed(name: str) -> bool:
    return name in tvcompat.list_models()


def _need(name: str) -> None:
    """Skip where the installed torchvision lacks the builder (torchvision added it later)."""
    if not _installed(name):
        pytest.skip(f"torchvision {TV} has no builder {name!r} (added in a later release)")


def list_model_fns(module: Any) -> list[Callable[..., Any]]:
    """torchvision's ``test_models.list_model_fns``, on tvcompat (installed release's models)."""
    return [tvcompat.get_model_builder(name) for name in tvcompat.list_models(module)]


def _all_model_fns() -> list[Any]:
    return [
        pytest.param(fn, id=f"{_FAMILY[fn.__module__]}.{fn.__name__}")
        for m in MODULES
        for fn in list_model_fns(m)
    ]


def _enum_names() -> list[tuple[Any, str]]:
    """Every weights enum the family modules list (installed release or not)."""
    out = []
    for module in MODULES:
        for name in dir(module):
            if name.endswith("Weights") and name[0].isupper():
                out.append((module, name))
    return out


def _enum_params() -> list[Any]:
    return [pytest.param(m, n, id=f"{m.__name__}.{n}") for m, n in _enum_names()]


def _torchvision_module(family_module: Any) -> Any:
    suffix = family_module.__name__.partition(".")[2]
    name = "torchvision.models" + (f".{suffix}" if suffix else "")
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"torchvision {TV} has no module {name}")
    return importlib.import_module(name)


def get_models_from_module(module: Any) -> list[str]:
    # torchvision reads ``module.__dict__``; tvcompat's family modules serve their builders
    # lazily, so the public listing is ``dir(module)``. ``models._api.__all__`` (the
    # registration functions) becomes tvcompat's ``__all__`` (its non-builder API).
    return [
        v.__name__
        for k, v in ((k, getattr(module, k)) for k in dir(module))
        if callable(v) and k[0].islower() and k[0] != "_" and k not in tvcompat.__all__
    ]


_FILTERS = [
    None,
    [],
    (),
    "",
    "*resnet*",
    ["*alexnet*"],
    "*not-existing-model-for-test?",
    ["*resnet*", "*alexnet*"],
    ["*resnet*", "*alexnet*", "*not-existing-model-for-test?"],
    ("*resnet*", "*alexnet*"),
    {"*resnet*", "*alexnet*"},
]
_EXCLUDES = [
    None,
    [],
    (),
    "",
    "*resnet*",
    ["*alexnet*"],
    ["*not-existing-model-for-test?"],
    ["resnet34", "*not-existing-model-for-test?"],
    ["resnet34", "*resnet1*"],
    ("resnet34", "*resnet1*"),
    {"resnet34", "*resnet1*"},
]


_INPUT_SHAPES = {
    "models": (1, 3, 224, 224),
    "detection": (3, 300, 300),
    "quantization": (1, 3, 224, 224),
    "segmentation": (1, 3, 520, 520),
    "video": (1, 3, 4, 112, 112),
    "optical_flow": (1, 3, 128, 128),
}
# torchvision's _model_params input shapes that differ from the family default
_MODEL_SHAPES = {
    "inception_v3": (1, 3, 299, 299),
    "vit_h_14": (1, 3, 56, 56),
    "mvit_v1_b": (1, 3, 16, 224, 224),
    "mvit_v2_s": (1, 3, 16, 224, 224),
    "s3d": (1, 3, 16, 224, 224),
}


def _check_jit_scriptable(nn_module: Any, args: tuple[Any, ...]) -> None:
    """torchvision's ``test_models._check_jit_scriptable`` (eager vs scripted vs reloaded)."""
    with warnings.catch_warnings():
        # torch >= 2.10 deprecates TorchScript (a FutureWarning per call): torch's, not ours
        warnings.filterwarnings("ignore", r".*torch\.jit\.\w+` is deprecated", FutureWarning)
        # torchvision 0.15/0.16's own presets warn about the antialias default: torchvision's
        warnings.filterwarnings("ignore", "The default value of the antialias", UserWarning)
        _scripted_round_trip(nn_module, args)


def _scripted_round_trip(nn_module: Any, args: tuple[Any, ...]) -> None:
    sm = torch.jit.script(nn_module)
    with torch.no_grad():
        eager_out = nn_module(*args)
        script_out = sm(*args)
    torch.testing.assert_close(eager_out, script_out, atol=1e-4, rtol=1e-4)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "script.pt")
        sm.save(path)
        imported = torch.jit.load(path)
    with torch.no_grad():
        imported_out = imported(*args)
    torch.testing.assert_close(script_out, imported_out, atol=3e-4, rtol=3e-4)


def _jit_params() -> list[Any]:
    # torchvision runs this on every builder only in its extended run; the default run here
    # takes the six models torchvision's other tests name (scripting every preset is slow).
    every = _all_model_fns()
    if os.getenv("PYTORCH_TEST_WITH_EXTENDED", "0") == "1":
        return every
    return [p for p in every if p.values[0].__name__ in {n.replace("quantized_", "") for n in SIX}]


def _entry(member: Any) -> str | None:
    return None if member is None else str(member)


def _child_round_trip(data: bytes) -> bytes:
    """Run in a spawned child: unpickle the members (a fresh tvcompat) and pickle them back."""
    import pickle

    return pickle.dumps(pickle.loads(data))


def skip_where_torchvision_cannot(member: Any, round_trip: Callable[[Any], Any], what: str) -> None:
    """Skip where ``member`` is torchvision's own enum member (tvcompat hands those out
    unchanged) and torchvision itself cannot ``round_trip`` it: its enums do not survive
    deepcopy/pickle before 0.15 (vision#7107), and ``VGG16_Weights.IMAGENET1K_FEATURES``
    never does (its NaN metrics make the value unequal to itself). A stand-in is always
    tested: it is tvcompat's."""
    from tvcompat._weights import WeightsEnum

    if isinstance(member, WeightsEnum):
        return
    try:
        ok = round_trip(member) is member
    except Exception:
        ok = False
    if not ok:
        pytest.skip(f"torchvision {TV}'s own {member!r} does not survive {what} (torchvision bug)")
