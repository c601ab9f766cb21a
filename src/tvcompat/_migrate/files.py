"""Files for ``tvcompat migrate``: migrate one (:func:`migrate_file`, replaced atomically) or
many (:func:`migrate_files`: all checked before any is written), and find them under
folders (:func:`python_files`)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from tvcompat._migrate.codemod import _Migrator
from tvcompat._migrate.results import FileResult
from tvcompat.errors import MissingFileError

__all__ = ["migrate_file", "migrate_files", "python_files"]

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


def _not_writable(path: Path) -> str | None:
    """Why ``path`` must not be rewritten, from its mode bits (as root the write would
    succeed whatever they say) and this user's access, or ``None``."""
    real = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(real.stat().st_mode)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return (
            f"the file is read-only (mode {mode:04o}); left alone: make it writable "
            "(chmod u+w) to migrate it"
        )
    if not os.access(real, os.W_OK):
        return "this user may not write it; left alone"
    if not os.access(real.parent, os.W_OK | os.X_OK):
        return f"its folder {real.parent} is not writable (the new file is written next to it)"
    return None


def _parse_error(exc: Exception) -> str:
    if isinstance(exc, cst.ParserSyntaxError):
        return f"cannot parse: {exc.message} (line {exc.raw_line}); left alone"
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start : exc.start + 1].hex()
        return (
            f"cannot decode: not {exc.encoding} text (byte 0x{byte} at offset {exc.start}), "
            "the encoding its coding line declares or UTF-8; left alone"
        )
    return f"cannot parse: {exc} (not Python source text, or a binary file); left alone"


def _plan(path: Path, target: str, write: bool) -> tuple[FileResult, bytes | None]:
    """Read, parse and rewrite ``path`` in memory; return what was found and the new bytes
    to write (``None``: nothing to write, or it cannot be written: ``error`` says why)."""
    result = FileResult(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result, None
    if b"torchvision" not in data:
        text = data.decode("utf-8", errors="replace")
        result.before = result.after = text
        return result, None
    try:
        module = cst.parse_module(data)
    except (cst.ParserSyntaxError, SyntaxError, ValueError) as exc:
        # ValueError: UnicodeDecodeError; SyntaxError: no or an unknown encoding declared
        result.error = _parse_error(exc)
        return result, None
    result.before = module.code
    migrator = _Migrator(CodemodContext(filename=str(path)), target)
    new = migrator.transform_module(module)
    result.after = new.code
    result.findings = sorted(migrator.findings, key=lambda f: (f.line, f.column))
    if not (write and result.changed):
        return result, None
    problem = _not_writable(path)
    if problem is not None:
        result.error = f"cannot write: {problem}"
        return result, None
    return result, new.bytes


def _write(result: FileResult, data: bytes) -> None:
    try:
        _write_atomically(result.path, data)
    except OSError as exc:
        result.error = f"cannot write: {exc.strerror or exc}"
        return
    result.written = True


def migrate_file(path: Path, *, target: str = "shim", write: bool = False) -> FileResult:
    """Migrate one file (``write``: replace it when anything changes). A file that cannot be
    read, decoded, parsed or written (read-only by its mode bits, also for root) is left
    alone, with ``error`` saying why."""
    result, data = _plan(path, target, write)
    if data is not None:
        _write(result, data)
    return result


def migrate_files(
    paths: Sequence[Path], *, target: str = "shim", write: bool = False
) -> list[FileResult]:
    """Migrate ``paths``: every file is read, parsed, rewritten in memory and, with
    ``write``, checked for being writable before any is written, so that a file that cannot
    be migrated (reported in its ``error``, left alone) never stops the job half-way."""
    planned = [_plan(path, target, write) for path in paths]
    for result, data in planned:
        if data is not None:
            _write(result, data)
    return [result for result, _ in planned]


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
