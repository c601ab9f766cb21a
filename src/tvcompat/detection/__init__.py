"""tvcompat's detection builders and weights enums (mirrors ``torchvision.models.detection``)."""

from __future__ import annotations

import importlib
from typing import Any

from tvcompat._models.namespace import family_dir, family_getattr

_family_getattr = family_getattr(__name__, "detection")


def __getattr__(name: str) -> Any:
    if name == "backbone_utils":  # the public submodule, also without importing it first
        return importlib.import_module(f"{__name__}.backbone_utils")
    return _family_getattr(name)


__dir__ = family_dir("detection", ("backbone_utils",))
