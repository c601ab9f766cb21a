"""The install layer: ``tvcompat.install()`` makes the installed torchvision behave like every
torchvision at once, for code that imports torchvision directly; ``tvcompat.uninstall()``
puts back every attribute and ``sys.modules`` entry it changed, by identity.

Nothing here runs at ``import tvcompat``: only an explicit call (or ``tvcompat run``)
changes torchvision.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tvcompat import _deprecations
from tvcompat._install.builders import patch_builders
from tvcompat._install.new_api import add_new_api
from tvcompat._install.patcher import Patcher
from tvcompat._install.removed import restore_removed

__all__ = ["InstallReport", "install", "installed", "is_installed", "uninstall"]


@dataclass(frozen=True)
class InstallReport:
    """What :func:`install` changed (counts), for ``tvcompat doctor``."""

    builders: int
    new_api_names: int
    removed_apis: int
    silenced_deprecations: bool


_lock = threading.RLock()
_patcher: Patcher | None = None
_report: InstallReport | None = None
_silenced = False


def install() -> InstallReport:
    """Make the installed torchvision take legacy and new arguments alike (every builder, in
    every module code imports it from, and ``get_model``), add the new-API names old
    releases lack (weights enums, ``get_model`` & co, ``WeightsEnum``), serve the modules
    and ``model_urls`` dicts newer releases removed, and silence torchvision's deprecation
    warnings for the process. Idempotent: a second call changes nothing and returns the
    first call's report. Undone exactly by :func:`uninstall`."""
    global _patcher, _report, _silenced  # noqa: PLW0603 - the one process-wide install
    with _lock:
        if _patcher is not None and _report is not None:
            return _report
        patcher = Patcher()
        try:
            builders = patch_builders(patcher)
            names = add_new_api(patcher)
            removed = restore_removed(patcher)
        except BaseException:
            patcher.undo()  # never half-installed
            raise
        _silenced = _deprecations.silence_deprecations_globally()
        _patcher = patcher
        _report = InstallReport(builders, names, removed, _silenced)
        return _report


def uninstall() -> bool:
    """Undo :func:`install`; return whether it was installed."""
    global _patcher, _report, _silenced
    with _lock:
        if _patcher is None:
            return False
        _patcher.undo()
        if _silenced:
            _deprecations.restore_deprecations()
        _patcher, _report, _silenced = None, None, False
        return True


def is_installed() -> bool:
    """Whether :func:`install` is in effect in this process."""
    return _patcher is not None


@contextlib.contextmanager
def installed() -> Iterator[InstallReport]:
    """:func:`install` for the block, then :func:`uninstall` (if the block installed it)."""
    already = is_installed()
    report = install()
    try:
        yield report
    finally:
        if not already:
            uninstall()
