"""The torch hub cache: putting a weights file there (:func:`ensure_cached`), checking it
(:func:`verify_cache`) and the one loader of a cached weights file (:func:`load_state_dict`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tvcompat import _catalog
from tvcompat._net import fetch as _fetch
from tvcompat._net import safety
from tvcompat._net.hashes import KNOWN_WRONG_NAMES, expectation, sha256_of
from tvcompat.errors import UnsafeWeightsFileError

__all__ = [
    "CachedFile",
    "Status",
    "ensure_cached",
    "ensure_checked",
    "load_state_dict",
    "verify_cache",
]


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
      e.g. the other ranks of a ``torch.distributed`` job, wait and then use it.
    * The certificate policy of the scope active in this thread applies
      (`cafile_downloads()` ...). ``progress`` shows torch.hub's tqdm bar on stderr.
    """
    dst = _fetch.cache_path(url)
    if not dst.exists():
        _fetch.fetch(url, dst, progress=progress, announce=sys.stderr.write)
    return dst


Status = Literal["ok", "corrupt", "unchecked", "unknown", "partial"]


@dataclass(frozen=True)
class CachedFile:
    """One file of the torch hub cache, as `verify_cache()` found it."""

    path: Path
    size: int
    #: the torchvision weights entry it belongs to, e.g. ``"ResNet18_Weights.IMAGENET1K_V1"``;
    #: ``None`` for files torchvision never loads (other torch.hub users share the folder).
    weights: str | None
    #: ``ok``: the sha256 matches the name; ``corrupt``: it does not, or the file
    #: references code, not only tensors (see ``detail``); ``unchecked``: a
    #: torchvision file whose name carries no hash; ``unknown``: not a torchvision file (not
    #: read); ``partial``: an interrupted (or running) download's temporary file.
    status: Status
    detail: str
    removed: bool = False


def verify_cache(
    directory: str | os.PathLike[str] | None = None, *, remove_corrupt: bool = False
) -> list[CachedFile]:
    """Check the weights files in the torch hub cache (``<torch.hub.get_dir()>/checkpoints``
    or ``directory``) against the sha256 prefix in their names.

    Every torchvision weights file is read in full (this takes a while for a large cache), and
    its pickles are checked for references to code (a file that has them is ``corrupt``).
    With ``remove_corrupt=True`` the ``corrupt`` ones are deleted, so that the next build
    downloads them again. Files torchvision does not know are listed as ``unknown`` and never
    read or removed; ``.partial`` files are listed and left alone (a download may be running).
    """
    folder = Path(directory) if directory is not None else _fetch.checkpoint_dir()
    if not folder.is_dir():
        return []
    index = _catalog.filename_index()
    found: list[CachedFile] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if path.name.endswith(".partial"):
            found.append(CachedFile(path, size, None, "partial", "interrupted or running download"))
            continue
        entry = index.get(path.name)
        if entry is None and path.name not in KNOWN_WRONG_NAMES:
            found.append(CachedFile(path, size, None, "unknown", "not a torchvision weights file"))
            continue
        label = f"{entry[0]}.{entry[1]}" if entry else None
        expect = expectation(path.name)
        status: Status = "unchecked"
        detail = expect.basis
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
        removed = False
        if status == "corrupt" and remove_corrupt:
            path.unlink()
            removed = True
        found.append(CachedFile(path, size, label, status, detail, removed))
    return found


def ensure_checked(url: str, *, progress: bool = True) -> Path:
    """:func:`ensure_cached`, then refuse the file if it references code (see
    :mod:`tvcompat._net.safety`): what a builder does before torchvision loads the file."""
    path = ensure_cached(url, progress=progress)
    safety.check_file(path)
    return path


def load_state_dict(url: str, *, progress: bool = True, map_location: Any = None) -> Any:
    """Fetch ``url`` into the torch hub cache through :func:`ensure_cached`, check it and
    load it (never unpickling anything but tensors)."""
    return safety.load_checked(ensure_cached(url, progress=progress), map_location)
