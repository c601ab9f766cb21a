"""tvcompat's video builders and weights enums (mirrors ``torchvision.models.video``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "video")
__dir__ = family_dir("video")
