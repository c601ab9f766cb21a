"""Stable homes for names later torchvision releases removed.

* ``model_urls`` / ``quant_model_urls``: the legacy ``{arch: url}`` mappings (removed from
  every module in torchvision 0.15 except ``video.resnet``), merged across modules, as the
  newest release that still had each one defined them. Plain dicts: reading them never warns.
* ``module_model_urls(module)``: one module's mapping, e.g. ``module_model_urls("resnet")``.
* ``load_state_dict_from_url``: ``torch.hub.load_state_dict_from_url`` (gone from
  ``torchvision.models.utils`` since 0.11).

Replace ``from torchvision.models.resnet import model_urls`` with
``from tvcompat.legacy import model_urls``.
"""

from __future__ import annotations

from typing import Any

from tvcompat import _catalog

# three of these are served lazily by the module __getattr__ below
__all__ = [
    "load_state_dict_from_url",  # noqa: F822
    "model_urls",  # noqa: F822
    "module_model_urls",
    "quant_model_urls",  # noqa: F822
]


def module_model_urls(module: str, *, quantized: bool = False) -> dict[str, str]:
    """The legacy mapping of ``torchvision.models.<module>`` (e.g. ``"resnet"``,
    ``"detection.faster_rcnn"``, ``"quantization.resnet"``)."""
    attr = "quant_model_urls" if quantized else "model_urls"
    key = f"torchvision.models.{module}.{attr}"
    mappings: dict[str, dict[str, str]] = _catalog.catalog()["model_urls"]
    if key not in mappings:
        known = sorted(
            k[len("torchvision.models.") :].rpartition(".")[0]
            for k in mappings
            if k.endswith("." + attr)
        )
        raise KeyError(f"No legacy {attr} for torchvision.models.{module}; known: {known}")
    return dict(mappings[key])


def _merged(attr: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, mapping in _catalog.catalog()["model_urls"].items():
        if key.endswith("." + attr):
            out.update(mapping)
    return out


def __getattr__(name: str) -> Any:
    if name == "model_urls":
        return _merged("model_urls")
    if name == "quant_model_urls":
        return _merged("quant_model_urls")
    if name == "load_state_dict_from_url":
        from torch.hub import load_state_dict_from_url

        return load_state_dict_from_url
    raise AttributeError(f"module 'tvcompat.legacy' has no attribute {name!r}")
