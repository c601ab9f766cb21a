"""Stable homes for names later torchvision releases removed.

* ``model_urls`` / ``quant_model_urls``: the legacy ``{arch: url}`` mappings (removed from
  every module in torchvision 0.15 except ``video.resnet``), merged across modules, as the
  newest release that still had each one defined them. Plain dicts: reading them never warns.
* ``module_model_urls(module)``: one module's mapping, e.g. ``module_model_urls("resnet")``.
* ``load_state_dict_from_url``: ``torch.hub.load_state_dict_from_url`` (gone from
  ``torchvision.models.utils`` since 0.11), except that the file never runs code: it is
  refused unless it holds only tensors (see :func:`load_state_dict_from_url`).

Replace ``from torchvision.models.resnet import model_urls`` with
``from tvcompat.legacy import model_urls``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tvcompat import _catalog
from tvcompat._net import cache as _cache
from tvcompat._net import fetch as _fetch
from tvcompat._net import safety as _safety
from tvcompat.errors import InvalidArgumentError, UnknownLegacyNameError

_HASH = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX for check_hash=True

# two of these are served lazily by the module __getattr__ below
__all__ = [
    "load_state_dict_from_url",
    "model_urls",  # noqa: F822
    "module_model_urls",
    "quant_model_urls",  # noqa: F822
]


def module_model_urls(module: str, *, quantized: bool = False) -> dict[str, str]:
    """The legacy mapping of ``torchvision.models.<module>`` (e.g. ``"resnet"``,
    ``"detection.faster_rcnn"``, ``"quantization.resnet"``)."""
    attr = "quant_model_urls" if quantized else "model_urls"
    key = f"torchvision.models.{module}.{attr}"
    mappings = _catalog.model_urls()
    if key not in mappings:
        known = sorted(
            k[len("torchvision.models.") :].rpartition(".")[0]
            for k in mappings
            if k.endswith("." + attr)
        )
        raise UnknownLegacyNameError(
            f"No legacy {attr} for torchvision.models.{module}; known: {known}"
        )
    return dict(mappings[key])


def _merged(attr: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, mapping in _catalog.model_urls().items():
        if key.endswith("." + attr):
            out.update(mapping)
    return out


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
        path = _cache.ensure_cached(url, progress=progress)
    else:
        import torch.hub  # noqa: PLC0415 - torch is heavy: lazy

        folder = Path(model_dir) if model_dir is not None else _fetch.checkpoint_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (file_name or _fetch.file_name(url))
        if not path.exists():
            match = _HASH.search(_fetch.file_name(url)) if check_hash else None  # torch.hub's
            torch.hub.download_url_to_file(url, str(path), match and match[1], progress=progress)
    return _safety.load_checked(path, map_location)


def __getattr__(name: str) -> Any:
    if name == "model_urls":
        return _merged("model_urls")
    if name == "quant_model_urls":
        return _merged("quant_model_urls")
    raise AttributeError(f"module 'tvcompat.legacy' has no attribute {name!r}")
