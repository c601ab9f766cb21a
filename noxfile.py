"""Sessions: lint, typecheck, docs, and the test-suite on every real torch/torchvision pair.

``nox`` runs them all (this is what CI runs). ``nox -s "matrix(tv0.29.1)"`` runs one pair.

The matrix installs real torch/torchvision pairs from the package registry into virtual
environments outside the clone (``$TVCOMPAT_NOX_ENVDIR``, default ``~/.cache/tvcompat/nox``),
reused across runs: each pair is 2-5 GB, so it is installed once (a marker file records
what is installed) and only tvcompat itself is reinstalled afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ENVDIR = Path(os.environ.get("TVCOMPAT_NOX_ENVDIR", Path.home() / ".cache/tvcompat/nox"))
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
NEWEST = MATRIX[-1]
TEST_DEPS = [
    "truststore>=0.8; python_version >= '3.10'",
    "pytest>=7",
    "hypothesis>=6.50",
    "trustme>=1.0",
    "libcst>=1.0",
    "packaging",
    "certifi",
    "tqdm",
]


def pair_python(session: nox.Session, tv: str, torch: str, py: str) -> str:
    """The interpreter of the venv holding this pair, created and installed when missing."""
    venv = ENVDIR / f"tv{tv}-py{py}"
    python = venv / "bin" / "python"
    if not python.exists():
        pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        found = sorted(pyenv_root.glob(f"versions/{py}.*/bin/python{py}"))
        base = str(found[-1]) if found else f"python{py}"
        session.run_install(base, "-m", "venv", str(venv), external=True)
        session.run_install(str(python), "-m", "pip", "install", "-q", "-U", "pip", external=True)
    spec = [f"torch=={torch}", f"torchvision=={tv}", *TEST_DEPS]
    if tuple(int(p) for p in torch.split(".")[:2]) < (2, 3):
        spec.append("numpy<2")  # torch < 2.3 was built against numpy 1 (warns on import)
    marker = venv / ".tvcompat-pair"
    wanted = "\n".join(spec)
    if not marker.exists() or marker.read_text() != wanted:
        session.run_install(str(python), "-m", "pip", "install", "-q", *spec, external=True)
        marker.write_text(wanted)
    session.run_install(
        str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", ".", external=True
    )
    return str(python)


@nox.session(python=False)
@nox.parametrize(("tv", "torch", "py"), [nox.param(*m, id=f"tv{m[0]}") for m in MATRIX])
def matrix(session: nox.Session, tv: str, torch: str, py: str) -> None:
    """Run the test-suite on one real torch/torchvision pair (pytest's exit code 5, no tests
    collected, fails the session like any other non-zero code)."""
    python = pair_python(session, tv, torch, py)
    session.run(  # (skipped under --install-only)
        python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *session.posargs, external=True
    )


def _newest_with(session: nox.Session, *extra: str) -> str:
    python = pair_python(session, *NEWEST)
    session.run_install(python, "-m", "pip", "install", "-q", *extra, external=True)
    return python


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff (lint rules and formatting) on everything."""
    python = _newest_with(session, "ruff==0.17.6")
    paths = ["src", "tests", "benchmarks", "scripts", "noxfile.py"]
    session.run(python, "-m", "ruff", "check", *paths, external=True)
    session.run(python, "-m", "ruff", "format", "--check", *paths, external=True)


@nox.session(python=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (against the newest torch/torchvision)."""
    python = _newest_with(session, "mypy==2.4.1")
    session.run(python, "-m", "mypy", "--strict", "src/tvcompat", external=True)


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """Build the documentation with --strict."""
    python = _newest_with(
        session, "mkdocs==1.6.1", "mkdocs-material==9.8.2", "mkdocstrings-python==2.0.11"
    )
    session.run(
        python,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(Path(session.create_tmp()) / "site"),
        external=True,
    )


@nox.session(python=False)
def catalog(session: nox.Session) -> None:
    """Regenerate src/tvcompat/data/catalog.json from the real releases of the matrix, plus
    0.11.3 (which added EfficientNet and RegNet)."""
    pairs = [*MATRIX, ("0.11.3", "1.10.2", "3.9")]  # the script orders them by version
    pythons = [pair_python(session, *m) for m in pairs]
    session.run("python", "scripts/generate_catalog.py", *pythons, external=True)
    session.run("python", "scripts/generate_docs_tables.py", external=True)
