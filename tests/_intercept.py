"""Run real builders without downloading: every state-dict load raises :class:`Captured`.

Only the network fetch and the load are replaced (the official weights files cannot exist
here); torchvision's own argument handling and model construction run for real. Parameter
initialisation is switched to zero-filling so that big models cost only their allocation.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest


class Captured(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _capture(url: str, *args: Any, **kwargs: Any) -> Any:
    raise Captured(url)


def _zero(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    import torch

    with torch.no_grad():
        return tensor.zero_()


@contextlib.contextmanager
def intercept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Within the block, loads raise ``Captured``; the yielded list records the URLs tvcompat
    asked its downloader for."""
    import torch
    import torch.hub
    import torchvision

    import tvcompat._net.cache

    fetched: list[str] = []

    def ensure_cached(url: str, *, progress: bool = True) -> Path:
        fetched.append(url)
        return Path("/nonexistent") / url.rpartition("/")[2]

    monkeypatch.setattr(tvcompat._net.cache, "ensure_cached", ensure_cached)
    monkeypatch.setattr(tvcompat._net.cache, "ensure_checked", ensure_cached)
    monkeypatch.setattr(tvcompat._net.cache, "load_state_dict", _capture)  # tvcompat's own loads
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _capture)
    import torch.utils.model_zoo as zoo

    monkeypatch.setattr(zoo, "load_url", _capture)
    modules = [torchvision.models]
    for info in pkgutil.walk_packages(torchvision.models.__path__, "torchvision.models."):
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            modules.append(importlib.import_module(info.name))
    with contextlib.suppress(ImportError):
        modules.append(importlib.import_module("torchvision._internally_replaced_utils"))
    for module in modules:
        for attr in ("load_state_dict_from_url", "load_url"):
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, _capture)
        # quantize=True calibrates the model with a forward pass before loading: the load
        # is what is under test, so the (slow) calibration is skipped
        if module.__name__.startswith("torchvision.models.quantization") and hasattr(
            module, "quantize_model"
        ):
            monkeypatch.setattr(module, "quantize_model", lambda model, backend: None)
    for name in dir(torch.nn.init):
        if name.endswith("_") and not name.startswith("_"):
            monkeypatch.setattr(torch.nn.init, name, _zero)
    monkeypatch.setattr(torch.Tensor, "normal_", _zero)
    monkeypatch.setattr(torch.Tensor, "uniform_", _zero)
    yield fetched


def outcome(fn: Callable[..., Any], *args: Any, quiet: bool = False, **kwargs: Any) -> Any:
    """The URL ``fn(*args, **kwargs)`` loads first, ``None`` if none, or the exception type."""
    with warnings.catch_warnings():
        if quiet:  # torchvision's own legacy path warns; that is not under test here
            warnings.simplefilter("ignore")
        try:
            fn(*args, **kwargs)
        except Captured as c:
            return c.url
        except Exception as exc:
            return exc
    return None
