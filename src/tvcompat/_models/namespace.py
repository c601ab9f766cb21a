"""Lazy module namespaces mirroring ``torchvision.models``' layout.

A family module (``tvcompat``, ``tvcompat.detection``, ...) resolves its builders and weights
enums on first attribute access, so ``import tvcompat`` imports neither torch nor
torchvision and patches nothing.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from tvcompat import _catalog, _weights
from tvcompat._models import registry as _registry

__all__ = ["family_dir", "family_getattr", "family_names"]


@functools.cache
def family_names(family: str) -> tuple[str, ...]:
    """Builder and weights enum names a family module offers."""
    enums = [n for n in _catalog.enum_names() if _catalog.enum_family(n) == family]
    return tuple(sorted({*_registry.family_names(family), *enums}))


def family_getattr(module_name: str, family: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``family``'s builders and enums."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if _catalog.enum_family(name) == family:
            return _weights.enum_class(name)
        if name in _registry.family_names(family):
            return _registry.builder(family, name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


def family_dir(family: str, submodules: tuple[str, ...] = ()) -> Callable[[], list[str]]:
    """A module ``__dir__`` listing only the public names: ``family``'s builders and weights
    enums, and the public ``submodules``."""

    def __dir__() -> list[str]:
        return sorted({*family_names(family), *submodules})

    return __dir__
