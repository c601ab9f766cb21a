"""Read access to the generated weights catalog (``data/catalog.json``), typed.

The catalog is produced by ``scripts/generate_catalog.py`` from real torchvision releases;
this module only reads it, and checks its schema version when it does. Per-version facts
are stored as ranges ``[[start, value], ...]`` (ascending minor versions); :func:`pick`
selects the value for the installed torchvision. The records are :class:`BuilderRecord`,
:class:`EnumRecord` and :class:`MemberRecord`; the legacy call forms a builder record knows
are the constants ``FORM_*`` below.
"""

from __future__ import annotations

import functools
import json
import posixpath
from importlib import resources
from typing import Any, Optional, TypedDict

from packaging.version import Version

from tvcompat._versions import torchvision_version
from tvcompat.errors import CatalogError

#: The catalog layout this code reads; ``scripts/generate_catalog.py`` writes the same number.
SCHEMA = 2
#: How to regenerate the catalog (named by the schema-mismatch error).
REGENERATE = "nox -s catalog (or: python scripts/generate_catalog.py PYTHON...)"

#: ``[[start, value], ...]``: a value per range of torchvision minor versions; a start is
#: ``"0.13"`` or ``"<=0.10"`` (the oldest release scanned, and anything before it).
Ranges = list[list[Any]]

# The legacy call forms the catalog records per builder (what each one loads, per release):
FORM_PRETRAINED = "pretrained=True"
FORM_PRETRAINED_QUANTIZED = "pretrained=True,quantize=True"
FORM_PRETRAINED_LEGACY = "pretrained=legacy"  # keypoint R-CNN's pretrained="legacy"
FORM_PRETRAINED_BACKBONE = "pretrained_backbone=True"
#: the backbone loaded when neither pretrained_backbone nor weights_backbone is given
FORM_BACKBONE_DEFAULT_LEGACY = "pretrained_backbone=default"  # torchvision <= 0.12
FORM_BACKBONE_DEFAULT = "weights_backbone=default"  # torchvision >= 0.13
FORM_BACKBONE_NAME = "backbone_name="  # + the name: what the backbone utils load for it


def backbone_name_form(backbone: object) -> str:
    """The form of a backbone util called with ``backbone_name=backbone, pretrained=True``."""
    return f"{FORM_BACKBONE_NAME}{backbone}"


class BuilderRecord(TypedDict):
    """One builder (key ``"resnet50"``, ``"detection.fasterrcnn_resnet50_fpn"``)."""

    name: str
    family: str
    added: str
    present: Ranges
    """whether the installed release exports it (0.12 dropped two quantized builders)"""
    positional: list[str]
    """the legacy positional order (``pretrained, progress, ...``)"""
    params: list[str]
    """the parameters of the newest release's signature"""
    weights_params: list[str]
    enums: dict[str, list[str]]
    """weights parameter -> the enums it accepts"""
    legacy_params: list[str]
    legacy: dict[str, Ranges]
    """legacy form (``FORM_*``) -> per range: ``"Enum.MEMBER"``, ``None`` or an error record"""


class PresetSpec(TypedDict):
    name: str
    kwargs: dict[str, Any]


class _MemberRequired(TypedDict):
    added: str
    urls: Ranges
    meta: dict[str, Any]
    transforms: PresetSpec


class MemberRecord(_MemberRequired, total=False):
    """One weights entry of an enum."""

    legacy_since: str
    """the first release whose ``pretrained=True`` already loaded this file"""


class EnumRecord(TypedDict):
    module: str
    family: str
    added: str
    default: Optional[str]  # noqa: UP045 - typing.get_type_hints must work on Python 3.9
    members: dict[str, MemberRecord]


class Catalog(TypedDict):
    schema: int
    generated_from: list[str]
    builders: dict[str, BuilderRecord]
    enums: dict[str, EnumRecord]
    categories: dict[str, list[str]]
    model_urls: dict[str, dict[str, str]]


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
    "FORM_BACKBONE_DEFAULT",
    "FORM_BACKBONE_DEFAULT_LEGACY",
    "FORM_BACKBONE_NAME",
    "FORM_PRETRAINED",
    "FORM_PRETRAINED_BACKBONE",
    "FORM_PRETRAINED_LEGACY",
    "FORM_PRETRAINED_QUANTIZED",
    "SCHEMA",
    "BuilderRecord",
    "Catalog",
    "EnumRecord",
    "MemberRecord",
    "PresetSpec",
    "Ranges",
    "backbone_name_form",
    "builder",
    "builder_available",
    "builder_family",
    "builder_keys",
    "catalog",
    "categories",
    "enum",
    "enum_family",
    "enum_names",
    "filename_index",
    "is_available",
    "model_urls",
    "pick",
    "start_version",
]


@functools.cache
def catalog() -> Catalog:
    """The parsed catalog (read once; its schema version checked)."""
    text = resources.files("tvcompat").joinpath("data/catalog.json").read_text("utf-8")
    return checked(json.loads(text))


def checked(data: Any) -> Catalog:
    """``data`` as a :class:`Catalog`, or a :class:`~tvcompat.errors.CatalogError` when it is
    not the layout this code reads."""
    found = data.get("schema") if isinstance(data, dict) else None
    if found != SCHEMA:
        raise CatalogError(
            f"tvcompat's weights catalog has schema {found!r}, this code reads schema "
            f"{SCHEMA}: the catalog and the code come from different versions. Reinstall "
            f"tvcompat, or in a checkout regenerate the catalog: {REGENERATE}."
        )
    missing = [k for k in Catalog.__annotations__ if k not in data]
    if missing:
        raise CatalogError(
            f"tvcompat's weights catalog lacks {', '.join(missing)}: regenerate it: {REGENERATE}."
        )
    result: Catalog = data
    return result


@functools.cache
def start_version(start: str) -> Version:
    """A range start such as ``"0.13"`` or ``"<=0.10"`` (oldest scanned: anything before)."""
    return Version("0") if start.startswith("<=") else Version(start)


@functools.cache
def _installed_minor() -> Version:
    release = torchvision_version().release
    return Version(".".join(str(p) for p in release[:2]))


def pick(ranges: Ranges, version: Version | None = None) -> Any:
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


def builder(key: str) -> BuilderRecord | None:
    """A builder's record, or ``None``."""
    return catalog()["builders"].get(key)


@functools.cache
def is_available(added: str) -> bool:
    """Whether something added in torchvision ``added`` exists in the installed release."""
    return start_version(added) <= _installed_minor()


def builder_family(key: str) -> str | None:
    """The family of builder ``key``, or ``None`` for an unknown key."""
    info = builder(key)
    return None if info is None else info["family"]


def enum_family(name: str) -> str | None:
    """The family of weights enum ``name``, or ``None`` for an unknown enum."""
    info = enum(name)
    return None if info is None else info["family"]


def builder_available(info: BuilderRecord) -> bool:
    """Whether the installed torchvision exports the builder ``info`` describes (0.12 did
    not export two quantized builders that 0.10, 0.11 and 0.13+ have)."""
    return bool(pick(info["present"]))


def enum_names() -> list[str]:
    """Every weights enum name of every torchvision release the catalog was built from."""
    return list(catalog()["enums"])


def enum(name: str) -> EnumRecord | None:
    """A weights enum's record, or ``None``."""
    return catalog()["enums"].get(name)


def categories(ref: str) -> list[str]:
    """A category list the catalog stores once and members name (``meta["categories_ref"]``)."""
    return catalog()["categories"][ref]


def model_urls() -> dict[str, dict[str, str]]:
    """``"torchvision.models.<module>.model_urls"`` (or ``quant_model_urls``) -> that legacy
    mapping, as the last release that had it defined it."""
    return catalog()["model_urls"]


@functools.cache
def filename_index() -> dict[str, tuple[str, str]]:
    """Every weights file name any torchvision release used -> ``(enum, member)``."""
    index: dict[str, tuple[str, str]] = {}
    for enum_name, info in catalog()["enums"].items():
        for member, m in info["members"].items():
            for _, url in m["urls"]:
                index.setdefault(posixpath.basename(url), (enum_name, member))
    return index
