"""tvcompat's detection builders and weights enums (mirrors ``torchvision.models.detection``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "detection")
__dir__ = family_dir("detection", ("backbone_utils",))
