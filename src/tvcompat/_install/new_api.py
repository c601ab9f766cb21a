"""The new-API names on releases that lack them: weights enums (stand-ins before 0.13) where
0.13+ defines and exports them, ``WeightsEnum``/``Weights`` (exported from 0.15) and the
registry API (``get_weight`` from 0.13, the rest from 0.14)."""

from __future__ import annotations

import sys
from typing import Any

from tvcompat import _catalog, _weights
from tvcompat._install.patcher import Patcher
from tvcompat._models import registry
from tvcompat._versions import capabilities

__all__ = ["add_new_api"]

#: the modules that re-export a family's enums and builders (torchvision 0.13+)
_EXPORTED_FROM = {
    family: module
    for family, module in _catalog.FAMILY_MODULES.items()
    if family != "backbone_utils"
}


def _enums_in_use() -> set[str]:
    """Enums that some builder of the installed torchvision takes."""
    names: set[str] = set()
    for key in _catalog.builder_keys():
        info = _catalog.builder(key)
        assert info is not None
        if _catalog.builder_available(info):
            for enums in info["enums"].values():
                names.update(enums)
    return names


def _add(patcher: Patcher, module_name: str, name: str, value: Any) -> None:
    module = sys.modules.get(module_name)
    if module is not None and name not in module.__dict__:
        patcher.set_attr(module, name, value)


def add_new_api(patcher: Patcher) -> int:
    """Add what the installed torchvision lacks; return how many names were added."""
    before = len(patcher)
    caps = capabilities()
    if not caps.weights_api:
        for name in sorted(_enums_in_use()):
            info = _catalog.enum(name)
            assert info is not None
            cls = _weights.enum_class(name)
            _add(patcher, info["module"], name, cls)
            _add(patcher, _EXPORTED_FROM[info["family"]], name, cls)
    if not caps.weights_enum_public:
        api = sys.modules.get("torchvision.models._api")
        for name in ("WeightsEnum", "Weights"):
            value = getattr(api, name) if api is not None else getattr(_weights, name)
            _add(patcher, "torchvision.models", name, value)
    if not caps.get_weight:
        _add(patcher, "torchvision.models", "get_weight", registry.get_weight)
    if not caps.registration_api:
        for name in ("get_model", "get_model_builder", "get_model_weights", "list_models"):
            _add(patcher, "torchvision.models", name, getattr(registry, name))
    return len(patcher) - before
