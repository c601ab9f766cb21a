"""Replacements of torch attributes for the fast builds' attempts: installed process-wide
while any attempt runs (counted, under a lock), fully undone after the last one ends. Each
replacement acts only in its attempt's context (a ``ContextVar``) and calls torch's own
elsewhere, so other threads never see an attempt's effects."""

from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ["Interceptions", "Target"]

#: (owner, attribute, wrap): ``wrap(original)`` is what ``owner.attribute`` becomes
Target = tuple[Any, str, Callable[[Any], Any]]


class Interceptions:
    """The replacements ``targets()`` lists, installed by :meth:`install` and undone by as
    many :meth:`uninstall` calls."""

    def __init__(self, targets: Callable[[], list[Target]]) -> None:
        self._targets = targets
        self._lock = threading.Lock()
        self._users = 0  # attempts running, in any thread
        self._undo: list[tuple[Any, str, Any, bool]] = []  # owner, name, original, owned

    def install(self) -> None:
        with self._lock:
            if self._users == 0:
                for owner, name, wrap in self._targets():
                    original = getattr(owner, name)
                    self._undo.append((owner, name, original, name in vars(owner)))
                    setattr(owner, name, wrap(original))
            self._users += 1

    def uninstall(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                while self._undo:
                    owner, name, original, owned = self._undo.pop()
                    if owned:
                        setattr(owner, name, original)
                    else:
                        delattr(owner, name)
