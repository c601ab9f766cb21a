"""tvcompat's optical flow builders and weights enums
(mirrors ``torchvision.models.optical_flow``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "optical_flow")
__dir__ = family_dir("optical_flow")
