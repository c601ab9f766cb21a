"""Sessions: lint, typecheck, docs, and the test-suite on every real torch/torchvision pair.

``nox`` runs them all (this is what CI runs): the ``tests`` session runs every pair of the
matrix, two at a time. ``nox -s "matrix(tv0.29.1)"`` runs one pair.

The matrix installs real torch/torchvision pairs from the package registry into virtual
environments outside the clone (``$TVCOMPAT_NOX_ENVDIR``, default ``~/.cache/tvcompat/nox``),
reused across runs: each pair is 2-5 GB, so it is installed once (a marker file records
what is installed) and only tvcompat itself is reinstalled afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import nox

ENVDIR = Path(os.environ.get("TVCOMPAT_NOX_ENVDIR", Path.home() / ".cache/tvcompat/nox"))
nox.options.sessions = ["lint", "typecheck", "docs", "tests"]

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
    "pytest>=7.3",  # tmp_path_retention_policy
    "hypothesis>=6.50",
    "trustme>=1.0",
    "libcst>=1.0",
    "packaging",
    "certifi",
    "tqdm",
    "coverage[toml]==7.6.*",  # 7.6 supports Python 3.9-3.13, the whole matrix
]
#: the least branch coverage of tvcompat (percent) the newest pair's full run may reach
COVERAGE_FLOOR = 86  # measured 87 % (tv0.29.1, py3.11, fresh CI run of 2026-12-02)
#: real third-party packages that tests/test_third_party.py runs, per torchvision release of the
#: matrix: installed with ``pip install --no-deps`` (pip never replaces torch), each pinned
#: with exactly what it imports that the pair lacks (numpy, packaging, tqdm, typing_extensions
#: are there already).
THIRD_PARTY = {
    # torchmetrics 1.9.0 declares torch>=2.0 but runs on torch 1.11 once torchvision has the
    # 0.13 names (the case: `import torchmetrics` fails on 0.12 without tvcompat);
    # it imports lightning_utilities, numpy, packaging, typing_extensions. lpips 0.1.4
    # imports numpy, scipy (scipy.ndimage) and tqdm.
    "0.12.0": [
        "torchmetrics==1.9.0",
        "lightning-utilities==0.15.3",
        "lpips==0.1.4",
        "scipy==1.15.3",
    ],
    "0.29.1": [
        "torchmetrics==1.9.0",
        "lightning-utilities==0.15.3",
        "lpips==0.1.4",
        "scipy==1.17.1",
    ],
}


def pair_python(session: nox.Session, tv: str, torch: str, py: str) -> str:
    """The interpreter of the venv holding this pair, created and installed when missing."""
    return prepare_pair(lambda *args: session.run_install(*args, external=True), tv, torch, py)


def prepare_pair(run: Callable[..., Any], tv: str, torch: str, py: str) -> str:
    """Create and install the pair's venv when missing or outdated (each command through
    ``run``); return its interpreter."""
    venv = ENVDIR / f"tv{tv}-py{py}"
    python = venv / "bin" / "python"
    if not python.exists():
        run(base_python(py), "-m", "venv", str(venv))
        run(str(python), "-m", "pip", "install", "-q", "-U", "pip")
    spec = [f"torch=={torch}", f"torchvision=={tv}", *TEST_DEPS]
    if tuple(int(p) for p in torch.split(".")[:2]) < (2, 3):
        spec.append("numpy<2")  # torch < 2.3 was built against numpy 1 (warns on import)
    extra = THIRD_PARTY.get(tv, [])
    marker = venv / ".tvcompat-pair"
    wanted = "\n".join([*spec, *(f"--no-deps {pin}" for pin in extra)])
    if not marker.exists() or marker.read_text() != wanted:
        run(str(python), "-m", "pip", "install", "-q", *spec)
        if extra:
            run(str(python), "-m", "pip", "install", "-q", "--no-deps", *extra)
        dropped = _no_deps_names(marker) - _no_deps_names(wanted)
        if dropped:  # no longer listed: its tests must skip, not run an old pin
            run(str(python), "-m", "pip", "uninstall", "-q", "-y", *sorted(dropped))
        marker.write_text(wanted)
    run(str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", ".")
    return str(python)


def base_python(py: str) -> str:
    """The newest pyenv interpreter of Python ``py`` (else ``python<py>`` on the PATH)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(pyenv_root.glob(f"versions/{py}.*/bin/python{py}"))
    return str(found[-1]) if found else f"python{py}"


def _no_deps_names(marker: Path | str) -> set[str]:
    """The distributions a marker (its file, or its text) lists as installed ``--no-deps``."""
    if isinstance(marker, Path):
        marker = marker.read_text() if marker.exists() else ""
    prefix = "--no-deps "
    lines = marker.splitlines()
    return {line[len(prefix) :].split("==")[0] for line in lines if line.startswith(prefix)}


@nox.session(python=False)
@nox.parametrize(("tv", "torch", "py"), [nox.param(*m, id=f"tv{m[0]}") for m in MATRIX])
def matrix(session: nox.Session, tv: str, torch: str, py: str) -> None:
    """Run the test-suite on one real torch/torchvision pair (pytest's exit code 5, no tests
    collected, fails the session like any other non-zero code: ``coverage run`` exits with
    pytest's code).

    The newest pair runs it under ``coverage run --branch`` and fails below
    ``COVERAGE_FLOOR`` (a run narrowed by posargs only prints the report)."""
    python = pair_python(session, tv, torch, py)
    env = {"COVERAGE_FILE": str(Path(session.create_tmp()) / ".coverage"), **pair_env(tv)}
    for command in pair_commands(python, tv, list(session.posargs)):
        session.run(*command, env=env, external=True)  # (skipped under --install-only)


#: pairs on which tests/test_fast_build.py builds every builder both ways: one per fast-path
#: mechanism (torch < 2.0: NaN-filled pending tensors; 2.0: TorchFunctionMode; >= 2.1: also
#: assign= and mmap=); the other pairs build a sample of every family, which keeps a fresh
#: CI run within 45 minutes on 2 cores
FAST_BUILD_EVERY_BUILDER = ("0.13.1", "0.15.2", "0.29.1")


def pair_env(tv: str) -> dict[str, str]:
    """Environment variables of one pair's test run."""
    sweep = "all" if tv in FAST_BUILD_EVERY_BUILDER else "sample"
    return {"TVCOMPAT_TEST_FAST_BUILD": sweep}


def pair_commands(python: str, tv: str, posargs: list[str]) -> list[list[str]]:
    """The commands that test one pair: pytest, under ``coverage run`` for the newest."""
    pytest = ["-m", "pytest", "-p", "no:cacheprovider", "-q", *posargs]
    if tv != NEWEST[0]:
        return [[python, *pytest]]
    coverage = [python, "-m", "coverage"]
    floor = [] if posargs else [f"--fail-under={COVERAGE_FLOOR}"]
    return [
        [*coverage, "run", "--branch", "--source", "tvcompat", *pytest],
        [*coverage, "report", *floor],
    ]


#: pairs prepared and tested at once by the ``tests`` session (the machine has 2 cores)
JOBS = int(os.environ.get("TVCOMPAT_NOX_JOBS", "2"))


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Every pair of the matrix, ``JOBS`` at a time: each job installs its pair's venv when
    missing, then runs what ``matrix(tvX)`` runs; each pair's output is printed when it ends
    and the session fails if any pair failed (pytest's exit code 5 included)."""
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(JOBS) as pool:
        jobs = {m[0]: pool.submit(_test_pair, Path(tmp), *m, list(session.posargs)) for m in MATRIX}
        failed = []
        for tv, job in jobs.items():
            code, log = job.result()
            print(f"===== matrix(tv{tv}): exit {code} =====\n{log}", flush=True)  # noqa: T201
            if code:
                failed.append(f"tv{tv}")
    if failed:
        session.error(f"failed on {', '.join(failed)}")


def _test_pair(tmp: Path, tv: str, torch: str, py: str, posargs: list[str]) -> tuple[int, str]:
    log = tmp / f"tv{tv}.log"
    env = {**os.environ, "COVERAGE_FILE": str(tmp / f"tv{tv}.coverage"), **pair_env(tv)}
    with log.open("w") as out:

        def run(*args: str) -> None:
            out.write(f"$ {' '.join(args)}\n")
            out.flush()
            subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, env=env, check=True)

        try:
            python = prepare_pair(run, tv, torch, py)
            for command in pair_commands(python, tv, posargs):
                run(*command)
        except subprocess.CalledProcessError as exc:
            return exc.returncode or 1, log.read_text()
    return 0, log.read_text()


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


#: Every minor release the catalog is read from, 0.10 -> 0.29, each at its newest patch:
#: (torchvision, torch, python). The MATRIX pairs reuse their venvs; the others are installed
#: one at a time into a temporary venv, dumped, and removed (each is 2-7 GB).
CATALOG_RELEASES = [
    ("0.10.1", "1.9.1", "3.9"),
    ("0.11.3", "1.10.2", "3.9"),
    ("0.12.0", "1.11.0", "3.10"),
    ("0.13.1", "1.12.1", "3.10"),
    ("0.14.1", "1.13.1", "3.10"),
    ("0.15.2", "2.0.1", "3.11"),
    ("0.16.2", "2.1.2", "3.11"),
    ("0.17.2", "2.2.2", "3.11"),
    ("0.18.1", "2.3.1", "3.11"),
    ("0.19.1", "2.4.1", "3.11"),
    ("0.20.1", "2.5.1", "3.12"),
    ("0.21.0", "2.6.0", "3.11"),
    ("0.22.1", "2.7.1", "3.11"),
    ("0.23.0", "2.8.0", "3.11"),
    ("0.24.1", "2.9.1", "3.13"),
    ("0.25.0", "2.10.0", "3.11"),
    ("0.26.0", "2.11.0", "3.11"),
    ("0.27.1", "2.12.1", "3.11"),
    ("0.28.0", "2.13.0", "3.11"),
    ("0.29.1", "2.14.1", "3.11"),
]
GENERATOR = "scripts/generate_catalog.py"


def _catalog_releases(session: nox.Session) -> tuple[str, list[str]]:
    """The generator's interpreter and, per release, what it reads: the version when its
    dump is cached (``~/.cache/tvcompat/dumps``, keyed by release and dumper), else the
    interpreter of the pair's venv, else a temporary venv's after dumping it there."""
    python = pair_python(session, *NEWEST)
    matrix = {m[0]: m for m in MATRIX}
    releases = []
    for tv, torch, py in CATALOG_RELEASES:
        if subprocess.run([python, GENERATOR, "--has", tv], check=False).returncode == 0:
            releases.append(tv)
        elif tv in matrix:
            releases.append(pair_python(session, *matrix[tv]))
        else:
            _dump_in_temporary_venv(session, python, tv, torch, py)
            releases.append(tv)
    return python, releases


def _dump_in_temporary_venv(
    session: nox.Session, python: str, tv: str, torch: str, py: str
) -> None:
    venv = Path(tempfile.mkdtemp(prefix=f"tvcompat-catalog-tv{tv}-"))
    try:
        session.run(base_python(py), "-m", "venv", str(venv), external=True)
        spec = [f"torch=={torch}", f"torchvision=={tv}", "packaging"]
        if tuple(int(p) for p in torch.split(".")[:2]) < (2, 3):
            spec.append("numpy<2")  # torch < 2.3 was built against numpy 1
        # the registry's wheels only: a local wheel folder (pip's find-links) may hold a CPU
        # build of the same torch version, which this torchvision's wheel cannot load
        (venv / "no-find-links").mkdir()
        session.run(
            *(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *spec),
            env={"PIP_FIND_LINKS": str(venv / "no-find-links")},
            external=True,
        )
        session.run(python, GENERATOR, "--dump", str(venv / "bin" / "python"), external=True)
    finally:
        shutil.rmtree(venv, ignore_errors=True)


@nox.session(python=False)
def catalog(session: nox.Session) -> None:
    """Regenerate src/tvcompat/data/catalog.json from every minor release (CATALOG_RELEASES)
    and the docs tables from it."""
    python, releases = _catalog_releases(session)
    session.run(python, GENERATOR, *releases, external=True)
    session.run(python, "scripts/generate_docs_tables.py", external=True)


@nox.session(python=False)
def catalog_check(session: nox.Session) -> None:
    """Regenerate the catalog and the docs tables into a temporary directory and fail, with a
    summary of the differences, unless they equal the committed ones (not in the default run:
    from scratch it installs eleven releases; with the dumps cached it takes seconds)."""
    python, releases = _catalog_releases(session)
    session.run(python, GENERATOR, "--check", *releases, external=True)
