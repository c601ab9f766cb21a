"""The table of torchvision modules and names later releases removed or moved, and what
tvcompat serves in their place. ``tvcompat.install()`` serves them (on releases that lack
them, never over something the installed release has); ``tvcompat migrate`` rewrites their
imports.

Two record types, both plain data:

- :class:`RemovedModule`: an old module path -> the module now holding the same names
  (``replacement``), or ``None`` where tvcompat builds a stand-in module whose contents are the
  :class:`RemovedName` rows naming that module.
- :class:`RemovedName`: an old ``module.name`` -> how it is served (:data:`ALIAS`,
  :data:`STANDIN` or :data:`ERROR`) and, where one exists, the native name to migrate to
  (``replacement_module.replacement_name``; for an alias that is exactly the object served).

Every ``removed_in`` is the first torchvision release without the module or name, checked
against each release of the test matrix by ``tests/test_removed_apis.py`` and, between the
matrix's releases, against the wheels of the releases in between (see docs/run.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tvcompat._versions import torchvision_version

__all__ = [
    "ALIAS",
    "ERROR",
    "MODULES",
    "NAMES",
    "STANDIN",
    "RemovedModule",
    "RemovedName",
    "Served",
    "find_module",
    "find_name",
    "installed_lacks",
    "names_in",
    "version_tuple",
]

Served = Literal["alias", "standin", "error"]
ALIAS: Served = "alias"
"""The same object, from its new home (``replacement_module.replacement_name``)."""
STANDIN: Served = "standin"
"""tvcompat's faithful re-implementation (``tvcompat._install.standins``, by name)."""
ERROR: Served = "error"
"""No faithful stand-in is possible: accessing the name raises an ``AttributeError`` that
names the release that removed it and the way forward (``hasattr`` stays ``False``, and
``from module import name`` still raises ``ImportError``, so fallback code keeps working)."""


@dataclass(frozen=True)
class RemovedModule:
    """A module path that old code imports and a newer torchvision no longer has."""

    module: str
    removed_in: str
    """the first torchvision release without it"""
    replacement: str | None
    """the module that now holds the same names (served as the old name, same object), or
    ``None`` where tvcompat builds a stand-in module (holding this module's
    :class:`RemovedName` rows)"""
    doc: str = ""
    star: bool = False
    """serve a new module holding the replacement's public names (what the last release
    with it did: ``from <replacement> import *``) rather than the replacement itself"""


@dataclass(frozen=True)
class RemovedName:
    """A name that old code imports from ``module`` and a newer torchvision no longer has
    there (``module`` itself may be a :class:`RemovedModule`)."""

    module: str
    name: str
    removed_in: str
    """the first torchvision release without it"""
    served: Served
    replacement_module: str | None = None
    """where native code finds the drop-in replacement (for :data:`ALIAS` rows: the object
    served; it may itself be a removed name, served first); ``None`` where there is none"""
    replacement_name: str | None = None
    doc: str = ""

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def installed_lacks(entry: RemovedModule | RemovedName) -> bool:
    """Whether the installed torchvision is ``entry.removed_in`` or newer."""
    return torchvision_version().release[:2] >= version_tuple(entry.removed_in)


_HUB = "torch.hub"
_LOADER_DOC = "tvcompat's load_state_dict_from_url (torch.hub's arguments; never unpickles code)."
_VIDEO_DOC = (
    "Its video decoding and encoding (deprecated since 0.22) moved to TorchCodec "
    "(https://github.com/pytorch/torchcodec): decode with torchcodec.decoders.VideoDecoder, "
    "encode with torchcodec's encoders, or install torchvision<0.26."
)

MODULES: tuple[RemovedModule, ...] = (
    RemovedModule(
        "torchvision.models.utils",
        "0.11",
        None,
        "torchvision.models.utils as of 0.10: load_state_dict_from_url (tvcompat's, which "
        "never unpickles code).",
    ),
    RemovedModule(
        "torchvision.models.segmentation.segmentation",
        "0.14",
        "torchvision.models.segmentation",
        "torchvision.models.segmentation.segmentation as of 0.12-0.13: the public names of "
        "torchvision.models.segmentation (the same objects), plus model_urls and 0.10-0.11's "
        "IntermediateLayerGetter, DeepLabHead and FCNHead.",
        star=True,
    ),
    RemovedModule(
        "torchvision.transforms.functional_tensor",
        "0.17",
        "torchvision.transforms._functional_tensor",
    ),
    RemovedModule(
        "torchvision.transforms.functional_pil", "0.17", "torchvision.transforms._functional_pil"
    ),
)

#: the model modules that re-exported torch.hub's load_state_dict_from_url until 0.12
_LOADER_MODULES = (
    "alexnet",
    "convnext",
    "densenet",
    "detection.faster_rcnn",
    "detection.fcos",
    "detection.keypoint_rcnn",
    "detection.mask_rcnn",
    "detection.retinanet",
    "detection.ssd",
    "detection.ssdlite",
    "efficientnet",
    "googlenet",
    "inception",
    "mnasnet",
    "mobilenetv2",
    "mobilenetv3",
    "optical_flow.raft",
    "quantization.googlenet",
    "quantization.inception",
    "quantization.mobilenetv2",
    "quantization.mobilenetv3",
    "quantization.resnet",
    "quantization.shufflenetv2",
    "regnet",
    "resnet",
    "shufflenetv2",
    "squeezenet",
    "vgg",
    "video.resnet",
    "vision_transformer",
)


def _alias(module: str, name: str, removed_in: str, new_module: str, new_name: str) -> RemovedName:
    return RemovedName(module, name, removed_in, ALIAS, new_module, new_name)


NAMES: tuple[RemovedName, ...] = (
    # -- 0.11 ----------------------------------------------------------------------------------
    RemovedName(
        "torchvision.models.utils",
        "load_state_dict_from_url",
        "0.11",
        STANDIN,
        _HUB,
        "load_state_dict_from_url",
        _LOADER_DOC,
    ),
    _alias(
        "torchvision.transforms.functional",
        "_get_image_size",
        "0.11",
        "torchvision.transforms.functional",
        "get_image_size",
    ),
    _alias(
        "torchvision.transforms.functional",
        "_get_image_num_channels",
        "0.11",
        "torchvision.transforms.functional",
        "get_image_num_channels",
    ),
    # -- 0.12 ----------------------------------------------------------------------------------
    *(
        _alias(f"torchvision.transforms{sub}", old, "0.12", f"torchvision.transforms{sub}", new)
        for sub in ("", ".transforms")
        for old, new in (("Scale", "Resize"), ("RandomSizedCrop", "RandomResizedCrop"))
    ),
    _alias(
        "torchvision.transforms.functional",
        "scale",
        "0.12",
        "torchvision.transforms.functional",
        "resize",
    ),
    *(
        _alias("torchvision.ops.misc", name, "0.12", "torch.nn", name)
        for name in ("Conv2d", "ConvTranspose2d", "BatchNorm2d")
    ),
    *(
        _alias(
            f"torchvision.models.detection.{module}",
            name,
            "0.12",
            "torchvision.models.detection.backbone_utils",
            name,
        )
        for module, name in (
            ("faster_rcnn", "resnet_fpn_backbone"),
            ("faster_rcnn", "mobilenet_backbone"),
            ("keypoint_rcnn", "resnet_fpn_backbone"),
            ("mask_rcnn", "resnet_fpn_backbone"),
            ("retinanet", "resnet_fpn_backbone"),
        )
    ),
    # removed with segmentation.segmentation's rewrite as a star import (0.12); served on the
    # stand-in module (0.14+), not on 0.12-0.13's own module (loaded only when imported)
    *(
        _alias(
            "torchvision.models.segmentation.segmentation",
            name,
            "0.12",
            f"torchvision.models.{home}",
            name,
        )
        for name, home in (
            ("IntermediateLayerGetter", "_utils"),
            ("DeepLabHead", "segmentation.deeplabv3"),
            ("FCNHead", "segmentation.fcn"),
        )
    ),
    # -- 0.13 ----------------------------------------------------------------------------------
    *(
        RemovedName(
            f"torchvision.models.{module}",
            "load_state_dict_from_url",
            "0.13",
            STANDIN,
            _HUB,
            "load_state_dict_from_url",
            _LOADER_DOC,
        )
        for module in _LOADER_MODULES
    ),
    # -- 0.14 ----------------------------------------------------------------------------------
    RemovedName(
        "torchvision.models.mobilenetv2",
        "ConvBNActivation",
        "0.14",
        STANDIN,
        doc="torchvision.ops.misc.Conv2dNormActivation defaulting to BatchNorm2d and ReLU6, as "
        "0.12-0.13 defined it (0.10's in_planes=/out_planes= keywords accepted too).",
    ),
    _alias(
        "torchvision.models.mobilenetv2",
        "ConvBNReLU",
        "0.14",
        "torchvision.models.mobilenetv2",
        "ConvBNActivation",
    ),
    # removed from mobilenetv3's namespace in 0.11; the same class as mobilenetv2's
    _alias(
        "torchvision.models.mobilenetv3",
        "ConvBNActivation",
        "0.11",
        "torchvision.models.mobilenetv2",
        "ConvBNActivation",
    ),
    RemovedName(
        "torchvision.models.mobilenetv3",
        "SqueezeExcitation",
        "0.14",
        STANDIN,
        doc="MobileNetV3's squeeze-excitation block as 0.10 defined it (fc1, ReLU, fc2, "
        "hardsigmoid); 0.11-0.13's deprecated subclass of ops.SqueezeExcitation failed in "
        "forward().",
    ),
    RemovedName(
        "torchvision.datasets.kinetics",
        "Kinetics400",
        "0.14",
        STANDIN,
        doc="Kinetics(..., _legacy=True): the classes are root's folders, clips come as "
        "Tensor[T, H, W, C]; 0.10's positional order (root, frames_per_clip, "
        "step_between_clips, frame_rate, extensions, transform, ...).",
    ),
    _alias(
        "torchvision.datasets",
        "Kinetics400",
        "0.14",
        "torchvision.datasets.kinetics",
        "Kinetics400",
    ),
    # -- 0.15 ----------------------------------------------------------------------------------
    RemovedName(
        "torchvision.datasets.utils",
        "gen_bar_updater",
        "0.15",
        STANDIN,
        doc="urlretrieve's reporthook over torch.hub's tqdm, as 0.10-0.14 defined it.",
    ),
    # -- 0.26 ----------------------------------------------------------------------------------
    *(
        RemovedName("torchvision.io", name, "0.26", ERROR, doc=_VIDEO_DOC)
        for name in ("read_video", "read_video_timestamps", "write_video", "VideoReader")
    ),
)
"""Every removed name tvcompat serves, oldest removal first; an :data:`ALIAS` row whose
replacement is itself a removed name comes after that name's row."""


def find_module(module: str) -> RemovedModule | None:
    """The :data:`MODULES` row for ``module``, if any."""
    return next((m for m in MODULES if m.module == module), None)


def find_name(module: str, name: str) -> RemovedName | None:
    """The :data:`NAMES` row for ``module.name``, if any."""
    return next((n for n in NAMES if n.module == module and n.name == name), None)


def names_in(module: str) -> tuple[RemovedName, ...]:
    """The :data:`NAMES` rows of ``module``."""
    return tuple(n for n in NAMES if n.module == module)
