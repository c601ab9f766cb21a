"""Turning torchvision's weights/pretrained deprecation warnings off, on request.

The filters match the messages of every torchvision release that emits them (0.13 said
"will be removed in 0.15", 0.14+ says "may be removed in the future"), whoever calls
torchvision: tvcompat never triggers them itself, this is for third-party code. Every other
warning still shows. Nothing is installed at import.
"""

from __future__ import annotations

import contextlib
import warnings
from types import TracebackType
from typing import Any, cast

__all__ = [
    "MESSAGES",
    "restore_deprecations",
    "silence_deprecations",
    "silence_deprecations_globally",
]

#: Regular expressions (matched at the message start) of torchvision's deprecation warnings.
MESSAGES = (
    r"The parameter '\w+' is deprecated since 0\.13",
    r"Arguments other than a weight enum or `None` for '\w+' are deprecated since 0\.13",
    r"Using .* as positional parameter\(s\) is deprecated since 0\.13",
    r"Accessing the model URLs via the internal dictionary of the module is deprecated since 0\.13",
    r"The torchvision\.transforms\.functional_(tensor|pil) module is deprecated in 0\.15",
    r"The 'torchvision\.transforms\._(transforms|functional)_video' module is deprecated",
)


def _add_filters() -> None:
    for message in MESSAGES:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


class silence_deprecations(contextlib.ContextDecorator):
    """Silence torchvision's weights/pretrained deprecation warnings inside a ``with`` block
    (or a decorated function), whoever triggers them.

    Like :func:`warnings.catch_warnings`, it restores the warning filters on exit, and the
    filters are process state: other threads see them while the block runs.
    """

    def __enter__(self) -> silence_deprecations:
        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        _add_filters()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._catcher.__exit__(exc_type, exc, tb)


_installed: list[Any] = []


def silence_deprecations_globally() -> bool:
    """Silence torchvision's deprecation warnings for the rest of the process (idempotent:
    return whether this call added the filters); :func:`restore_deprecations` undoes
    exactly this."""
    if _installed:
        return False
    before = list(warnings.filters)
    _add_filters()
    _installed.extend(f for f in warnings.filters if f not in before)
    return True


def restore_deprecations() -> None:
    """Remove the filters :func:`silence_deprecations_globally` installed."""
    for item in _installed:
        with contextlib.suppress(ValueError):
            cast("list[Any]", warnings.filters).remove(item)
    _installed.clear()
    mutated = getattr(warnings, "_filters_mutated", None)  # invalidates "once" caches
    if mutated is not None:
        mutated()
