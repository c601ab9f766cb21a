"""Dump what one installed torchvision release does, as JSON on stdout.

Run by ``scripts/generate_catalog.py`` inside a virtual environment holding one real
torch/torchvision pair. It imports torchvision and records, by running it:

* every builder of every family, with its signature;
* for each legacy call form (``pretrained=True``, ``pretrained="legacy"``,
  ``pretrained=True, quantize=True``, ``pretrained_backbone=True``, backbone utils with
  ``pretrained=True``), the URL torchvision's own legacy path loads (and on 0.13+ the weights
  enum member), or the error it raises;
* every weights enum with its members (URL, every meta key, preprocessing preset) and DEFAULT;
* the legacy ``model_urls``/``quant_model_urls`` mappings.

Loading is intercepted: nothing is downloaded. Parameter initialisation is switched off while
building models so that big models cost only their allocation.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import inspect
import json
import pkgutil
import platform
import sys
import warnings
from typing import Any

import torch
import torchvision

from tvcompat import _catalog  # the family table and the legacy forms' names (no torch)

FAMILIES = {k: v for k, v in _catalog.FAMILY_MODULES.items() if k != "backbone_utils"}
RESNETS = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]
MOBILENETS = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]


class Captured(Exception):
    def __init__(self, url: str, member: str | None = None) -> None:
        super().__init__(url)
        self.url = url
        self.member = member


def _capture_url(url: str, *args: Any, **kwargs: Any) -> Any:
    raise Captured(url)


def _patch_loading() -> None:
    """Make every state-dict download raise ``Captured`` instead."""
    torch.hub.load_state_dict_from_url = _capture_url
    import torch.utils.model_zoo as zoo

    zoo.load_url = _capture_url
    mods = [torchvision.models]
    for info in pkgutil.walk_packages(torchvision.models.__path__, "torchvision.models."):
        if ".prototype" in info.name:
            continue
        with contextlib.suppress(Exception):
            mods.append(importlib.import_module(info.name))
    with contextlib.suppress(Exception):
        mods.append(importlib.import_module("torchvision._internally_replaced_utils"))
    for mod in mods:
        for attr in ("load_state_dict_from_url", "load_url"):
            if hasattr(mod, attr):
                setattr(mod, attr, _capture_url)
    api = sys.modules.get("torchvision.models._api")
    if api is not None and hasattr(api, "WeightsEnum"):

        def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
            raise Captured(self.url, f"{type(self).__name__}.{self.name}")

        api.WeightsEnum.get_state_dict = get_state_dict


def _no_init() -> None:
    def keep(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return tensor.zero_()

    for name in dir(torch.nn.init):
        if name.endswith("_") and not name.startswith("_"):
            setattr(torch.nn.init, name, keep)
    torch.Tensor.normal_ = keep  # type: ignore[method-assign]
    torch.Tensor.uniform_ = keep  # type: ignore[method-assign]


def _param(p: inspect.Parameter) -> dict[str, Any]:
    default = None if p.default is inspect.Parameter.empty else repr(p.default)
    out = {
        "name": p.name,
        "kind": p.kind.name,
        "default": default,
        "has_default": p.default is not inspect.Parameter.empty,
    }
    if p.annotation is not inspect.Parameter.empty and p.name.startswith("weights"):
        out["annotation"] = str(p.annotation)
    return out


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*args, **kwargs)
        except Captured as c:
            if c.url is None:  # torchvision called the loader with no URL: it would crash
                return {"error": "NoURL", "message": "load_state_dict_from_url(None)"}
            return {"url": c.url, "member": c.member}
        except Exception as e:
            return {"error": type(e).__name__, "message": str(e)[:300]}
    return {"url": None, "member": None}


def _builders() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for family, modname in FAMILIES.items():
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        for name in sorted(dir(mod)):
            fn = getattr(mod, name)
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            if "pretrained" not in params and "weights" not in params:
                continue
            if name in ("get_weight", "get_model", "get_model_weights", "get_model_builder"):
                continue
            key = name if family == "classification" else f"{family}.{name}"
            out[key] = {
                "name": name,
                "family": family,
                "module": fn.__module__,
                "params": [_param(p) for p in params.values()],
            }
    # backbone utils are not registered builders but take pretrained/weights too
    try:
        bu = importlib.import_module("torchvision.models.detection.backbone_utils")
        for name in ("resnet_fpn_backbone", "mobilenet_backbone"):
            fn = getattr(bu, name, None)
            if fn is not None:
                out[f"backbone_utils.{name}"] = {
                    "name": name,
                    "family": "backbone_utils",
                    "module": fn.__module__,
                    "params": [_param(p) for p in inspect.signature(fn).parameters.values()],
                }
    except ImportError:
        pass
    return out


def _legacy(builders: dict[str, dict[str, Any]]) -> None:
    """Record what each legacy call form loads, by running it."""
    for info in builders.values():
        fam = info["family"]
        mod = importlib.import_module(_catalog.FAMILY_MODULES[fam])
        fn = getattr(mod, info["name"])
        calls: dict[str, dict[str, Any]] = {}
        names = {p["name"] for p in info["params"]}
        if fam == "backbone_utils":
            cands = RESNETS if info["name"] == "resnet_fpn_backbone" else MOBILENETS
            for b in cands:
                extra = {"fpn": True} if info["name"] == "mobilenet_backbone" else {}
                calls[_catalog.backbone_name_form(b)] = _outcome(
                    fn, backbone_name=b, pretrained=True, **extra
                )
            info["legacy"] = calls
            continue
        # detection/segmentation: the model's own weights, not the backbone (0.10-0.12 also
        # downloaded the backbone first for some of them; 0.13+ never does)
        main = {"pretrained_backbone": False} if fam in ("detection", "segmentation") else {}
        calls[_catalog.FORM_PRETRAINED] = _outcome(fn, pretrained=True, **main)
        if fam == "quantization":
            calls[_catalog.FORM_PRETRAINED_QUANTIZED] = _outcome(fn, pretrained=True, quantize=True)
        if "keypoint" in info["name"]:
            calls[_catalog.FORM_PRETRAINED_LEGACY] = _outcome(fn, pretrained="legacy", **main)
        if fam in ("detection", "segmentation"):
            calls[_catalog.FORM_PRETRAINED_BACKBONE] = _outcome(
                fn, pretrained=False, pretrained_backbone=True
            )
            if "weights_backbone" in names:
                calls[_catalog.FORM_BACKBONE_DEFAULT] = _outcome(fn, weights=None)
            else:
                calls[_catalog.FORM_BACKBONE_DEFAULT_LEGACY] = _outcome(fn, pretrained=False)
        info["legacy"] = calls


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, enum.Enum):  # InterpolationMode.BILINEAR -> "bilinear"
        return _jsonable(value.value)
    return repr(value)


def _meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Every key of torchvision's meta, in its order, as JSON: a category list becomes
    ``categories_ref`` (the list is stored once) and ``num_categories`` (``None`` stays
    ``categories: null``), ``unquantized`` becomes ``"EnumName.MEMBER"``, tuples lists."""
    entry: dict[str, Any] = {}
    for key, value in meta.items():
        if key == "categories" and value is not None:
            entry["num_categories"] = len(value)
            entry["categories_ref"] = _categories_ref(value)
        elif key == "unquantized":
            entry[key] = f"{type(value).__name__}.{value.name}"
        else:
            entry[key] = _jsonable(value)
    return entry


def _enums() -> dict[str, dict[str, Any]]:
    try:
        from torchvision.models._api import WeightsEnum
    except ImportError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    mods = [torchvision.models]
    for info in pkgutil.walk_packages(torchvision.models.__path__, "torchvision.models."):
        with contextlib.suppress(Exception):
            mods.append(importlib.import_module(info.name))
    for mod in mods:
        for name, obj in vars(mod).items():
            if not (
                inspect.isclass(obj) and issubclass(obj, WeightsEnum) and obj is not WeightsEnum
            ):
                continue
            if obj.__module__ != mod.__name__:
                continue
            members = {}
            for m in obj:
                meta = m.meta
                tr = m.transforms
                preset = {
                    "name": getattr(getattr(tr, "func", tr), "__name__", repr(tr)),
                    "kwargs": _jsonable(getattr(tr, "keywords", {})),
                }
                entry = _meta(meta)
                members[m.name] = {"url": m.url, "meta": entry, "transforms": preset}
            out[name] = {
                "module": obj.__module__,
                "members": members,
                "default": obj.DEFAULT.name if "DEFAULT" in obj.__members__ else None,
            }
    return out


_CATEGORIES: dict[str, list[str]] = {}


def _categories_ref(cats: list[str]) -> str:
    """Name a category list by content so the catalog stores each list once."""
    for ref, known in _CATEGORIES.items():
        if known == list(cats):
            return ref
    ref = f"cat{len(_CATEGORIES)}"
    _CATEGORIES[ref] = list(cats)
    return ref


def _model_urls() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for info in pkgutil.walk_packages(torchvision.models.__path__, "torchvision.models."):
        try:
            mod = importlib.import_module(info.name)
        except Exception:
            continue
        for attr in ("model_urls", "quant_model_urls"):
            d = vars(mod).get(attr)
            if isinstance(d, dict):
                out[f"{info.name}.{attr}"] = dict(dict.items(d))
    return out


def _stub_scipy() -> None:
    """Old inception/googlenet initialisers import scipy.stats; parameters are not
    initialised while dumping anyway, so a stub stands in when scipy is absent."""
    try:
        import scipy.stats
    except ImportError:
        import types

        class _TruncNorm:
            def __init__(self, *args: Any, **kwargs: Any) -> None: ...

            def rvs(self, n: int) -> Any:
                import numpy

                return numpy.zeros(n)

        stats = types.ModuleType("scipy.stats")
        stats.truncnorm = _TruncNorm  # type: ignore[attr-defined]
        scipy = types.ModuleType("scipy")
        scipy.stats = stats  # type: ignore[attr-defined]
        sys.modules["scipy"] = scipy
        sys.modules["scipy.stats"] = stats


def main() -> None:
    torch.set_num_threads(1)
    _stub_scipy()
    builders = _builders()
    enums = _enums()
    _no_init()
    _patch_loading()
    _legacy(builders)
    json.dump(
        {
            "torchvision": torchvision.__version__.split("+")[0],
            "torch": torch.__version__.split("+")[0],
            "python": platform.python_version(),
            "builders": builders,
            "enums": enums,
            "categories": _CATEGORIES,
            "model_urls": _model_urls(),
        },
        sys.stdout,
        indent=1,
        sort_keys=False,  # enum member order is meaningful
    )


if __name__ == "__main__":
    main()
