"""Filling the torch hub cache ahead of time with what a builder call would load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tvcompat._models.registry import resolve
from tvcompat._net.cache import ensure_cached
from tvcompat.errors import InvalidArgumentError

__all__ = ["prefetch"]

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
            raise InvalidArgumentError("prefetch(<weights entry>) takes no builder arguments")
        return (ensure_cached(url, progress=progress),)
    if not isinstance(model, str):
        raise InvalidArgumentError(
            f"prefetch() needs a model name or a weights entry, not {model!r}"
        )
    if not args and not any(k in kwargs for k in _WEIGHT_KWARGS):
        kwargs["pretrained"] = True
    resolution = resolve(model, *args, **kwargs)
    return tuple(ensure_cached(u, progress=progress) for u in resolution.urls)
