"""Carrying out a :class:`~tvcompat._models.resolve.Resolution`: call torchvision the way the
installed release wants (``weights=`` on 0.13+, ``pretrained=`` before), never emitting its
deprecation warnings, then apply what <= 0.12 did that newer releases refuse."""

from __future__ import annotations

import importlib
import re
import sys
from contextvars import ContextVar
from typing import Any, Callable

from tvcompat import _catalog, _settings
from tvcompat._catalog import FAMILY_MODULES
from tvcompat._models import fastload, packing
from tvcompat._models.resolve import Resolution, _info, legacy_entry_installed
from tvcompat._net import cache as _cache
from tvcompat._versions import capabilities
from tvcompat._weights import Entry
from tvcompat.errors import (
    BuilderNotAvailableError,
    ConflictingArgumentsError,
    TorchvisionTooOldError,
)

__all__ = ["BUILDING", "MARKER", "build", "is_tvcompat_builder", "torchvision_builder"]

_EXPECTED = re.compile(r"The parameter '(?P<param>[^']*)' expected value (?P<expected>.*?) but got")


#: True while torchvision's builder runs for :func:`build`: the builders
#: ``tvcompat.install()`` puts into torchvision pass torchvision's own inner calls
#: (detection's backbone ``resnet50(...)``) straight through to torchvision
BUILDING: ContextVar[bool] = ContextVar("tvcompat_building", default=False)

#: the attribute that marks tvcompat's builders (and the ones ``tvcompat.install()`` puts
#: into torchvision's modules)
MARKER = "__tvcompat_builder__"


def is_tvcompat_builder(fn: object) -> bool:
    return bool(getattr(fn, MARKER, False))


def torchvision_builder(family: str, name: str) -> Callable[..., Any]:
    """The installed torchvision's own builder function, also where ``torchvision.models``
    now holds one of tvcompat's builders (``tvcompat.install()``, or an assignment such as
    ``torchvision.models.alexnet = tvcompat.alexnet``): never tvcompat's, which would recurse."""
    fn: Callable[..., Any] = getattr(importlib.import_module(FAMILY_MODULES[family]), name)
    while is_tvcompat_builder(fn):
        wrapped = getattr(fn, "__wrapped__", None)
        fn = wrapped if wrapped is not None else _defining_function(family, name)
    return fn


def _defining_function(family: str, name: str) -> Callable[..., Any]:
    """torchvision's ``name`` in the submodule that defines it (``torchvision.models.alexnet``),
    for a family module whose attribute was replaced by hand."""
    prefix = FAMILY_MODULES[family].rpartition(".")[0] or FAMILY_MODULES[family]
    for module_name, module in sorted(sys.modules.items()):
        if module is None or not module_name.startswith(prefix):
            continue
        fn = getattr(module, name, None)
        if (
            callable(fn)
            and not is_tvcompat_builder(fn)
            and str(getattr(fn, "__module__", "")).startswith("torchvision.")
        ):
            return fn  # type: ignore[no-any-return]
    raise BuilderNotAvailableError(
        f"torchvision.models has tvcompat's {name} in place of its own, and torchvision's "
        f"own {name} was not found: restore it (tvcompat.uninstall(), or undo the assignment)."
    )


def _legacy_call(res: Resolution, kwargs: dict[str, Any]) -> Entry | None:
    """Fill ``kwargs`` for torchvision <= 0.12; return an entry to load by hand, if any."""
    family = res.family
    form = _catalog.FORM_PRETRAINED
    if family == "quantization" and kwargs.get("quantize"):
        form = _catalog.FORM_PRETRAINED_QUANTIZED
    manual: Entry | None = None
    if family == "backbone_utils":
        form = _catalog.backbone_name_form(kwargs.get("backbone_name"))
    if res.weights is None:
        kwargs["pretrained"] = False
    elif res.weights == legacy_entry_installed(res.model, form):
        kwargs["pretrained"] = True
    elif res.weights == legacy_entry_installed(res.model, _catalog.FORM_PRETRAINED_LEGACY):
        kwargs["pretrained"] = "legacy"
    elif family == "backbone_utils":
        raise TorchvisionTooOldError(
            f"{res.name}(weights={res.weights}) needs torchvision >= 0.13: older releases can "
            "only load the legacy backbone weights "
            f"({legacy_entry_installed(res.model, form)}). Upgrade torchvision."
        )
    else:
        kwargs["pretrained"] = False
        manual = res.weights
        if res.name.startswith("vit_") and "image_size" not in kwargs:
            kwargs["image_size"] = int(res.weights.record["meta"]["min_size"][0])
        if family == "segmentation":
            kwargs.setdefault("aux_loss", True)
    if (
        res.weights is not None
        and family == "classification"
        and res.name
        in (
            "inception_v3",
            "googlenet",
        )
    ):
        kwargs.setdefault("init_weights", False)  # as 0.13+ (0.10's quantized one needs scipy)
    if family in ("detection", "segmentation"):
        backbone = res.weights_backbone
        if backbone is None:
            kwargs["pretrained_backbone"] = False
        elif backbone == legacy_entry_installed(res.model, _catalog.FORM_PRETRAINED_BACKBONE):
            kwargs["pretrained_backbone"] = True
        else:
            raise TorchvisionTooOldError(
                f"{res.name}(weights_backbone={backbone}) needs torchvision >= 0.13: older "
                "releases only load the legacy backbone "
                f"({legacy_entry_installed(res.model, _catalog.FORM_PRETRAINED_BACKBONE)}). "
                "Upgrade torchvision."
            )
    return manual


def build(res: Resolution) -> Any:
    """Build the model ``res`` describes."""
    fn = torchvision_builder(res.family, res.name)
    kwargs = dict(res.kwargs)
    manual: Entry | None = None
    if capabilities().weights_api:
        kwargs["weights"] = None if res.weights is None else res.weights.obj
        if "weights_backbone" in _info(res.model)["weights_params"]:
            kwargs["weights_backbone"] = (
                None if res.weights_backbone is None else res.weights_backbone.obj
            )
    else:
        manual = _legacy_call(res, kwargs)
    # builds without weights are torchvision's own, RNG included; read before downloading
    fast = _settings.fast_pretrained() if res.weights is not None else None
    for url in res.urls:  # after every argument check: a refused call downloads nothing
        _cache.ensure_checked(url, progress=res.progress)
    if "progress" in _info(res.model)["params"]:  # the backbone utils take none
        kwargs["progress"] = res.progress

    def make() -> Any:
        model = _call(res, fn, kwargs)
        if manual is not None:
            model.load_state_dict(_cache.load_state_dict(manual.url, progress=res.progress))
        return model

    model = None
    if fast and kwargs.get("quantize"):  # calibrated: torchvision's init, deferred packing
        model = packing.attempt(make)
    elif fast:
        model = fastload.attempt(make)
    elif fast is False:
        fastload.set_outcome("off")
    if model is None:
        model = make()
    if res.strip_aux:
        _strip_aux(model)
    return model


def _call(res: Resolution, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    token = BUILDING.set(True)
    try:
        return fn(**kwargs)
    except ValueError as exc:
        match = _EXPECTED.search(str(exc))
        if match is None:
            raise
        raise ConflictingArgumentsError(
            f"{res.name}(): {exc} The weights {res.weights} fix that argument: leave it out, "
            "or build without weights and load them yourself."
        ) from exc
    finally:
        BUILDING.reset(token)


def _strip_aux(model: Any) -> None:
    """What torchvision <= 0.12 did for ``pretrained=True, aux_logits=False``."""
    model.aux_logits = False
    for attr in ("AuxLogits", "aux1", "aux2"):
        if hasattr(model, attr):
            setattr(model, attr, None)
