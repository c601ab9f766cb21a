"""Preprocessing presets for the stand-in weights enums (torchvision < 0.13, and enums newer
than the installed release).

The same code as ``torchvision.transforms._presets`` (0.29), on the functional API every
torchvision since 0.10 has: the same outputs, ``repr()``, ``describe()``, and scriptable with
TorchScript as torchvision's are. On torchvision >= 0.13 the real enums' own presets are used.
"""

# TorchScript (torch 1.9 included) reads these annotations: typing's List/Optional/Tuple, and
# no postponed evaluation of annotations.
# ruff: noqa: UP006, UP035

from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

__all__ = [
    "ImageClassification",
    "ObjectDetection",
    "OpticalFlow",
    "SemanticSegmentation",
    "VideoClassification",
]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_ACCEPTS = (
    "Accepts ``PIL.Image``, batched ``(B, C, H, W)`` and single ``(C, H, W)`` image "
    "``torch.Tensor`` objects."
)


def _mode(value: Union[str, InterpolationMode]) -> InterpolationMode:
    """The catalog names the interpolation by its value (``"bilinear"``)."""
    return value if isinstance(value, InterpolationMode) else InterpolationMode(value)


def _repr(preset: nn.Module, *fields: str) -> str:
    """torchvision's preset ``repr``: the class name and one ``field=value`` per line."""
    lines = "".join(f"\n    {name}={getattr(preset, name)}" for name in fields)
    return f"{type(preset).__name__}({lines}\n)"


class ObjectDetection(nn.Module):
    """Scale to [0, 1]; detection models normalise internally."""

    def forward(self, img: Tensor) -> Tensor:
        if not isinstance(img, Tensor):
            img = F.pil_to_tensor(img)
        out: Tensor = F.convert_image_dtype(img, torch.float)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def describe(self) -> str:
        return f"{_ACCEPTS} The images are rescaled to ``[0.0, 1.0]``."


class ImageClassification(nn.Module):
    """Resize, center-crop, scale to [0, 1] and normalise (ImageNet statistics)."""

    def __init__(
        self,
        *,
        crop_size: int,
        resize_size: int = 256,
        mean: Tuple[float, ...] = _IMAGENET_MEAN,
        std: Tuple[float, ...] = _IMAGENET_STD,
        interpolation: Union[str, InterpolationMode] = InterpolationMode.BILINEAR,
        antialias: Optional[bool] = True,
    ) -> None:
        super().__init__()
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = _mode(interpolation)
        self.antialias = antialias

    def forward(self, img: Tensor) -> Tensor:
        img = F.resize(
            img, self.resize_size, interpolation=self.interpolation, antialias=self.antialias
        )
        img = F.center_crop(img, self.crop_size)
        if not isinstance(img, Tensor):
            img = F.pil_to_tensor(img)
        img = F.convert_image_dtype(img, torch.float)
        out: Tensor = F.normalize(img, mean=self.mean, std=self.std)
        return out

    def __repr__(self) -> str:
        return _repr(self, "crop_size", "resize_size", "mean", "std", "interpolation")

    def describe(self) -> str:
        return (
            f"{_ACCEPTS} The images are resized to ``resize_size={self.resize_size}`` using "
            f"``interpolation={self.interpolation}``, followed by a central crop of "
            f"``crop_size={self.crop_size}``. Finally the values are first rescaled to "
            f"``[0.0, 1.0]`` and then normalized using ``mean={self.mean}`` and "
            f"``std={self.std}``."
        )


class VideoClassification(nn.Module):
    """The video preset: frames ``(..., T, C, H, W)`` -> ``(..., C, T, H, W)``."""

    def __init__(
        self,
        *,
        crop_size: Tuple[int, int],
        resize_size: Union[Tuple[int], Tuple[int, int]],
        mean: Tuple[float, ...] = (0.43216, 0.394666, 0.37645),
        std: Tuple[float, ...] = (0.22803, 0.22145, 0.216989),
        interpolation: Union[str, InterpolationMode] = InterpolationMode.BILINEAR,
    ) -> None:
        super().__init__()
        self.crop_size = list(crop_size)
        self.resize_size = list(resize_size)
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = _mode(interpolation)

    def forward(self, vid: Tensor) -> Tensor:
        need_squeeze = False
        if vid.ndim < 5:
            vid = vid.unsqueeze(dim=0)
            need_squeeze = True
        n, t, c, h, w = vid.shape
        vid = vid.view(-1, c, h, w)
        # torchvision's video preset never antialiases (0.13/0.14: the tensor default; 0.15+:
        # antialias=False), unlike its image presets
        vid = F.resize(vid, self.resize_size, interpolation=self.interpolation, antialias=False)
        vid = F.center_crop(vid, self.crop_size)
        vid = F.convert_image_dtype(vid, torch.float)
        vid = F.normalize(vid, mean=self.mean, std=self.std)
        h, w = self.crop_size
        vid = vid.view(n, t, c, h, w)
        vid = vid.permute(0, 2, 1, 3, 4)  # (N, T, C, H, W) => (N, C, T, H, W)
        if need_squeeze:
            vid = vid.squeeze(dim=0)
        return vid

    def __repr__(self) -> str:
        return _repr(self, "crop_size", "resize_size", "mean", "std", "interpolation")

    def describe(self) -> str:
        return (
            "Accepts batched ``(B, T, C, H, W)`` and single ``(T, C, H, W)`` video frame "
            f"``torch.Tensor`` objects. The frames are resized to ``resize_size="
            f"{self.resize_size}`` using ``interpolation={self.interpolation}``, followed by a "
            f"central crop of ``crop_size={self.crop_size}``. Finally the values are first "
            f"rescaled to ``[0.0, 1.0]`` and then normalized using ``mean={self.mean}`` and "
            f"``std={self.std}``. Finally the output dimensions are permuted to "
            "``(..., C, T, H, W)`` tensors."
        )


class SemanticSegmentation(nn.Module):
    """Resize (shorter side), scale to [0, 1] and normalise."""

    def __init__(
        self,
        *,
        resize_size: Optional[int],
        mean: Tuple[float, ...] = _IMAGENET_MEAN,
        std: Tuple[float, ...] = _IMAGENET_STD,
        interpolation: Union[str, InterpolationMode] = InterpolationMode.BILINEAR,
        antialias: Optional[bool] = True,
    ) -> None:
        super().__init__()
        self.resize_size: Optional[List[int]] = [resize_size] if resize_size is not None else None
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = _mode(interpolation)
        self.antialias = antialias

    def forward(self, img: Tensor) -> Tensor:
        if isinstance(self.resize_size, list):
            img = F.resize(
                img, self.resize_size, interpolation=self.interpolation, antialias=self.antialias
            )
        if not isinstance(img, Tensor):
            img = F.pil_to_tensor(img)
        img = F.convert_image_dtype(img, torch.float)
        out: Tensor = F.normalize(img, mean=self.mean, std=self.std)
        return out

    def __repr__(self) -> str:
        return _repr(self, "resize_size", "mean", "std", "interpolation")

    def describe(self) -> str:
        return (
            f"{_ACCEPTS} The images are resized to ``resize_size={self.resize_size}`` using "
            f"``interpolation={self.interpolation}``. Finally the values are first rescaled to "
            f"``[0.0, 1.0]`` and then normalized using ``mean={self.mean}`` and "
            f"``std={self.std}``."
        )


class OpticalFlow(nn.Module):
    """Scale both frames to [-1, 1]."""

    def forward(self, img1: Tensor, img2: Tensor) -> Tuple[Tensor, Tensor]:
        if not isinstance(img1, Tensor):
            img1 = F.pil_to_tensor(img1)
        if not isinstance(img2, Tensor):
            img2 = F.pil_to_tensor(img2)
        img1 = F.convert_image_dtype(img1, torch.float)
        img2 = F.convert_image_dtype(img2, torch.float)
        # map [0, 1] into [-1, 1]
        img1 = F.normalize(img1, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
        img2 = F.normalize(img2, mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
        return img1.contiguous(), img2.contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def describe(self) -> str:
        return f"{_ACCEPTS} The images are rescaled to ``[-1.0, 1.0]``."
