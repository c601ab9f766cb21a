"""The one place that knows version numbers.

Versions are read from the installed distributions' metadata (``importlib.metadata``), so
asking for a capability never imports torch or torchvision. Every other module asks for a
named capability below instead of comparing version numbers itself.
"""

from __future__ import annotations

import functools
import sys
from importlib import metadata

from packaging.version import Version

__all__ = [
    "Capabilities",
    "capabilities",
    "parse",
    "torch_version",
    "torchvision_version",
]


def parse(text: str) -> Version:
    """Parse a version string, local tags (``0.29.1+cu130``) included."""
    return Version(text)


@functools.cache
def _dist_version(name: str) -> Version:
    try:
        return parse(metadata.version(name))
    except metadata.PackageNotFoundError:  # pragma: no cover - torch is a dependency
        module = sys.modules.get(name)
        if module is None:
            module = __import__(name)
        return parse(str(module.__version__))


def torch_version() -> Version:
    """The installed torch version, without its local tag's influence on comparisons."""
    return _dist_version("torch")


def torchvision_version() -> Version:
    """The installed torchvision version."""
    return _dist_version("torchvision")


def _at_least(version: Version, minimum: str) -> bool:
    return version.release >= parse(minimum).release


class Capabilities:
    """Named capability flags implied by the installed torch/torchvision versions."""

    def __init__(self, torch: Version, torchvision: Version) -> None:
        self.torch = torch
        self.torchvision = torchvision
        tv = torchvision
        # --- torchvision -----------------------------------------------------------------
        #: ``weights=`` enums and ``handle_legacy_interface`` (0.13).
        self.weights_api = _at_least(tv, "0.13")
        #: every registered builder carries the legacy decorator (0.14, vision#6564).
        self.all_builders_accept_pretrained = _at_least(tv, "0.14")
        #: ``get_model``/``get_model_builder``/``get_model_weights``/``list_models`` (0.14).
        self.registration_api = _at_least(tv, "0.14")
        #: ``get_weight`` (0.13).
        self.get_weight = _at_least(tv, "0.13")
        #: ``list_models(include=, exclude=)`` (0.16).
        self.list_models_filters = _at_least(tv, "0.16")
        #: ``Weights``/``WeightsEnum`` exported from ``torchvision.models`` (0.15).
        self.weights_enum_public = _at_least(tv, "0.15")
        #: builders call ``get_state_dict(progress=..., check_hash=True)`` (0.16).
        self.builders_check_hash = _at_least(tv, "0.16")
        #: weights enum members pickle/deepcopy (0.15, vision#7107).
        self.weights_picklable = _at_least(tv, "0.15")
        #: ``_ovewrite_value_param(param, actual, expected)`` three-argument form (0.14).
        self.value_param_three_args = _at_least(tv, "0.14")
        #: per-module ``model_urls`` dicts exist (removed in 0.15, except video.resnet).
        self.model_urls_dicts = not _at_least(tv, "0.15")
        #: ``torchvision.models.utils`` exists (removed in 0.11).
        self.models_utils_module = not _at_least(tv, "0.11")
        # --- torch -----------------------------------------------------------------------
        #: ``torch.autocast(device_type, dtype=...)`` (1.10).
        self.torch_autocast = _at_least(torch, "1.10")
        #: ``torch.amp.autocast`` exported (2.0).
        self.torch_amp_autocast = _at_least(torch, "2.0")
        #: fp16 autocast on the CPU (2.2; 2.0/2.1 only bf16).
        self.cpu_autocast_fp16 = _at_least(torch, "2.2")
        #: ``torch.amp.GradScaler(device)`` (2.3; ``torch.cuda.amp.GradScaler`` warns from 2.4).
        self.amp_grad_scaler = _at_least(torch, "2.3")
        #: ``Optimizer.zero_grad(set_to_none=True)`` is the default (2.0).
        self.zero_grad_set_to_none_default = _at_least(torch, "2.0")
        #: ``torch.compile`` exists (2.0).
        self.torch_compile = _at_least(torch, "2.0")
        #: ``load_state_dict_from_url(weights_only=...)`` (1.13).
        self.hub_weights_only = _at_least(torch, "1.13")
        #: ``torch.load(weights_only=...)`` (1.13); torch 2.4/2.5 warn when it is not given.
        self.torch_load_weights_only = _at_least(torch, "1.13")
        #: ``torch.distributed.fsdp.fully_shard`` public (2.6).
        self.fsdp2_public = _at_least(torch, "2.6")
        #: ``clip_grad_norm_`` without host syncs (clamp, no ``if``; 1.10, pytorch#61042).
        self.clip_grad_norm_sync_free = _at_least(torch, "1.10")
        #: ``Module.load_state_dict(assign=True)`` (2.1): loaded tensors replace the module's.
        self.load_state_dict_assign = _at_least(torch, "2.1")
        #: ``torch.load(mmap=True)`` (2.1): a zip checkpoint's storages map the file.
        self.torch_load_mmap = _at_least(torch, "2.1")
        #: ``Tensor.untyped_storage()`` (2.0; ``Tensor.storage()`` before, deprecated since).
        self.untyped_storage = _at_least(torch, "2.0")
        #: ``torch.overrides.TorchFunctionMode`` usable as a context manager (2.0).
        self.torch_function_mode = _at_least(torch, "2.0")

    def as_dict(self) -> dict[str, bool]:
        """All flags by name (for ``tvcompat doctor``)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, bool)}


@functools.cache
def capabilities() -> Capabilities:
    """Capabilities of the installed torch/torchvision pair (cached)."""
    return Capabilities(torch_version(), torchvision_version())
