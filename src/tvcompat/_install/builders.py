"""Putting tvcompat's argument handling into torchvision's own builders.

Every builder of the installed torchvision, where code imports it from (its family module,
``torchvision.models.resnet50``; the module that defines it,
``torchvision.models.resnet.resnet50``,
``torchvision.models.detection.faster_rcnn.fasterrcnn_resnet50_fpn``; and the registry that
``torchvision.models.get_model`` reads), is replaced by a wrapper that resolves its arguments
as tvcompat's builders do and then calls torchvision's original. The wrapper keeps the
original's ``__name__``, ``__qualname__``, ``__module__``, ``__doc__`` and annotations,
points ``__wrapped__`` at it, and shows both argument forms in its signature.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable

from tvcompat import _catalog
from tvcompat._install.patcher import Patcher
from tvcompat._models.build import BUILDING, MARKER, build, torchvision_builder
from tvcompat._models.resolve import builder_key
from tvcompat._models.resolve import resolve as resolve_key

__all__ = ["patch_builders", "wrapper_for"]

_LEGACY = ("pretrained", "pretrained_backbone")


def _signature(original: Callable[..., Any], info: _catalog.BuilderRecord) -> inspect.Signature:
    """The original's signature plus the parameters of the other form it lacks (keyword-only:
    ``pretrained``/``pretrained_backbone`` on 0.13+, ``weights``/``weights_backbone`` before)."""
    try:
        sig = inspect.signature(original)
    except (TypeError, ValueError):  # pragma: no cover - torchvision's builders have one
        return inspect.Signature()
    params = list(sig.parameters.values())
    have = {p.name for p in params}
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool)
        for name in _LEGACY
        if name in info["legacy_params"] and name not in have
    ] + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
        for name in info["weights_params"]
        if name not in have
    ]
    if not extra:
        return sig
    var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    rest = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return sig.replace(parameters=[*rest, *extra, *var_kw])


def wrapper_for(key: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """The builder that replaces ``original`` (catalog key ``key``) in torchvision."""
    info = _catalog.builder(key)
    assert info is not None

    @functools.wraps(original)
    def builder(*args: Any, **kwargs: Any) -> Any:
        if BUILDING.get():  # torchvision's own inner call (a backbone): torchvision's rules
            return original(*args, **kwargs)
        return build(resolve_key(key, args, kwargs))

    setattr(builder, MARKER, True)
    builder.__signature__ = _signature(original, info)  # type: ignore[attr-defined]
    builder.__doc__ = (original.__doc__ or "") + (
        "\n\n    (tvcompat.install(): also takes the legacy form, "
        f"{', '.join(info['positional'])}, without deprecation warnings.)\n"
    )
    return builder


def patch_builders(patcher: Patcher) -> int:
    """Replace every builder of the installed torchvision, in every module and registry that
    holds it; return how many builders were wrapped."""
    import torchvision.models  # noqa: PLC0415, F401 - heavy: only when installing; loads every builder

    registry = getattr(sys.modules.get("torchvision.models._api"), "BUILTIN_MODELS", {})  # 0.14+
    count = 0
    for key in _catalog.builder_keys():
        info = _catalog.builder(key)
        assert info is not None
        if not _catalog.builder_available(info):
            continue
        family, name = info["family"], info["name"]
        try:
            original = torchvision_builder(family, name)
        except AttributeError:  # pragma: no cover - the catalog says the release has it
            continue
        wrapped = wrapper_for(builder_key(name, family), original)
        # where code imports it from: the family module and the module that defines it;
        # torchvision's own internal references (faster_rcnn's resnet50) stay its own
        for module_name in {_catalog.FAMILY_MODULES[family], original.__module__}:
            module = sys.modules.get(module_name)
            if module is not None and module.__dict__.get(name) is original:
                patcher.set_attr(module, name, wrapped)
        for registered, fn in list(registry.items()):
            if fn is original:
                patcher.set_item(registry, registered, wrapped)
        count += 1
    return count
