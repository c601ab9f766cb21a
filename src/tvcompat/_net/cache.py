"""The torch hub cache: putting a weights file there (:func:`ensure_cached`), checking it
(:func:`verify_cache`) and the one loader of a cached weights file (:func:`load_state_dict`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

from tvcompat import _catalog, _settings
from tvcompat._net import fetch as _fetch
from tvcompat._net import locks as _locks
from tvcompat._net import paths as _paths
from tvcompat._net import safety
from tvcompat._net.hashes import KNOWN_WRONG_NAMES, expectation, sha256_of
from tvcompat.errors import (
    DownloadError,
    InvalidArgumentError,
    TvcompatError,
    UnsafeWeightsFileError,
)

__all__ = [
    "CachedFile",
    "Status",
    "ensure_cached",
    "ensure_checked",
    "load_state_dict",
    "load_state_dict_from_url",
    "verify_cache",
]

T = TypeVar("T")
_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX for check_hash=True


def ensure_cached(url: str, *, progress: bool = True) -> Path:
    """Return ``<torch.hub.get_dir()>/checkpoints/<file name of url>``, downloading the file
    first if it is not there, so that torch.hub/torchvision then load it without network.

    * A file already in the cache is returned as is, without network and without re-reading
      it (as torch.hub does); `verify_cache()` checks cached files.
    * With a mirror set (`set_mirror()`, ``TVCOMPAT_WEIGHTS_MIRROR``), files of
      ``download.pytorch.org`` come from the mirror (a base URL or a local folder: first
      ``<mirror>/<path of the official URL>``, e.g. ``<mirror>/models/x-1234abcd.pth``, then
      ``<mirror>/<file name>``), never from the official host.
    * In offline mode (`set_offline()`, ``TVCOMPAT_OFFLINE=1``) a missing file fails at
      once with a `DownloadError` naming the file, the cache path and
      how to prefetch it; a local-folder mirror is still used.
    * Each read may stall at most the download timeout (`set_download_timeout()`,
      ``TVCOMPAT_DOWNLOAD_TIMEOUT``, 60 s by default); torch.hub has none.
    * The data goes to a ``.partial`` file that is renamed into place only when complete (the
      announced length) and, when the name carries a ``-<sha256 prefix>`` (torch.hub's
      ``check_hash`` rule), when its sha256 starts with it. Names with no such segment (some
      quantized files) can only be length-checked; names known to carry a wrong prefix
      (``KNOWN_WRONG_NAMES``, pytorch/vision#8036) are accepted with the right one. On
      any failure nothing is left in the cache and a
      `DownloadError` says why.
    * One process per machine downloads a given file (a lock next to the cache); others,
      e.g. the other ranks of a ``torch.distributed`` job, wait and then use it. The
      ``.partial`` file a killed download left behind is removed when the next download of
      that file starts. A cache folder that cannot be written, or a folder under the file's
      name, raises a `DownloadError` naming it and the fix.
    * The certificate policy of the scope active in this thread applies
      (`cafile_downloads()` ...). ``progress`` shows torch.hub's tqdm bar on stderr.
    """
    dst = _paths.cache_path(url)
    try:
        found = dst.stat()
    except (FileNotFoundError, NotADirectoryError):
        found = None  # (a file where a folder should be: the download says so)
    except OSError as exc:
        raise _unreadable(dst, exc) from exc
    if found is None:
        _fetch.fetch(url, dst, progress=progress, announce=sys.stderr.write)
    elif stat.S_ISDIR(found.st_mode):
        raise _folder_error(dst)
    return dst


def _what(path: Path) -> str:
    entry = _fetch.entry_label(path.name)
    return f"the weights file {path.name} ({entry})" if entry else f"the weights file {path.name}"


def _folder_error(path: Path) -> DownloadError:
    return DownloadError(
        f"the torch hub cache has a folder at {path}, where {_what(path)} should be, so "
        f"nothing can load it. Remove that folder (`rm -r '{path}'`) and build again: "
        "tvcompat then downloads the file."
    )


def _unreadable(path: Path, exc: OSError) -> DownloadError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return DownloadError(
        f"cannot read {_what(path)} in the torch hub cache: {path}: {reason}. Give this user "
        f"read access to it (and to its folder), or delete it (`rm '{path}'`) and build "
        "again: tvcompat then downloads it."
    )


Status = Literal["ok", "corrupt", "unchecked", "unknown", "partial", "unreadable"]


@dataclass(frozen=True)
class CachedFile:
    """One file of the torch hub cache, as `verify_cache()` found it."""

    path: Path
    size: int
    #: the torchvision weights entry it belongs to, e.g. ``"ResNet18_Weights.IMAGENET1K_V1"``;
    #: ``None`` for files torchvision never loads (other torch.hub users share the folder).
    weights: str | None
    #: ``ok``: the sha256 matches the name; ``corrupt``: it does not, or the file
    #: references code, not only tensors, or it is a damaged copy tvcompat set aside
    #: (``<name>.corrupt``; see ``detail``); ``unchecked``: a torchvision file whose name
    #: carries no hash; ``unknown``: not a torchvision file (not read); ``partial``: an
    #: interrupted (or running) download's temporary file (``stale`` says which);
    #: ``unreadable``: a torchvision file that cannot be read, or a folder (or broken link)
    #: under a weights file's name.
    status: Status
    detail: str
    removed: bool = False
    #: ``partial`` files: nothing will ever finish it (its download died)
    stale: bool = False


def _is_weights_name(name: str, index: dict[str, Any]) -> bool:
    return name in index or name in KNOWN_WRONG_NAMES


def _label(name: str, index: dict[str, Any]) -> str | None:
    entry = index.get(name)
    return f"{entry[0]}.{entry[1]}" if entry else None


def _remove(path: Path, detail: str) -> tuple[bool, str]:
    try:
        path.unlink()
    except FileNotFoundError:
        return True, detail
    except OSError as exc:
        return False, f"{detail}; cannot remove it: {exc.strerror or exc}"
    return True, detail


def verify_cache(
    directory: str | os.PathLike[str] | None = None,
    *,
    remove_corrupt: bool = False,
    remove_stale: bool = False,
) -> list[CachedFile]:
    """Check the weights files in the torch hub cache (``<torch.hub.get_dir()>/checkpoints``
    or ``directory``) against the sha256 prefix in their names.

    Every torchvision weights file is read in full (this takes a while for a large cache), and
    its pickles are checked for references to code (a file that has them is ``corrupt``).
    With ``remove_corrupt=True`` the ``corrupt`` ones are deleted, so that the next build
    downloads them again (one that cannot be deleted says why in ``detail``, with
    ``removed=False``). Files torchvision does not know are listed as ``unknown`` and never
    read or removed; ``.partial`` files are listed with whether a download is still writing
    them, and with ``remove_stale=True`` the stale ones (their download died) are deleted.
    A folder, or a file that cannot be read, under a weights file's name is ``unreadable``.
    """
    folder = Path(directory) if directory is not None else _paths.checkpoint_dir()
    if not folder.is_dir():
        return []
    index = _catalog.filename_index()
    try:
        paths = sorted(folder.iterdir())
    except OSError as exc:
        raise DownloadError(
            f"cannot list the folder {folder}: {exc.strerror or exc}. Give this user read "
            "access to it."
        ) from exc
    return [f for f in (_verify_one(p, index, remove_corrupt, remove_stale) for p in paths) if f]


def _verify_one(
    path: Path, index: dict[str, Any], remove_corrupt: bool, remove_stale: bool
) -> CachedFile | None:
    name = path.name
    if name == _paths.LOCK_DIR:
        return None
    label = _label(name, index)
    try:
        info = path.stat()
    except OSError as exc:
        if not _is_weights_name(name, index):
            return None
        why = "a broken symbolic link" if path.is_symlink() else exc.strerror or str(exc)
        return CachedFile(path, 0, label, "unreadable", f"cannot be read: {why}")
    if not stat.S_ISREG(info.st_mode):
        if not _is_weights_name(name, index):
            return None
        return CachedFile(
            path,
            0,
            label,
            "unreadable",
            "a folder, not a file: nothing can load it; remove it by hand (never removed here)",
        )
    size = info.st_size
    if name.endswith(".partial"):
        part = _locks.inspect_partial(path, remove=remove_stale)
        if part.state == "gone":
            return None
        detail = part.detail + (f"; {part.error}" if part.error else "")
        stale = part.state == "stale"
        return CachedFile(path, size, None, "partial", detail, part.removed, stale)
    if name.endswith(_paths.CORRUPT_SUFFIX):
        original = name[: -len(_paths.CORRUPT_SUFFIX)]
        if _is_weights_name(original, index):
            detail = "a damaged copy tvcompat set aside when it downloaded the file again"
            removed, detail = _remove(path, detail) if remove_corrupt else (False, detail)
            return CachedFile(path, size, _label(original, index), "corrupt", detail, removed)
    if not _is_weights_name(name, index):
        return CachedFile(path, size, None, "unknown", "not a torchvision weights file")
    expect = expectation(name)
    status: Status = "unchecked"
    detail = expect.basis
    try:
        if expect.checkable:
            digest = sha256_of(path)
            if expect.accepts(digest):
                status = "ok"
            else:
                status = "corrupt"
                detail = f"sha256 {digest} does not start with {expect.describe()}"
        if status != "corrupt":
            try:
                safety.check_file(path)
            except UnsafeWeightsFileError as exc:
                status, detail = "corrupt", str(exc).partition(": ")[2].partition(". ")[0]
    except OSError as exc:
        return CachedFile(path, size, label, "unreadable", f"cannot be read: {exc.strerror or exc}")
    removed = False
    if status == "corrupt" and remove_corrupt:
        removed, detail = _remove(path, detail)
    return CachedFile(path, size, label, status, detail, removed)


# --------------------------------------------------------------------------------------------
# Loading a cached file, and repairing a damaged one
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Damage:
    seen: os.stat_result
    reason: str


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnsafeWeightsFileError):
        return str(exc).partition(": ")[2].partition(". ")[0] or str(exc)
    return f"{type(exc).__name__}: {exc}"


def _diagnose(path: Path, failure: Exception) -> _Damage:
    """Why loading the cached ``path`` failed: a damaged file that its name's hash prefix
    proves wrong (returned), or else the `DownloadError` (or the original tvcompat error)
    that says what to do, raised."""
    try:
        seen = path.stat()
    except OSError as exc:
        raise _unreadable(path, exc) from failure
    if stat.S_ISDIR(seen.st_mode):
        raise _folder_error(path) from failure
    if isinstance(failure, OSError) and failure.errno in (errno.EACCES, errno.EPERM):
        raise _unreadable(path, failure) from failure
    expect = expectation(path.name)
    if not expect.checkable:
        if isinstance(failure, TvcompatError):
            raise failure
        raise DownloadError(
            f"cannot load {_what(path)} from the torch hub cache ({path}): "
            f"{_describe(failure)}. Its name carries no sha256 prefix, so tvcompat cannot "
            f"tell whether it is damaged: delete it (`rm '{path}'`) and build again (it is "
            "downloaded again)."
        ) from failure
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise _unreadable(path, exc) from failure
    if expect.accepts(digest):  # the file is the one its name promises
        if isinstance(failure, TvcompatError):
            raise failure
        raise DownloadError(
            f"cannot load {_what(path)} from the torch hub cache ({path}): "
            f"{_describe(failure)}. Its sha256 matches its name, so the file is intact: the "
            "installed torch may be too old to read it."
        ) from failure
    empty = "it is empty; " if seen.st_size == 0 else ""
    return _Damage(
        seen,
        f"{empty}{_describe(failure)}; its sha256 {digest[:16]}... does not start with "
        f"{expect.describe()}, the prefix in its name",
    )


def _load(url: str, progress: bool, use: Callable[[Path], T]) -> T:
    """``use(path)`` on the cached file of ``url``. If that fails on a damaged file whose
    name carries its hash, and downloading is allowed, the file is set aside as
    ``<name>.corrupt`` and downloaded once again (once: a second failure raises)."""
    path = ensure_cached(url, progress=progress)
    try:
        return use(path)
    except UnsafeWeightsFileError as exc:
        if not safety.is_damaged(exc):
            raise  # it references code: a security refusal, never repaired silently
        failure: Exception = exc
    except Exception as exc:
        failure = exc
    damage = _diagnose(path, failure)
    aside = path.with_name(path.name + _paths.CORRUPT_SUFFIX)
    if not _fetch.can_download(url):
        source = _settings.get_setting("offline").source
        entry = _fetch.entry_label(path.name)
        command = f"tvcompat download MODEL --weights {entry}" if entry else "tvcompat download"
        raise DownloadError(
            f"{_what(path)} in the torch hub cache is damaged ({damage.reason}), and offline "
            f"mode is on ({source}), so it cannot be downloaded again. Delete it "
            f"(`tvcompat cache verify --remove-corrupt`), then run `{command}` on a machine "
            f"with network access and copy the file to {path}, or point "
            "TVCOMPAT_WEIGHTS_MIRROR at a local folder that holds it."
        ) from failure
    sys.stderr.write(
        f"tvcompat: {path} is damaged ({damage.reason}): moving it to {aside.name} and "
        "downloading it again\n"
    )
    try:
        _fetch.fetch(url, path, progress=progress, announce=sys.stderr.write, damaged=damage.seen)
    except DownloadError as exc:
        raise DownloadError(
            f"{_what(path)} in the torch hub cache was damaged ({damage.reason}) and was moved "
            f"to {aside}; downloading it again failed: {exc}"
        ) from exc
    try:
        return use(path)
    except TvcompatError:
        raise
    except Exception as exc:
        raise DownloadError(
            f"{_what(path)} was downloaded again into {path} and still cannot be loaded: "
            f"{_describe(exc)}"
        ) from exc


def _checked(path: Path) -> Path:
    safety.check_file(path)
    return path


def ensure_checked(url: str, *, progress: bool = True) -> Path:
    """:func:`ensure_cached`, then refuse the file if it references code (see
    :mod:`tvcompat._net.safety`): what a builder does before torchvision loads the file.

    A cached file that is damaged (empty, truncated, not a weights file) and whose name
    carries its sha256 prefix is set aside as ``<name>.corrupt`` and downloaded once again
    (unless offline); any other cache fault (a folder under the file's name, an unreadable
    file) raises a `DownloadError` naming the file and the fix."""
    return _load(url, progress, _checked)


def load_state_dict(
    url: str, *, progress: bool = True, map_location: Any = None, mmap: bool = False
) -> Any:
    """Fetch ``url`` into the torch hub cache through :func:`ensure_cached`, check it and
    load it (never unpickling anything but tensors); a damaged cached file is handled as in
    :func:`ensure_checked`. ``mmap=True`` maps the file where that is safe (see
    :func:`~tvcompat._net.safety.load_checked`)."""
    return _load(url, progress, lambda path: safety.load_checked(path, map_location, mmap=mmap))


def load_state_dict_from_url(  # noqa: PLR0917 - torch.hub's signature, positionals included
    url: str,
    model_dir: str | os.PathLike[str] | None = None,
    map_location: Any = None,
    progress: bool = True,
    check_hash: bool = False,
    file_name: str | None = None,
    weights_only: bool = True,
) -> Any:
    """``torch.hub.load_state_dict_from_url`` with the same arguments, for code written for
    ``torchvision.models.utils``, that never runs code from the file.

    Any URL is accepted. Into the torch hub cache (no ``model_dir`` or ``file_name``) the
    file comes through tvcompat's downloader (mirror, offline mode, timeout, the
    sha256-prefix check whenever the name carries one, certificate scopes); elsewhere
    through ``torch.hub.download_url_to_file``, as torch.hub does. Then, whatever the URL,
    the file is loaded only if every object its pickles reference is part of a plain weights
    file (tensors, quantized tensors, ``OrderedDict``), otherwise
    :class:`~tvcompat.errors.UnsafeWeightsFileError` is raised before anything is unpickled.
    A checkpoint that legitimately pickles other objects (an optimizer's, an ``argparse``
    namespace) is refused too: load such a file from a source you trust with
    ``torch.hub.load_state_dict_from_url(url, weights_only=False)``. ``weights_only=False``
    is refused here for that reason.
    """
    if not weights_only:
        raise InvalidArgumentError(
            "tvcompat.legacy.load_state_dict_from_url(weights_only=False): tvcompat never "
            "unpickles code from a file. For a checkpoint from a source you trust, call "
            "torch.hub.load_state_dict_from_url(url, weights_only=False) yourself."
        )
    if model_dir is None and file_name is None:
        path = ensure_cached(url, progress=progress)
    else:
        import torch.hub  # noqa: PLC0415 - torch is heavy: lazy

        folder = Path(model_dir) if model_dir is not None else _paths.checkpoint_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (file_name or _paths.file_name(url))
        if not path.exists():
            match = _HASH.search(_paths.file_name(url)) if check_hash else None  # torch.hub's
            torch.hub.download_url_to_file(url, str(path), match and match[1], progress=progress)
    return safety.load_checked(path, map_location)
