"""Preprocessing presets for the stand-in weights enums (torchvision < 0.13 only).

They mirror ``torchvision.transforms._presets`` (0.13+) with the functional API that exists
since torchvision 0.10. On torchvision >= 0.13 the real enums' own presets are used instead.
"""

from __future__ import annotations

import inspect
from typing import Any

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

#: whether this torchvision's resize takes ``antialias`` (the presets pass True, as
#: torchvision's own do; 0.15/0.16 warn when it is left unset)
_HAS_ANTIALIAS = "antialias" in inspect.signature(F.resize).parameters
_RESIZE_KWARGS: dict[str, Any] = {"antialias": True} if _HAS_ANTIALIAS else {}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _mode(value: str | InterpolationMode) -> InterpolationMode:
    return value if isinstance(value, InterpolationMode) else InterpolationMode(value)


def _to_float_tensor(img: Any) -> Tensor:
    if not isinstance(img, Tensor):
        img = F.pil_to_tensor(img)
    out: Tensor = F.convert_image_dtype(img, torch.float)
    return out


class ImageClassification(nn.Module):
    """Resize, center-crop, scale to [0, 1] and normalise (ImageNet statistics)."""

    def __init__(
        self,
        *,
        crop_size: int,
        resize_size: int = 256,
        mean: tuple[float, ...] = _IMAGENET_MEAN,
        std: tuple[float, ...] = _IMAGENET_STD,
        interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
        antialias: bool | None = True,
    ) -> None:
        super().__init__()
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean, self.std = list(mean), list(std)
        self.interpolation = _mode(interpolation)
        self._resize = {"antialias": antialias} if _HAS_ANTIALIAS else {}

    def forward(self, img: Any) -> Tensor:
        img = F.resize(img, self.resize_size, interpolation=self.interpolation, **self._resize)
        img = F.center_crop(img, self.crop_size)
        out: Tensor = F.normalize(_to_float_tensor(img), mean=self.mean, std=self.std)
        return out


class VideoClassification(nn.Module):
    """The video preset: frames ``(..., T, C, H, W)`` -> ``(..., C, T, H, W)``."""

    def __init__(
        self,
        *,
        crop_size: tuple[int, int],
        resize_size: tuple[int, int] | int,
        mean: tuple[float, ...] = (0.43216, 0.394666, 0.37645),
        std: tuple[float, ...] = (0.22803, 0.22145, 0.216989),
        interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
    ) -> None:
        super().__init__()
        self.crop_size = list(crop_size)
        self.resize_size = (
            list(resize_size) if isinstance(resize_size, (list, tuple)) else [resize_size]
        )
        self.mean, self.std = list(mean), list(std)
        self.interpolation = _mode(interpolation)

    def forward(self, vid: Tensor) -> Tensor:
        need_squeeze = vid.ndim < 5
        if need_squeeze:
            vid = vid.unsqueeze(dim=0)
        n, t, c, h, w = vid.shape
        vid = vid.view(-1, c, h, w)
        # torchvision's video preset never antialiases (0.13/0.14: the tensor default; 0.15+:
        # antialias=False), unlike its image presets
        no_antialias: dict[str, Any] = {"antialias": False} if _HAS_ANTIALIAS else {}
        vid = F.resize(vid, self.resize_size, interpolation=self.interpolation, **no_antialias)
        vid = F.center_crop(vid, self.crop_size)
        vid = F.convert_image_dtype(vid, torch.float)
        vid = F.normalize(vid, mean=self.mean, std=self.std)
        h, w = self.crop_size
        vid = vid.view(n, t, c, h, w).permute(0, 2, 1, 3, 4)
        return vid.squeeze(dim=0) if need_squeeze else vid


class SemanticSegmentation(nn.Module):
    """Resize (shorter side), scale to [0, 1] and normalise."""

    def __init__(
        self,
        *,
        resize_size: int | None,
        mean: tuple[float, ...] = _IMAGENET_MEAN,
        std: tuple[float, ...] = _IMAGENET_STD,
        interpolation: str | InterpolationMode = InterpolationMode.BILINEAR,
    ) -> None:
        super().__init__()
        self.resize_size = [resize_size] if resize_size is not None else None
        self.mean, self.std = list(mean), list(std)
        self.interpolation = _mode(interpolation)

    def forward(self, img: Any) -> Tensor:
        if self.resize_size is not None:
            img = F.resize(
                img, self.resize_size, interpolation=self.interpolation, **_RESIZE_KWARGS
            )
        out: Tensor = F.normalize(_to_float_tensor(img), mean=self.mean, std=self.std)
        return out


class ObjectDetection(nn.Module):
    """Scale to [0, 1]; detection models normalise internally."""

    def forward(self, img: Any) -> Tensor:
        return _to_float_tensor(img)


class OpticalFlow(nn.Module):
    """Scale both frames to [-1, 1]."""

    def forward(self, img1: Any, img2: Any) -> tuple[Tensor, Tensor]:
        out = []
        for img in (img1, img2):
            t = F.normalize(_to_float_tensor(img), mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
            out.append(t.contiguous())
        return out[0], out[1]
