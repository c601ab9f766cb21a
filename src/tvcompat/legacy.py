"""Stable homes for names later torchvision releases removed.

* ``model_urls`` / ``quant_model_urls``: the legacy ``{arch: url}`` mappings (removed from
  every module in torchvision 0.15 except ``video.resnet``), merged across modules, as the
  newest release that still had each one defined them. Plain dicts: reading them never warns.
* ``module_model_urls(module)``: one module's mapping, e.g. ``module_model_urls("resnet")``.
* ``load_state_dict_from_url``: ``torch.hub.load_state_dict_from_url`` (gone from
  ``torchvision.models.utils`` since 0.11), except that the file never runs code: it is
  refused unless it holds only tensors (see :func:`load_state_dict_from_url`).
* The removed classes and functions that have no replacement in torchvision
  (``ConvBNActivation``, ``SqueezeExcitation``, ``Kinetics400``, ``gen_bar_updater``...: the
  stand-in rows of the table ``tvcompat._removed``, by name): torchvision's own on releases
  that still have it, tvcompat's faithful stand-in (what ``tvcompat.install()`` serves) on
  the others. ``tvcompat migrate`` rewrites their imports to these.

Replace ``from torchvision.models.resnet import model_urls`` with
``from tvcompat.legacy import model_urls``.
"""

from __future__ import annotations

import importlib
from typing import Any

from tvcompat import _catalog, _removed
from tvcompat._net.cache import load_state_dict_from_url
from tvcompat.errors import UnknownLegacyNameError

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


def _standin_row(name: str) -> _removed.RemovedName | None:
    """The one stand-in row without a replacement called ``name`` (``None`` also where two
    rows share the name: which one is meant is unknown)."""
    rows = [
        r
        for r in _removed.NAMES
        if r.name == name and r.served == _removed.STANDIN and r.replacement_module is None
    ]
    return rows[0] if len(rows) == 1 else None


def _removed_name(row: _removed.RemovedName) -> Any:
    if not _removed.installed_lacks(row):
        value = getattr(importlib.import_module(row.module), row.name, None)
        if value is not None:
            return value
    from tvcompat._install import standins  # noqa: PLC0415 - imports torch: only when used

    return standins.build(row.name)


def __getattr__(name: str) -> Any:
    if name == "model_urls":
        return _merged("model_urls")
    if name == "quant_model_urls":
        return _merged("quant_model_urls")
    row = _standin_row(name) if not name.startswith("__") else None
    if row is not None:
        return _removed_name(row)
    raise AttributeError(f"module 'tvcompat.legacy' has no attribute {name!r}")
