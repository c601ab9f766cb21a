"""Helpers for the fault tests: child processes that obey file modes even when the tests run
as root, and the environment they run in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tvcompat

#: what root must give up so that mode bits bind it (chmod 000 / a 0555 folder)
_DAC_CAPS = "-dac_override,-dac_read_search,-fowner"


def unprivileged() -> list[str]:
    """A command prefix under which file modes are obeyed: nothing for a normal user; for
    root, ``setpriv`` without the capabilities that bypass them (root stays the owner of
    the files, so everything else works as before). Skips the test where root has no
    ``setpriv``."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot make a file unreadable")
    return [setpriv, f"--bounding-set={_DAC_CAPS}", "--"]


def child_env(torch_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: tvcompat importable, a private TORCH_HOME, no
    tvcompat setting but those in ``extra``, and no proxy for loopback."""
    src = str(Path(tvcompat.__file__).parent.parent)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TVCOMPAT_") and k.lower() not in ("https_proxy", "http_proxy")
    }
    env.update(
        PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        TORCH_HOME=str(torch_home),
        NO_PROXY="127.0.0.1,localhost",
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def run_child(
    args: list[str], env: dict[str, str], *, as_owner_only: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` (``as_owner_only``: under :func:`unprivileged`)."""
    prefix = unprivileged() if as_owner_only else []
    return subprocess.run(
        [*prefix, sys.executable, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )
