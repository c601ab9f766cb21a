"""Removed torchvision APIs, served again where old code imports them (the table is
:mod:`tvcompat._removed`, which ``tvcompat migrate`` reads too).

Only what the installed release lacks is served: a module when the release is at least its
``removed_in``, nothing can import it and nothing is in ``sys.modules`` under its name; a name
when the release is at least its ``removed_in``, its module is loaded and the module's
namespace has no such name. Every change goes through the :class:`Patcher`, so
``uninstall()`` takes all of it back, by identity.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Callable

from tvcompat import _catalog, _removed
from tvcompat._install.patcher import Patcher

__all__ = ["restore_removed"]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent that is not a package / has no spec
        return False


def _module_for(entry: _removed.RemovedModule) -> types.ModuleType:
    if entry.replacement is not None and not entry.star:
        return importlib.import_module(entry.replacement)
    module = types.ModuleType(entry.module, entry.doc or None)
    module.__spec__ = importlib.machinery.ModuleSpec(entry.module, None, origin="tvcompat")
    # no file behind it, but torchvision's own code reads every models submodule's __file__
    # (``get_weight``: ``m.__file__.endswith("__init__.py")``)
    module.__file__ = f"<tvcompat stand-in for {entry.module}>"
    if entry.replacement is not None:  # ``from <replacement> import *``
        source = importlib.import_module(entry.replacement)
        public = getattr(source, "__all__", None)
        names = public if public is not None else [n for n in vars(source) if n[0] != "_"]
        for name in names:
            setattr(module, name, getattr(source, name))
    return module


def _serve_modules(patcher: Patcher) -> None:
    for entry in _removed.MODULES:
        if (
            _removed.installed_lacks(entry)
            and entry.module not in sys.modules
            and not _importable(entry.module)
        ):
            patcher.add_module(entry.module, _module_for(entry))


def _served_object(entry: _removed.RemovedName) -> Any:
    """What ``entry`` serves, or ``None`` where the installed release cannot back it."""
    if entry.served == _removed.STANDIN:
        from tvcompat._install import standins  # noqa: PLC0415 - imports torch: only when used

        return standins.build(entry.name)
    assert entry.replacement_module is not None
    assert entry.replacement_name is not None
    home = sys.modules.get(entry.replacement_module)
    if home is None:
        home = importlib.import_module(entry.replacement_module)
    return getattr(home, entry.replacement_name, None)


def _removed_getattr(
    module_name: str, messages: dict[str, str], previous: Callable[[str], Any] | None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that explains the removed names (plain ``AttributeError``,
    as the attribute protocol expects) and otherwise behaves as before."""

    def __getattr__(name: str) -> Any:
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                if name not in messages:
                    raise
        if name in messages:
            raise AttributeError(messages[name])
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__


def _serve_names(patcher: Patcher) -> None:
    errors: dict[str, dict[str, str]] = {}
    for entry in _removed.NAMES:
        host = sys.modules.get(entry.module)
        if not _removed.installed_lacks(entry) or host is None or entry.name in vars(host):
            continue
        if entry.served == _removed.ERROR:
            errors.setdefault(entry.module, {})[entry.name] = (
                f"{entry.qualname} was removed in torchvision {entry.removed_in}. {entry.doc}"
            )
            continue
        value = _served_object(entry)
        if value is not None:
            patcher.set_attr(host, entry.name, value)
    for module_name, messages in errors.items():
        host = sys.modules[module_name]
        previous = vars(host).get("__getattr__")
        patcher.set_attr(host, "__getattr__", _removed_getattr(module_name, messages, previous))


def restore_removed(patcher: Patcher) -> int:
    """Serve every removed module, name and ``model_urls`` mapping the installed release
    lacks; return how many changes that made."""
    before = len(patcher)
    _serve_modules(patcher)
    _serve_names(patcher)
    for key, mapping in _catalog.model_urls().items():
        module_name, _, attr = key.rpartition(".")
        module = sys.modules.get(module_name)
        if module is not None and attr not in module.__dict__:
            patcher.set_attr(module, attr, dict(mapping))
    return len(patcher) - before
