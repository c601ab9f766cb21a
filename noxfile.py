"""Sessions: lint, typecheck, docs, tests (current interpreter) and the real-version matrix.

The matrix installs real torch/torchvision pairs from the package registry. Virtual
environments live outside the clone (``$TVCOMPAT_NOX_ENVDIR``, default
``~/.cache/tvcompat/nox``) and are reused across runs: each pair is 2-5 GB, so they are
installed once and only tvcompat itself is reinstalled afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.envdir = os.environ.get(
    "TVCOMPAT_NOX_ENVDIR", str(Path.home() / ".cache" / "tvcompat" / "nox")
)
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "docs", "matrix"]

#: (torchvision, torch, python) pairs the test-suite must pass on.
MATRIX = [
    ("0.10.1", "1.9.1", "3.9"),
    ("0.12.0", "1.11.0", "3.10"),
    ("0.13.1", "1.12.1", "3.10"),
    ("0.14.1", "1.13.1", "3.10"),
    ("0.15.2", "2.0.1", "3.11"),
    ("0.16.2", "2.1.2", "3.11"),
    ("0.20.1", "2.5.1", "3.12"),
    ("0.24.1", "2.9.1", "3.13"),
    ("0.29.1", "2.14.1", "3.11"),
]
TEST_DEPS = ["pytest>=7", "hypothesis>=6.50", "trustme>=1.0", "libcst>=1.0"]


@nox.session(python=False)
@nox.parametrize(
    ("tv", "torch", "py"), [nox.param(*m, id=f"tv{m[0]}") for m in MATRIX]
)
def matrix(session: nox.Session, tv: str, torch: str, py: str) -> None:
    """Run the test-suite on one real torch/torchvision pair."""
    venv = Path(nox.options.envdir) / f"tv{tv}-py{py}"
    python = venv / "bin" / "python"
    if not python.exists():
        pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        candidates = sorted(pyenv_root.glob(f"versions/{py}.*/bin/python{py}"))
        base = str(candidates[-1]) if candidates else f"python{py}"
        session.run_install(base, "-m", "venv", str(venv), external=True)
        session.run_install(str(python), "-m", "pip", "install", "-q", "-U", "pip", "hatchling",
                    external=True)
    spec = [f"torch=={torch}", f"torchvision=={tv}", *TEST_DEPS, "packaging", "certifi"]
    if int(torch.split(".")[0]) < 2:
        spec.append("numpy<2")
    marker = venv / ".tvcompat-pair"
    wanted = "\n".join(spec)
    if not marker.exists() or marker.read_text() != wanted:
        session.run_install(str(python), "-m", "pip", "install", "-q", *spec, external=True)
        marker.write_text(wanted)
    session.run_install(str(python), "-m", "pip", "install", "-q", "--no-deps",
                "-e", ".", external=True)
    if session.install_only:
        return
    session.run(str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q",
                *session.posargs, external=True)
