"""``resnet_fpn_backbone`` and ``mobilenet_backbone`` on every torchvision (mirrors
``torchvision.models.detection.backbone_utils``)."""

from __future__ import annotations

from tvcompat._models.namespace import family_dir, family_getattr

__getattr__ = family_getattr(__name__, "backbone_utils")
__dir__ = family_dir("backbone_utils")
