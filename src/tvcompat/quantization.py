"""tvcompat's quantization builders and weights enums
(mirrors ``torchvision.models.quantization``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "quantization")
__dir__ = family_dir("quantization")
