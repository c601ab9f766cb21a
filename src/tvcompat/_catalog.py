"""Read access to the generated weights catalog (``data/catalog.json``).

The catalog is produced by ``scripts/generate_catalog.py`` from real torchvision releases;
this module only reads it. Per-version facts are stored as ranges ``[[start, value], ...]``
(ascending minor versions); :func:`pick` selects the value for the installed torchvision.
"""

from __future__ import annotations

import functools
import json
import posixpath
from importlib import resources
from typing import Any

from packaging.version import Version

from tvcompat._versions import torchvision_version

#: Family -> the torchvision module holding its builders (the family's tvcompat module is
#: ``tvcompat`` for classification, ``tvcompat.<family>`` otherwise).
FAMILY_MODULES = {
    "classification": "torchvision.models",
    "detection": "torchvision.models.detection",
    "segmentation": "torchvision.models.segmentation",
    "video": "torchvision.models.video",
    "optical_flow": "torchvision.models.optical_flow",
    "quantization": "torchvision.models.quantization",
    "backbone_utils": "torchvision.models.detection.backbone_utils",
}

__all__ = [
    "FAMILY_MODULES",
    "builder",
    "builder_available",
    "builder_keys",
    "catalog",
    "enum",
    "enum_names",
    "filename_index",
    "is_available",
    "pick",
    "start_version",
]


@functools.cache
def catalog() -> dict[str, Any]:
    """The parsed catalog (read once)."""
    text = resources.files("tvcompat").joinpath("data/catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def start_version(start: str) -> Version:
    """A range start such as ``"0.13"`` or ``"<=0.10"`` (oldest scanned: anything before)."""
    return Version("0") if start.startswith("<=") else Version(start)


@functools.cache
def _installed_minor() -> Version:
    release = torchvision_version().release
    return Version(".".join(str(p) for p in release[:2]))


def pick(ranges: list[list[Any]], version: Version | None = None) -> Any:
    """The value of ``ranges`` in force for ``version`` (default: the installed torchvision).

    Before the first range there is no value: ``None`` is returned.
    """
    version = _installed_minor() if version is None else version
    value: Any = None
    for start, item in ranges:
        if start_version(start) <= version:
            value = item
    return value


def builder_keys() -> list[str]:
    """Every builder key the catalog knows (``"resnet50"``, ``"detection.fcos_resnet50_fpn"``)."""
    return list(catalog()["builders"])


def builder(key: str) -> dict[str, Any] | None:
    """A builder's record, or ``None``."""
    info: dict[str, Any] | None = catalog()["builders"].get(key)
    return info


@functools.cache
def is_available(added: str) -> bool:
    """Whether something added in torchvision ``added`` exists in the installed release."""
    return start_version(added) <= _installed_minor()


def builder_available(info: dict[str, Any]) -> bool:
    """Whether the installed torchvision exports the builder ``info`` describes (0.12 did
    not export two quantized builders that 0.10, 0.11 and 0.13+ have)."""
    return bool(pick(info["present"]))


def enum_names() -> list[str]:
    """Every weights enum name of every torchvision release the catalog was built from."""
    return list(catalog()["enums"])


def enum(name: str) -> dict[str, Any] | None:
    """A weights enum's record, or ``None``."""
    info: dict[str, Any] | None = catalog()["enums"].get(name)
    return info


@functools.cache
def filename_index() -> dict[str, tuple[str, str]]:
    """Every weights file name any torchvision release used -> ``(enum, member)``."""
    index: dict[str, tuple[str, str]] = {}
    for enum_name, info in catalog()["enums"].items():
        for member, m in info["members"].items():
            for _, url in m["urls"]:
                index.setdefault(posixpath.basename(url), (enum_name, member))
    return index
