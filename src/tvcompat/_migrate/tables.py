"""What ``tvcompat migrate`` rewrites to: the targets, each family's modules (torchvision's
and tvcompat's), and which catalog builder a qualified name calls."""

from __future__ import annotations

from tvcompat import _catalog
from tvcompat._catalog import FAMILY_MODULES
from tvcompat._versions import capabilities, torchvision_version
from tvcompat.errors import InvalidValueError, TorchvisionTooOldError

__all__ = ["NATIVE_PACKAGES", "SHIM_PACKAGES", "TARGETS", "builder_key_for", "check_target"]

TARGETS = ("shim", "native")

#: where each family's enums are imported from with ``--target native`` (0.13+)
NATIVE_PACKAGES = {k: v for k, v in FAMILY_MODULES.items() if k != "backbone_utils"}
#: tvcompat's module of each family: its torchvision module's path under ``tvcompat``
#: (``torchvision.models`` -> ``tvcompat``, ``torchvision.models.detection.backbone_utils`` ->
#: ``tvcompat.detection.backbone_utils``)
SHIM_PACKAGES = {
    family: "tvcompat" + module[len("torchvision.models") :]
    for family, module in FAMILY_MODULES.items()
}
_SUBPACKAGES = ("detection", "segmentation", "video", "optical_flow", "quantization")


def check_target(target: str) -> None:
    """Refuse a target the installed torchvision cannot serve (``native`` before 0.13)."""
    if target not in TARGETS:
        raise InvalidValueError(f"target must be one of {TARGETS}, not {target!r}")
    if target == "native" and not capabilities().weights_api:
        raise TorchvisionTooOldError(
            f"--target native rewrites to torchvision's weights= enums, which torchvision "
            f"{torchvision_version()} does not have (they arrived in 0.13). Use --target shim "
            "(tvcompat's builders and enums, which work on every torchvision), or upgrade "
            "torchvision to >= 0.13 first."
        )


def builder_key_for(qualified: str) -> str | None:
    """The catalog key of the torchvision builder named ``qualified``
    (``torchvision.models.resnet50``, ``torchvision.models.mobilenetv2.mobilenet_v2``,
    ``torchvision.models.detection.faster_rcnn.fasterrcnn_resnet50_fpn``...), or ``None``."""
    parts = qualified.split(".")
    if parts[:2] != ["torchvision", "models"] or len(parts) < 3:
        return None
    name, modules = parts[-1], parts[2:-1]
    family = "classification"
    if modules and modules[0] in _SUBPACKAGES:
        family, modules = modules[0], modules[1:]
        if family == "detection" and modules[:1] == ["backbone_utils"]:
            family, modules = "backbone_utils", modules[1:]
    if len(modules) > 1 or (modules and modules[0] in ("_api", "_utils")):
        return None
    key = name if family == "classification" else f"{family}.{name}"
    info = _catalog.builder(key)
    return key if info is not None else None
