"""Where the torch hub cache is and what its files are called, found without importing torch.

The constants the downloads share (official hosts, the User-Agent, the read size, the names of
the lock folder, of ``.partial`` and ``.corrupt`` files) and the cache path helpers.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tvcompat.errors import DownloadError, InvalidValueError

__all__ = [
    "CORRUPT_SUFFIX",
    "LOCK_DIR",
    "OFFICIAL_HOSTS",
    "PARTIAL_NAME",
    "READ_CHUNK",
    "STALE_AFTER",
    "USER_AGENT",
    "cache_path",
    "checkpoint_dir",
    "file_name",
    "hub_dir",
    "not_writable",
]

#: hosts whose files a mirror replaces (every torchvision weights URL, 0.10 to 0.29).
OFFICIAL_HOSTS = frozenset({"download.pytorch.org"})
#: what torch.hub sends; servers and proxies that allow torch.hub allow tvcompat.
USER_AGENT = "torch.hub"
#: torch.hub's ``READ_DATA_CHUNK`` in torch 2.x (older torch read 8 KiB at a time).
READ_CHUNK = 128 * 1024
#: name of the folder, inside the checkpoints folder, that holds the per-file lock files.
LOCK_DIR = ".tvcompat-locks"
#: a download's temporary file, ``<name>.<uuid hex>.partial`` (tvcompat's and torch.hub's)
PARTIAL_NAME = re.compile(r"^(?P<name>.+)\.(?P<id>[0-9a-f]+)\.partial$")
#: seconds after which a ``.partial`` file that no tvcompat download is known to have written
#: (torch.hub's, an older tvcompat's), unchanged and unlocked, counts as stale
STALE_AFTER = 24 * 3600.0
#: what a damaged cached file is renamed to (``<name>.corrupt``) before it is downloaded again
CORRUPT_SUFFIX = ".corrupt"


def hub_dir() -> Path:
    """``torch.hub.get_dir()``, computed without importing torch.

    If torch.hub is already imported (in-process use, maybe after ``torch.hub.set_dir``), it
    answers. Otherwise the same rule as torch 1.9 to 2.14: ``$TORCH_HOME/hub``, where
    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch`` and ``XDG_CACHE_HOME`` to ``~/.cache``
    (``torch.hub.set_dir`` in another process cannot be seen from here, nor by any tool), so
    ``tvcompat weights`` or ``tvcompat cache list`` need not import torch.
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        return Path(os.path.expanduser(hub.get_dir()))
    torch_home = os.path.expanduser(
        os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    )
    return Path(torch_home) / "hub"


def checkpoint_dir() -> Path:
    """``<torch.hub.get_dir()>/checkpoints``: where torch.hub caches weights files (found
    without importing torch, see :func:`hub_dir`)."""
    return hub_dir() / "checkpoints"


def file_name(url: str) -> str:
    """The cache file name torch.hub uses for ``url``: the basename of its path."""
    name = os.path.basename(urlsplit(url).path)
    if not name:
        raise InvalidValueError(f"{url!r} does not name a file")
    return name


def cache_path(url: str) -> Path:
    return checkpoint_dir() / file_name(url)


def not_writable(folder: Path, exc: OSError) -> DownloadError:
    """The error for a torch hub cache that cannot be written (read-only, a file where the
    folder should be, another user's): it names the folder and the two ways out."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(folder) else ""
    return DownloadError(
        f"cannot write to the torch hub cache {folder}: {reason}{where}. Make it a folder you "
        "can write to, or point torch at one: set TORCH_HOME (the cache is then "
        "$TORCH_HOME/hub/checkpoints), or call torch.hub.set_dir(PATH) before building "
        "(the cache is then PATH/checkpoints)."
    )
