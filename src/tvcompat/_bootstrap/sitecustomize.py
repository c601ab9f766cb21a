"""``tvcompat run``'s bootstrap: Python imports this file as ``sitecustomize`` when it starts,
in every process ``tvcompat run`` starts, because its folder is first on ``PYTHONPATH``.

At start-up it

1. unless ``TVCOMPAT_RUN`` is ``0`` (``false``, ``no``, ``off``): arms :class:`TorchvisionHook`,
   a one-shot import hook that calls ``tvcompat.install()`` right after ``torchvision`` has
   finished importing (``torchvision/__init__.py`` imports ``torchvision.models``, so that is
   when code can first reach a builder), or installs at once if torchvision is already
   imported;
2. takes its own folder off ``sys.path`` (``PYTHONPATH`` keeps it, for child processes);
3. runs the ``sitecustomize`` that would have run without ``tvcompat run`` (the next one on
   ``sys.path``), as ``sitecustomize``, so a site's or a virtualenv's customisation still
   happens. An error in it is reported by ``site`` exactly as it would be without
   ``tvcompat run``.

Start-up costs almost nothing: only the standard library's ``os``, ``sys`` and
``importlib.machinery`` are imported, and a process that never imports torchvision never
imports tvcompat. The hook never breaks the interpreter: if installing fails (tvcompat cannot
be imported in this Python, or ``install()`` raises), one line goes to stderr and torchvision
runs as it is.

Nothing happens when this module is imported under any other name
(``tvcompat._bootstrap.sitecustomize``).
"""

from __future__ import annotations

import os
import sys
from importlib._bootstrap import module_from_spec
from importlib.machinery import PathFinder

TYPE_CHECKING = False  # ``typing`` costs milliseconds at every start; mypy reads it as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

__all__ = ["TorchvisionHook", "chain", "install_tvcompat"]

#: the folder this file is in: tvcompat's bootstrap folder
HERE = os.path.normcase(os.path.dirname(os.path.abspath(__file__)))
#: values of TVCOMPAT_RUN that opt a process out (tvcompat._bootstrap.OFF_VALUES)
OFF_VALUES = frozenset({"0", "false", "no", "off"})


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"tvcompat run: warning: {message}\n")
        sys.stderr.flush()
    except Exception:  # no usable stderr (pythonw): say nothing
        return


def install_tvcompat() -> bool:
    """``tvcompat.install()``; on any failure one warning line on stderr, never an error."""
    try:
        from tvcompat._install import install  # noqa: PLC0415 - only once torchvision is imported

        install()
    except Exception as exc:
        _warn(f"torchvision runs without tvcompat in {sys.executable}: {type(exc).__name__}: {exc}")
        return False
    return True


class _ChainedLoader:
    """Stands in for a loader whose ``exec_module`` cannot be replaced on the object itself
    (no ``__dict__``); everything but ``exec_module`` is the wrapped loader's."""

    def __init__(self, loader: Any, exec_module: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.exec_module = exec_module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class TorchvisionHook:
    """A ``sys.meta_path`` finder that finds nothing itself. When ``torchvision`` is about to
    be imported it asks the finders after it for the spec, and makes that spec's loader call
    :func:`install_tvcompat` once ``torchvision``'s ``__init__`` has run: the loader object's
    own ``exec_module`` is shadowed for that one call (its class is untouched and the module's
    ``__loader__`` stays the real loader), then the hook leaves ``sys.meta_path``. If
    torchvision's import fails the hook stays, for the next attempt."""

    #: how ``tvcompat doctor`` recognises the hook (tvcompat._bootstrap.hook_waiting)
    tvcompat_run_hook = True

    def __init__(self) -> None:
        self._searching = False

    def __repr__(self) -> str:
        return "<tvcompat run: installs tvcompat when torchvision is imported>"

    def remove(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "torchvision" or self._searching:
            return None
        try:
            return self._hooked_spec(fullname, path, target)
        except Exception as exc:  # the import itself must go on as it would without the hook
            _warn(f"cannot watch the import of torchvision: {type(exc).__name__}: {exc}")
            self.remove()
            return None

    def _hooked_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        self._searching = True
        spec: ModuleSpec | None = None
        try:
            finders = list(sys.meta_path)
            after = finders.index(self) + 1 if self in finders else 0
            for finder in finders[after:]:  # those before this hook have already said no
                find_spec = getattr(finder, "find_spec", None)
                if find_spec is None:
                    continue
                try:
                    spec = find_spec(fullname, path, target)
                except Exception:  # the import system asks it again next, and so raises
                    return None
                if spec is not None:
                    break
        finally:
            self._searching = False
        loader = spec.loader if spec is not None else None
        original = getattr(loader, "exec_module", None)
        if spec is None or loader is None or original is None:
            return None  # not found, a namespace package, or a legacy loader: the import goes on
        hooked: ModuleSpec = spec
        shadowed = (
            not isinstance(loader, type)
            and hasattr(loader, "__dict__")
            and "exec_module" not in loader.__dict__
        )

        def exec_module(module: ModuleType) -> None:
            if getattr(module, "__spec__", None) is not hooked:  # a loader shared with others
                original(module)
                return
            if shadowed:
                loader.__dict__.pop("exec_module", None)
            else:
                hooked.loader = loader
                if getattr(module, "__loader__", None) is wrapper:
                    module.__loader__ = loader
            original(module)  # torchvision's __init__, which imports torchvision.models
            self.remove()
            install_tvcompat()

        wrapper: Any = None
        if shadowed:
            setattr(loader, "exec_module", exec_module)  # noqa: B010 - this one object only
        else:
            wrapper = _ChainedLoader(loader, exec_module)
            spec.loader = wrapper
        return spec


def _is_here(entry: object) -> bool:
    return (
        isinstance(entry, str) and bool(entry) and os.path.normcase(os.path.abspath(entry)) == HERE
    )


def chain(path: Sequence[str]) -> None:
    """Run the first ``sitecustomize`` on ``path`` outside this folder, as ``sitecustomize``;
    its exceptions propagate to ``site``, which reports them as it always does."""
    spec = PathFinder.find_spec("sitecustomize", [p for p in path if not _is_here(p)])
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _main() -> None:
    try:
        flag = os.environ.get("TVCOMPAT_RUN")
        if flag is None or flag.strip().lower() not in OFF_VALUES:
            if "torchvision" in sys.modules:  # imported by a .pth file
                install_tvcompat()
            else:
                sys.meta_path.insert(0, TorchvisionHook())
        sys.path[:] = [p for p in sys.path if not _is_here(p)]
    except Exception as exc:  # never an error at start-up
        _warn(f"cannot set up the install hook: {type(exc).__name__}: {exc}")
    chain(sys.path)


if __name__ == "sitecustomize":
    _main()
