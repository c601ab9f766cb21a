"""Files for ``tvcompat migrate``: migrate one (:func:`migrate_file`, replaced atomically),
and find them under folders (:func:`python_files`)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from tvcompat._migrate.codemod import _Migrator
from tvcompat._migrate.results import FileResult
from tvcompat.errors import MissingFileError

__all__ = ["migrate_file", "python_files"]

#: folders never searched
_SKIP_DIRS = {"__pycache__", "site-packages", "node_modules"}


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` via a temporary file in the same folder: readers see the
    old or the new file, never a part of it; on any failure the old one stays."""
    real = Path(os.path.realpath(path))
    mode = stat.S_IMODE(real.stat().st_mode)
    fd, temp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tvcompat-tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def migrate_file(path: Path, *, target: str = "shim", write: bool = False) -> FileResult:
    """Migrate one file (``write``: replace it when anything changes)."""
    result = FileResult(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result
    if b"torchvision" not in data:
        module = None
    else:
        try:
            module = cst.parse_module(data)
        except cst.ParserSyntaxError as exc:
            result.error = f"cannot parse: {exc.message} (line {exc.raw_line})"
            return result
    if module is None:
        text = data.decode("utf-8", errors="replace")
        result.before = result.after = text
        return result
    result.before = module.code
    migrator = _Migrator(CodemodContext(filename=str(path)), target)
    new = migrator.transform_module(module)
    result.after = new.code
    result.findings = sorted(migrator.findings, key=lambda f: (f.line, f.column))
    if write and result.changed:
        try:
            _write_atomically(path, new.bytes)
        except OSError as exc:
            result.error = f"cannot write: {exc.strerror or exc}"
            return result
        result.written = True
    return result


def python_files(paths: Iterable[Path]) -> list[Path]:
    """The files to migrate: files as given, folders searched for ``*.py`` (hidden folders,
    ``__pycache__`` and ``site-packages`` skipped)."""
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                out += [Path(root) / f for f in sorted(files) if f.endswith(".py")]
        else:
            raise MissingFileError(f"{path}: no such file or folder")
    return out
