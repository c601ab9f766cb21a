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

from tvcompat._models.prefetch import prefetch
from tvcompat._net import tls as _ssl
from tvcompat._net.cache import CachedFile, ensure_cached, verify_cache
from tvcompat._net.hashes import KNOWN_WRONG_NAMES
from tvcompat._net.tls import DownloadScope
from tvcompat._settings import set_download_timeout, set_mirror, set_offline

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
