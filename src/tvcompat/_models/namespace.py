"""Lazy module namespaces mirroring ``torchvision.models``' layout.

A family module (``tvcompat``, ``tvcompat.detection``, ...) resolves its builders and weights
enums on first attribute access, so ``import tvcompat`` imports neither torch nor
torchvision and patches nothing. Builders of any release are served (calling one the
installed torchvision lacks raises :class:`~tvcompat.errors.BuilderNotAvailableError`), and
so are builders and enums only the installed torchvision registers; ``dir()`` lists exactly
the installed release's builders and their weights enums.
"""

from __future__ import annotations

from typing import Any, Callable

from tvcompat import _catalog, _weights
from tvcompat._models import registry as _registry
from tvcompat._models.resolve import builder_key

__all__ = ["family_dir", "family_getattr", "installed_names"]


def installed_names(family: str) -> list[str]:
    """The builders of ``family`` the installed torchvision has, and their weights enums."""
    names: set[str] = set()
    if family == "backbone_utils":
        keys = [k for k in _catalog.builder_keys() if _catalog.builder_family(k) == family]
    else:
        keys = _registry.installed_keys()
    for key in keys:
        info = _catalog.builder(key)
        assert info is not None
        if info["family"] != family or not _catalog.builder_available(info):
            continue
        names.add(info["name"])
        if family != "backbone_utils":
            names.update(e for enums in info["enums"].values() for e in enums)
    return sorted(n for n in names if _catalog.enum(n) is None or _catalog.enum_family(n) == family)


def family_getattr(module_name: str, family: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``family``'s builders and enums."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        if name in _registry.family_names(family):  # the catalog's: no torchvision import
            return _registry.builder(family, name)
        if _catalog.enum_family(name) == family:
            return _weights.enum_class(name)
        if _catalog.builder(builder_key(name, family)) is not None:  # only torchvision has it
            return _registry.builder(family, name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


def family_dir(family: str, submodules: tuple[str, ...] = ()) -> Callable[[], list[str]]:
    """A module ``__dir__`` listing only the public names: the installed release's builders of
    ``family`` and their weights enums, and the public ``submodules``."""

    def __dir__() -> list[str]:
        return sorted({*installed_names(family), *submodules})

    return __dir__
