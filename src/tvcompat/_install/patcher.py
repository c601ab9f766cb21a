"""An undo log for changes to other modules: every attribute set and ``sys.modules`` entry
added is recorded, and :meth:`Patcher.undo` puts back exactly what was there, by identity
(or removes what was not there)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Patcher"]

_ABSENT: Any = object()


@dataclass
class Patcher:
    """Records changes in order; :meth:`undo` reverts them in reverse order."""

    _log: list[tuple[str, Any, Any, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._log)

    def set_attr(self, target: Any, name: str, value: Any) -> None:
        """``setattr(target, name, value)`` (a module, class or object)."""
        old = target.__dict__.get(name, _ABSENT) if hasattr(target, "__dict__") else _ABSENT
        self._log.append(("attr", target, name, old))
        setattr(target, name, value)

    def set_item(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        """``mapping[key] = value`` (a registry dict)."""
        self._log.append(("item", mapping, key, mapping.get(key, _ABSENT)))
        mapping[key] = value

    def add_module(self, name: str, module: types.ModuleType) -> None:
        """Put ``module`` in ``sys.modules`` as ``name`` and on its parent package."""
        self._log.append(("module", sys.modules, name, sys.modules.get(name, _ABSENT)))
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            self.set_attr(sys.modules[parent], child, module)

    def undo(self) -> None:
        """Revert every recorded change, newest first; the log is emptied."""
        while self._log:
            kind, target, key, old = self._log.pop()
            if kind == "attr":
                if old is _ABSENT:
                    if key in getattr(target, "__dict__", {}):
                        delattr(target, key)
                else:
                    setattr(target, key, old)
            elif old is _ABSENT:
                target.pop(key, None)
            else:
                target[key] = old
