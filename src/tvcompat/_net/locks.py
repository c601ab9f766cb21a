"""Per-file download locks next to the cache, and the ``.partial`` files interrupted downloads
leave behind.

Only one process on a machine downloads a file while the others wait (``flock`` on a lock
file in `LOCK_DIR`, released by the kernel if its holder dies); the lock file records the
``.partial`` file its holder writes, so that a dead holder's file is known to be stale.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from tvcompat._net.paths import CORRUPT_SUFFIX, LOCK_DIR, PARTIAL_NAME, STALE_AFTER, not_writable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "PartialFile",
    "PartialState",
    "inspect_partial",
]


# --------------------------------------------------------------------------------------------
# One process per file: a lock next to the cache
# --------------------------------------------------------------------------------------------


class _Lock:
    """The per-file lock a download holds (``fd``; ``None`` where none could be taken). The
    lock file also records the name of the ``.partial`` file its holder writes, so that once
    the lock is free (its holder died: ``kill -9``, a crash), that file is known to be stale."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def owned_partial(self) -> str | None:
        """The ``.partial`` name the last holder recorded."""
        return _read_owner(self.fd) if self.fd is not None else None

    def record(self, partial: Path) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, partial.name.encode())


def _read_owner(fd: int) -> str | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace").strip() or None


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _lock_path(folder: Path, name: str) -> Path:
    return folder / LOCK_DIR / (name + ".lock")


@contextlib.contextmanager
def _file_lock(dst: Path, on_wait: Callable[[], None]) -> Iterator[_Lock]:
    """Hold an exclusive lock for ``dst`` (``flock``; released by the kernel if the holder
    dies). Where the filesystem refuses locks, or the lock folder is not ours to write while
    the cache folder is, go on without one: each process then downloads for itself, still
    atomically. A cache folder that cannot be written fails with a `DownloadError`."""
    try:
        lock_dir = dst.parent / LOCK_DIR
        lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(_lock_path(dst.parent, dst.name), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        if not _writable(dst.parent):
            raise not_writable(dst.parent, exc) from exc
        fd = None
    if fd is None:
        yield _Lock(None)
        return
    held = True
    try:
        if sys.platform == "win32":  # pragma: no cover - CI runs on Linux
            import msvcrt  # noqa: PLC0415 - Windows only

            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    on_wait()
                    time.sleep(0.2)
        else:
            import fcntl  # noqa: PLC0415 - POSIX only

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                held = False
        yield _Lock(fd if held else None)
    finally:
        os.close(fd)  # closing releases the lock


def _try_shared_lock(fd: int) -> bool | None:
    """Take a shared lock on ``fd`` without waiting: True (nobody holds it exclusively: no
    download runs), False (a download holds it), None (this file system has no locks)."""
    if sys.platform == "win32":  # pragma: no cover - CI runs on Linux
        import msvcrt  # noqa: PLC0415 - Windows only

        try:
            msvcrt.locking(fd, msvcrt.LK_NBRLCK, 1)
        except OSError:
            return False
        return True
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


# --------------------------------------------------------------------------------------------
# Interrupted downloads: stale .partial files
# --------------------------------------------------------------------------------------------


PartialState = Literal["running", "stale", "unclaimed", "gone"]


@dataclass(frozen=True)
class PartialFile:
    """What :func:`inspect_partial` found out about a ``.partial`` file."""

    #: ``running``: a download holds its lock; ``stale``: nothing will ever finish it (its
    #: download died, or it is unlocked and unchanged for `STALE_AFTER`); ``unclaimed``: no
    #: tvcompat download owns it, but it is recent (torch.hub's own download may be running);
    #: ``gone``: it disappeared meanwhile (its download finished)
    state: PartialState
    detail: str
    removed: bool = False
    #: why removing it failed
    error: str | None = None


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def inspect_partial(path: Path, *, remove: bool = False) -> PartialFile:
    """Whether the ``.partial`` file ``path`` belongs to a running download (its per-file lock
    is held), and ``remove`` it when it is stale (checked and removed under that lock, so a
    download that starts meanwhile is never disturbed)."""
    match = PARTIAL_NAME.match(path.name)
    target = match.group("name") if match else path.name[: -len(".partial")]
    try:
        fd: int | None = os.open(_lock_path(path.parent, target), os.O_RDONLY)
    except OSError:
        fd = None  # no lock file: no tvcompat download ever wrote this name
    try:
        owner = None
        if fd is not None:
            free = _try_shared_lock(fd)
            if free is False:
                return PartialFile("running", "a download in progress (its lock is held)")
            if free:  # (without locks, whether its writer is alive cannot be told)
                owner = _read_owner(fd)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return PartialFile("gone", "finished or removed meanwhile")
        if owner == path.name:
            state: PartialState = "stale"
            detail = "stale: an interrupted download (the process writing it is gone)"
        elif age > STALE_AFTER:
            state = "stale"
            detail = f"stale: no download owns it, unchanged for {_age(age)}"
        else:
            return PartialFile(
                "unclaimed",
                "not a running tvcompat download (another program's, e.g. torch.hub's?); "
                f"left alone until unchanged for {_age(STALE_AFTER)}",
            )
        if not remove:
            return PartialFile(state, detail)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            return PartialFile(state, detail, error=f"cannot remove it: {exc.strerror or exc}")
        return PartialFile(state, detail, removed=True)
    finally:
        if fd is not None:
            os.close(fd)


def _remove_stale_partials(dst: Path, lock: _Lock) -> None:
    """With ``dst``'s lock held: remove the ``.partial`` files of ``dst`` that the lock's
    previous holder left (it died), and unclaimed ones older than `STALE_AFTER`."""
    if lock.fd is None:
        return
    owner = lock.owned_partial()
    try:
        names = [p for p in dst.parent.iterdir() if p.name.startswith(dst.name + ".")]
    except OSError:
        return
    now = time.time()
    for path in names:
        match = PARTIAL_NAME.match(path.name)
        if match is None or match.group("name") != dst.name:
            continue
        with contextlib.suppress(OSError):
            if path.name == owner or now - path.stat().st_mtime > STALE_AFTER:
                path.unlink()


def _set_aside(dst: Path, seen: os.stat_result) -> None:
    """Rename the damaged ``dst`` to ``<name>.corrupt``, unless it was replaced since it was
    found damaged (``seen``): another process repaired it meanwhile."""
    try:
        now = dst.stat()
    except FileNotFoundError:
        return
    same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
        seen.st_dev,
        seen.st_ino,
        seen.st_size,
        seen.st_mtime_ns,
    )
    if not same or not stat.S_ISREG(now.st_mode):
        return
    try:
        os.replace(dst, dst.with_name(dst.name + CORRUPT_SUFFIX))
    except OSError as exc:
        raise not_writable(dst.parent, exc) from exc
