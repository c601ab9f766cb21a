"""Downloading weights behind proxies, mirrors and broken certificates.

* Scoped certificate policies for urllib-based downloads (torch.hub, torchvision, tvcompat):
  `cafile_downloads()`, `certifi_downloads()`, `truststore_downloads()` and, last
  resort, `insecure_downloads()`. Each is a context manager and a decorator whose effect
  is limited to the current thread (or asyncio task) and to the block.
* A weights mirror (`set_mirror()`, ``TVCOMPAT_WEIGHTS_MIRROR``), offline mode
  (`set_offline()`, ``TVCOMPAT_OFFLINE``) and a download timeout
  (`set_download_timeout()`, ``TVCOMPAT_DOWNLOAD_TIMEOUT``), applied by
  `ensure_cached()`, which tvcompat's builders call for every file they load.
* `prefetch()` fills the torch hub cache ahead of time; `verify_cache()` checks it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tvcompat import _fetch, _ssl
from tvcompat._hashes import KNOWN_WRONG_NAMES, expectation, sha256_of
from tvcompat._settings import set_download_timeout, set_mirror, set_offline
from tvcompat._ssl import DownloadScope

__all__ = [
    "KNOWN_WRONG_NAMES",
    "CachedFile",
    "DownloadScope",
    "cafile_downloads",
    "certifi_downloads",
    "ensure_cached",
    "insecure_downloads",
    "prefetch",
    "set_download_timeout",
    "set_mirror",
    "set_offline",
    "truststore_downloads",
    "uninstall_ssl_dispatcher",
    "verify_cache",
]


def __dir__() -> list[str]:
    return __all__


# --------------------------------------------------------------------------------------------
# Certificate policies
# --------------------------------------------------------------------------------------------

_INSECURE_WARNING = (
    "insecure_downloads(): certificates are NOT verified for downloads made by this "
    "thread/task until the block ends, so anyone on the network path can serve other files. "
    "The sha256-prefix check of weights files stays on. Prefer "
    "cafile_downloads(cafile=...) with your proxy's CA, certifi_downloads() or "
    "truststore_downloads()."
)


def insecure_downloads() -> DownloadScope:
    """Skip certificate verification for downloads made by the current thread/task, inside
    the block only (last resort).

    Use it as ``with tvcompat.insecure_downloads(): ...`` or as a decorator. Entering it emits
    one `TvcompatWarning`. Other threads, and this thread after the
    block (also when the block raises), keep verifying. The sha256-prefix check of weights
    files (see `ensure_cached()`) stays on, so a tampered weights file whose name carries
    its hash is still refused.

    Covers urllib-based downloads: `ensure_cached()`/`prefetch()`, ``torch.hub``,
    torchvision's weights and datasets. Not covered: libraries built on ``requests``,
    ``urllib3``, ``httpx`` or ``aiohttp`` (huggingface_hub, timm's HF downloads...), and any
    code that passes its own ``context=`` to urllib.
    """
    return DownloadScope(_ssl.make_insecure_policy(), _INSECURE_WARNING)


def certifi_downloads() -> DownloadScope:
    """Verify certificates against certifi's CA bundle (Mozilla's roots, as ``requests``
    does) for downloads of the current thread/task inside the block. Fixes Pythons without
    usable root certificates (python.org installs on macOS, minimal containers)."""
    return DownloadScope(_ssl.make_certifi_policy())


def cafile_downloads(
    cafile: str | os.PathLike[str] | None = None, capath: str | os.PathLike[str] | None = None
) -> DownloadScope:
    """Also trust the CA certificates in ``cafile`` (a PEM file) and/or ``capath`` (a folder
    prepared with ``c_rehash``), on top of Python's default ones, for downloads of the
    current thread/task inside the block. Verification stays on: this is the fix for a
    TLS-intercepting corporate proxy (ask IT for its root CA certificate).

    Raises `FileNotFoundError` or `SSLError` at once for a missing or
    unreadable file, not at the first download.
    """
    return DownloadScope(_ssl.make_cafile_policy(cafile, capath))


def truststore_downloads() -> DownloadScope:
    """Verify certificates with the operating system's trust store (Keychain on macOS, the
    Windows certificate store, the system bundle on Linux), through the optional package
    ``truststore`` (``pip install 'tvcompat[truststore]'``, Python >= 3.10), for downloads of
    the current thread/task inside the block. A corporate CA installed in the OS is then
    trusted without naming its file.

    Raises `ImportError` at once when ``truststore`` is not installed.
    """
    return DownloadScope(_ssl.make_truststore_policy())


def uninstall_ssl_dispatcher() -> bool:
    """Remove tvcompat's hook from ``ssl._create_default_https_context`` and put back the
    factory it replaced; return whether it was installed.

    The hook is installed on the first use of a helper above (never at import) and is
    otherwise invisible: outside scopes every connection gets the context the replaced
    factory makes. Entering a helper again reinstalls it.
    """
    return _ssl.uninstall_dispatcher()


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


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
      (`KNOWN_WRONG_NAMES`, pytorch/vision#8036) are accepted with the right one. On
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


_WEIGHT_KWARGS = ("weights", "pretrained", "weights_backbone", "pretrained_backbone")


def prefetch(model: Any, *args: Any, progress: bool = True, **kwargs: Any) -> tuple[Path, ...]:
    """Download into the torch hub cache every weights file that building ``model`` with
    these arguments loads (the model's weights, or its backbone's), and return their paths.

    ``model`` is a builder name and the other arguments are those of the builder call::

        tvcompat.prefetch("resnet50", pretrained=True)
        tvcompat.prefetch("resnet50", weights="IMAGENET1K_V2")
        tvcompat.prefetch("fasterrcnn_resnet50_fpn", weights_backbone="DEFAULT")

    With no weights argument, what ``pretrained=True`` loads. ``model`` may also be a weights
    entry (``ResNet50_Weights.IMAGENET1K_V2``). Each file goes through `ensure_cached()`
    (mirror, offline mode, timeout, hash check, certificate scope).
    """
    url = getattr(model, "url", None)
    if isinstance(url, str) and not isinstance(model, str):
        if args or kwargs:
            raise TypeError("prefetch(<weights entry>) takes no builder arguments")
        return (ensure_cached(url, progress=progress),)
    if not isinstance(model, str):
        raise TypeError(f"prefetch() needs a model name or a weights entry, not {model!r}")
    from tvcompat._registry import resolve

    if not args and not any(k in kwargs for k in _WEIGHT_KWARGS):
        kwargs["pretrained"] = True
    resolution = resolve(model, *args, **kwargs)
    return tuple(ensure_cached(u, progress=progress) for u in resolution.urls)


Status = Literal["ok", "corrupt", "unchecked", "unknown", "partial"]


@dataclass(frozen=True)
class CachedFile:
    """One file of the torch hub cache, as `verify_cache()` found it."""

    path: Path
    size: int
    #: the torchvision weights entry it belongs to, e.g. ``"ResNet18_Weights.IMAGENET1K_V1"``;
    #: ``None`` for files torchvision never loads (other torch.hub users share the folder).
    weights: str | None
    #: ``ok``: the sha256 matches the name; ``corrupt``: it does not; ``unchecked``: a
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

    Every torchvision weights file is read in full (this takes a while for a large cache).
    With ``remove_corrupt=True`` the ``corrupt`` ones are deleted, so that the next build
    downloads them again. Files torchvision does not know are listed as ``unknown`` and never
    read or removed; ``.partial`` files are listed and left alone (a download may be running).
    """
    folder = Path(directory) if directory is not None else _fetch.checkpoint_dir()
    if not folder.is_dir():
        return []
    index = _fetch.filename_index()
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
        if not expect.checkable:
            found.append(CachedFile(path, size, label, "unchecked", expect.basis))
            continue
        digest = sha256_of(path)
        if expect.accepts(digest):
            found.append(CachedFile(path, size, label, "ok", expect.basis))
            continue
        detail = f"sha256 {digest} does not start with {expect.describe()}"
        removed = False
        if remove_corrupt:
            path.unlink()
            removed = True
        found.append(CachedFile(path, size, label, "corrupt", detail, removed))
    return found
