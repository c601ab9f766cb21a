"""``tvcompat run``'s bootstrap folder: :data:`BOOTSTRAP_DIR` holds the ``sitecustomize.py``
that ``tvcompat run`` puts first on ``PYTHONPATH``, so that every Python process the command
starts installs tvcompat when it imports torchvision (:mod:`.sitecustomize` says how).

This package is what ``tvcompat run`` and ``tvcompat doctor`` share: the environment the
command runs in (:func:`run_environment`) and what a process can tell about it
(:func:`run_state`). It imports nothing of tvcompat (nor torch or torchvision).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BOOTSTRAP_DIR",
    "OFF_VALUES",
    "RUN_VARIABLE",
    "bootstrap_on_pythonpath",
    "hook_waiting",
    "run_environment",
    "run_state",
]

#: the folder ``tvcompat run`` puts first on ``PYTHONPATH`` (it holds ``sitecustomize.py``)
BOOTSTRAP_DIR = os.path.dirname(os.path.abspath(__file__))
#: ``tvcompat run`` sets it to ``1``; ``0`` (or another of :data:`OFF_VALUES`) in a process's
#: environment opts that process out: the bootstrap then only chains to the next sitecustomize
RUN_VARIABLE = "TVCOMPAT_RUN"
#: values of :data:`RUN_VARIABLE` that opt out (compared lowercased, stripped); the
#: bootstrap's ``sitecustomize`` has the same set (it imports nothing of tvcompat)
OFF_VALUES = frozenset({"0", "false", "no", "off"})


def _is_bootstrap(entry: str) -> bool:
    return bool(entry) and os.path.normcase(os.path.abspath(entry)) == os.path.normcase(
        BOOTSTRAP_DIR
    )


def run_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables ``tvcompat run`` sets on top of ``env`` (default ``os.environ``):
    ``PYTHONPATH`` with :data:`BOOTSTRAP_DIR` first (once; the other entries kept as they
    are, empty ones included) and ``TVCOMPAT_RUN=1``."""
    env = os.environ if env is None else env
    current = env.get("PYTHONPATH", "")
    rest = [entry for entry in current.split(os.pathsep) if not _is_bootstrap(entry)]
    pythonpath = os.pathsep.join([BOOTSTRAP_DIR, *rest]) if current and rest else BOOTSTRAP_DIR
    return {"PYTHONPATH": pythonpath, RUN_VARIABLE: "1"}


def bootstrap_on_pythonpath(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``PYTHONPATH`` in ``env`` (default ``os.environ``) names :data:`BOOTSTRAP_DIR`."""
    env = os.environ if env is None else env
    return any(_is_bootstrap(e) for e in env.get("PYTHONPATH", "").split(os.pathsep))


def hook_waiting() -> bool:
    """Whether this process has the bootstrap's import hook still waiting for torchvision
    (it leaves ``sys.meta_path`` once it has installed tvcompat)."""
    return any(getattr(finder, "tvcompat_run_hook", False) is True for finder in sys.meta_path)


def run_state(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``tvcompat doctor`` reports about the install layer in this process and about the
    environment: ``installed`` (:func:`tvcompat.is_installed`, read without importing the
    install layer), ``tvcompat_run`` (the bootstrap is on ``PYTHONPATH`` and not opted out:
    Python processes started with this environment install tvcompat when they import
    torchvision), ``bootstrap``, ``bootstrap_on_pythonpath``, ``TVCOMPAT_RUN`` (its value
    or ``None``) and ``hook_waiting`` (:func:`hook_waiting`)."""
    env = os.environ if env is None else env
    install_layer = sys.modules.get("tvcompat._install")
    installed = bool(install_layer is not None and install_layer.is_installed())
    flag = env.get(RUN_VARIABLE)
    on_path = bootstrap_on_pythonpath(env)
    opted_out = flag is not None and flag.strip().lower() in OFF_VALUES
    return {
        "installed": installed,
        "tvcompat_run": on_path and not opted_out,
        "bootstrap": BOOTSTRAP_DIR,
        "bootstrap_on_pythonpath": on_path,
        RUN_VARIABLE: flag,
        "hook_waiting": hook_waiting(),
    }
