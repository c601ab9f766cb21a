"""tvcompat's segmentation builders and weights enums
(mirrors ``torchvision.models.segmentation``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "segmentation")
__dir__ = family_dir("segmentation")
