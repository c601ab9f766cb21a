"""Putting one weights file into the torch hub cache: mirror, offline, timeout, lock, checks.

The transfer itself mirrors ``torch.hub.download_url_to_file`` (User-Agent ``torch.hub``, the
global urllib opener, so proxies from ``*_proxy`` and ``install_opener`` apply; a tqdm bar;
128 KiB reads into one reused buffer; a ``<name>.<uuid>.partial`` file renamed into place) and
adds what it lacks: a timeout, a length check, the hash check for every file that has a usable
hash, errors that say what to do, and a per-file lock so that only one process on a machine
downloads a file while the others wait and then use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable
from urllib.parse import unquote, urlsplit

from tvcompat import _catalog, _settings
from tvcompat._net import tls as _ssl
from tvcompat._net.hashes import Expectation, expectation
from tvcompat._net.locks import _file_lock, _Lock, _remove_stale_partials, _set_aside
from tvcompat._net.paths import OFFICIAL_HOSTS, READ_CHUNK, USER_AGENT, not_writable
from tvcompat.errors import DownloadError

__all__ = [
    "Source",
    "can_download",
    "entry_label",
    "fetch",
    "mirror_folder",
    "sources",
]


# --------------------------------------------------------------------------------------------
# Where a file comes from
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One place to get a file from: a URL, or a file in a local mirror folder."""

    location: str
    local: bool

    def __str__(self) -> str:
        return self.location


def _mirror_is_url(mirror: str) -> bool:
    return urlsplit(mirror).scheme.lower() in ("http", "https")


def _mirror_folder(mirror: str) -> Path:
    parts = urlsplit(mirror)
    if parts.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(unquote(parts.path)))
    return Path(os.path.expanduser(mirror))


def mirror_folder(mirror: str) -> Path | None:
    """The local folder a mirror setting names (a path or a ``file:`` URL); ``None`` for an
    http(s) mirror."""
    return None if _mirror_is_url(mirror) else _mirror_folder(mirror)


def sources(url: str, mirror: str | None) -> list[Source]:
    """Where to look for ``url``'s file, in order.

    Without a mirror, or for a URL not on an official host: the URL itself. With a mirror
    (base URL or folder), the official host is replaced, the path kept, then the bare file
    name is tried: ``<mirror>/models/resnet18-f37072fd.pth``, then
    ``<mirror>/resnet18-f37072fd.pth``. The official host is never contacted then.
    """
    parts = urlsplit(url)
    if mirror is None or (parts.hostname or "").lower() not in OFFICIAL_HOSTS:
        return [Source(url, local=False)]
    relative = parts.path.lstrip("/")
    names = [relative, os.path.basename(relative)] if "/" in relative else [relative]
    if _mirror_is_url(mirror):
        base = mirror.rstrip("/")
        return [Source(f"{base}/{name}", local=False) for name in names]
    folder = _mirror_folder(mirror)
    return [Source(str(folder.joinpath(*name.split("/"))), local=True) for name in names]


# --------------------------------------------------------------------------------------------
# The transfer
# --------------------------------------------------------------------------------------------


def _temp_path(dst: Path) -> Path:
    return dst.with_name(f"{dst.name}.{uuid.uuid4().hex}.partial")


def _progress_bar(total: int | None, progress: bool) -> Any:
    from torch.hub import tqdm  # type: ignore[attr-defined]  # noqa: PLC0415 - torch is heavy: lazy

    return tqdm(total=total, disable=not progress, unit="B", unit_scale=True, unit_divisor=1024)


def _copy(
    read_into: Callable[[memoryview], int],
    out: IO[bytes],
    total: int | None,
    digest: Any,
    progress: bool,
) -> int:
    """Copy until EOF in READ_CHUNK pieces through one buffer; return the byte count."""
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    done = 0
    with _progress_bar(total, progress) as bar:
        while True:
            n = read_into(view)
            if not n:
                break
            chunk = view[:n]
            out.write(chunk)
            if digest is not None:
                digest.update(chunk)
            done += n
            bar.update(n)
    return done


def _describe_network_error(exc: BaseException, url: str, timeout: float) -> str:
    host = urlsplit(url).hostname or url
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason} for {url}"
    if isinstance(reason, ssl.SSLCertVerificationError):
        policy = _ssl.active_policy()
        scope = f"under {policy.description}" if policy else "with Python's default trust store"
        return (
            f"could not verify the certificate of {host} ({reason}; CERTIFICATE_VERIFY_FAILED) "
            f"{scope} while downloading {url}. If a proxy of your organisation intercepts "
            "TLS, use `with tvcompat.cafile_downloads(cafile='its-ca.pem'):`; if this Python "
            "lacks root certificates (python.org installs on macOS), use "
            "tvcompat.certifi_downloads() or tvcompat.truststore_downloads(). See the "
            "'Downloading weights behind proxies, mirrors and broken certificates' docs page."
        )
    if isinstance(reason, (socket.timeout, TimeoutError)):
        source = _settings.get_setting("download_timeout").source
        return (
            f"no data from {host} for {timeout:g} s while downloading {url} (download timeout "
            f"from {source}; set TVCOMPAT_DOWNLOAD_TIMEOUT or "
            "tvcompat.set_download_timeout() to change it)"
        )
    if isinstance(reason, (ConnectionError, http.client.IncompleteRead)):
        return f"the connection to {host} broke while downloading {url} ({reason!r})"
    return f"could not download {url}: {reason}"


def _open_source(source: Source, timeout: float) -> tuple[Any, int | None]:
    """Open ``source``; return a binary stream and its announced length."""
    if source.local:
        stream = open(source.location, "rb", buffering=0)  # noqa: SIM115 - closed by caller
        return stream, os.fstat(stream.fileno()).st_size
    request = urllib.request.Request(source.location, headers={"User-Agent": USER_AGENT})
    response = urllib.request.urlopen(request, timeout=timeout)
    length = response.headers.get("Content-Length")
    try:
        return response, int(length) if length is not None else None
    except ValueError:
        return response, None


def _transfer(
    source: Source, dst: Path, expect: Expectation, progress: bool, timeout: float, *, lock: _Lock
) -> None:
    """Copy ``source`` to ``dst`` through a ``.partial`` file: all of it, checked, or nothing."""
    temp = _temp_path(dst)
    digest = hashlib.sha256() if expect.checkable else None
    lock.record(temp)  # first: a process killed after this line leaves a known-stale file
    try:
        out_file = open(temp, "xb")  # noqa: SIM115 - closed by the with block below
    except OSError as exc:
        raise not_writable(dst.parent, exc) from exc
    try:
        with out_file as out:
            try:
                stream, total = _open_source(source, timeout)
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()  # it holds the connection; the error stays readable
                if source.local:
                    raise DownloadError(f"could not read {source}: {exc}") from exc
                raise DownloadError(_describe_network_error(exc, source.location, timeout)) from exc
            with stream:
                try:
                    done = _copy(stream.readinto, out, total, digest, progress)
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(
                        _describe_network_error(exc, source.location, timeout)
                    ) from exc
        if total is not None and done != total:
            raise DownloadError(
                f"incomplete download of {source}: got {done} of {total} bytes (the "
                "connection was closed early); nothing was cached, try again"
            )
        if digest is not None:
            got = digest.hexdigest()
            if not expect.accepts(got):
                raise DownloadError(
                    f'invalid hash value (expected {expect.describe()}, got "{got}") for '
                    f"{source}: the file is not the one its name promises (corrupted or "
                    "tampered with on the way, or a wrong file on the mirror); it was not "
                    "cached"
                )
        try:
            os.replace(temp, dst)
        except OSError as exc:
            raise not_writable(dst.parent, exc) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def _not_found(err: BaseException) -> bool:
    if isinstance(err, DownloadError):
        cause = err.__cause__
        return isinstance(cause, FileNotFoundError) or (
            isinstance(cause, urllib.error.HTTPError) and cause.code in (403, 404, 410)
        )
    return False


def can_download(url: str) -> bool:
    """Whether :func:`fetch` may get ``url``'s file now: not offline, or from a local-folder
    mirror."""
    if not _settings.offline():
        return True
    return any(s.local for s in sources(url, _settings.mirror()))


def fetch(
    url: str,
    dst: Path,
    *,
    progress: bool,
    announce: Callable[[str], object],
    damaged: os.stat_result | None = None,
) -> None:
    """Bring ``url``'s file to ``dst`` (already known to be missing, or ``damaged``: the
    file found damaged, set aside as ``<name>.corrupt`` under the lock unless another process
    replaced it meanwhile) under the lock. Stale ``.partial`` files of ``dst`` are removed
    first."""
    mirror = _settings.mirror()
    candidates = sources(url, mirror)
    if _settings.offline():
        candidates = [s for s in candidates if s.local]
        if not candidates:
            raise DownloadError(_offline_message(url, dst, mirror))
    timeout = _settings.download_timeout()
    expect = expectation(dst.name)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise not_writable(dst.parent, exc) from exc

    def waiting() -> None:
        if progress:
            announce(f"Waiting for another process to download {dst.name} to {dst.parent}\n")

    with _file_lock(dst, waiting) as lock:
        _remove_stale_partials(dst, lock)
        if damaged is not None:
            _set_aside(dst, damaged)
        if dst.exists():  # another process brought it while we waited
            return
        failures: list[DownloadError] = []
        for source in candidates:
            if source.local and not os.path.exists(source.location):
                failures.append(DownloadError(f"no file {source}"))
                continue
            if progress:
                via = "" if source.location == url else f' (mirror of "{url}")'
                announce(f'Downloading: "{source}"{via} to {dst}\n')
            try:
                _transfer(source, dst, expect, progress, timeout, lock=lock)
            except DownloadError as exc:
                if len(candidates) > 1 and _not_found(exc):
                    failures.append(exc)
                    continue
                raise
            return
        tried = "; ".join(str(f) for f in failures)
        if _settings.offline():
            raise DownloadError(f"{_offline_message(url, dst, mirror)} Tried: {tried}.")
        raise DownloadError(
            f"the weights mirror {mirror} has no {dst.name} (tried: {tried}). Put the file "
            "there (same name), or unset the mirror (TVCOMPAT_WEIGHTS_MIRROR / "
            "tvcompat.set_mirror(None))."
        )


def _offline_message(url: str, dst: Path, mirror: str | None) -> str:
    source = _settings.get_setting("offline").source
    entry = entry_label(dst.name)
    what = f"{dst.name} ({entry})" if entry else dst.name
    mirror_note = (
        f" The mirror {mirror} is a URL, which offline mode does not reach."
        if mirror is not None and _mirror_is_url(mirror)
        else ""
    )
    command = f"tvcompat download MODEL --weights {entry}" if entry else "tvcompat download MODEL"
    return (
        f"offline mode is on ({source}) and the weights file {what} is not in the torch hub "
        f"cache: {dst} is missing.{mirror_note} On a machine with network access run "
        f"`{command}` or `tvcompat.prefetch(MODEL, ...)` and copy the file to {dst}, or "
        f"point TVCOMPAT_WEIGHTS_MIRROR at a local folder that holds it (official URL: {url})."
    )


def entry_label(name: str) -> str | None:
    """``"ResNet18_Weights.IMAGENET1K_V1"`` for a known weights file name, else None."""
    index = _catalog.filename_index()
    found = index.get(name)
    return f"{found[0]}.{found[1]}" if found else None
