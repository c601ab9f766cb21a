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
import sys
from importlib import resources
from typing import Any, Optional, TypedDict

from packaging.version import Version

from tvcompat import _catalog_live as _live
from tvcompat._versions import torchvision_version
from tvcompat.errors import CatalogError

#: The catalog layout this code reads; ``scripts/generate_catalog.py`` writes the same number.
SCHEMA = 3
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


class ReleaseRecord(TypedDict):
    """One release the catalog was read from (every minor release, its newest patch)."""

    torchvision: str
    torch: str
    python: str


class Catalog(TypedDict):
    schema: int
    releases: list[ReleaseRecord]
    """the releases read, ascending: their minors form one contiguous range"""
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
#: Family -> tvcompat's public module serving its builders and weights enums (the
#: ``__module__`` of tvcompat's builders and stand-in enums, where pickle finds them).
PUBLIC_MODULES = {
    family: "tvcompat" if family == "classification" else f"tvcompat.{family}"
    for family in FAMILY_MODULES
}
PUBLIC_MODULES["backbone_utils"] = "tvcompat.detection.backbone_utils"

__all__ = [
    "FAMILY_MODULES",
    "FORM_BACKBONE_DEFAULT",
    "FORM_BACKBONE_DEFAULT_LEGACY",
    "FORM_BACKBONE_NAME",
    "FORM_PRETRAINED",
    "FORM_PRETRAINED_BACKBONE",
    "FORM_PRETRAINED_LEGACY",
    "FORM_PRETRAINED_QUANTIZED",
    "PUBLIC_MODULES",
    "SCHEMA",
    "BuilderRecord",
    "Catalog",
    "EnumRecord",
    "MemberRecord",
    "PresetSpec",
    "Ranges",
    "ReleaseRecord",
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
    "live_enum_class",
    "live_member",
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


def builder_keys(*, live: bool = False) -> list[str]:
    """Every builder key the catalog knows (``"resnet50"``, ``"detection.fcos_resnet50_fpn"``);
    with ``live``, also those only the installed torchvision registers (imports it, 0.14+)."""
    keys = list(catalog()["builders"])
    return [*keys, *_live_records()["builders"]] if live else keys


def builder(key: str) -> BuilderRecord | None:
    """A builder's record (also one only the installed torchvision registers), or ``None``."""
    found = catalog()["builders"].get(key)
    return _live_records()["builders"].get(key) if found is None else found


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


def enum_names(*, live: bool = False) -> list[str]:
    """Every weights enum name of every torchvision release the catalog was built from;
    with ``live``, also those only the installed torchvision has (imports it, 0.14+)."""
    names = list(catalog()["enums"])
    return [*names, *_live_records()["enums"]] if live else names


def enum(name: str) -> EnumRecord | None:
    """A weights enum's record (also one only the installed torchvision has), or ``None``."""
    found = catalog()["enums"].get(name)
    return _live_records()["enums"].get(name) if found is None else found


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


# --- the installed torchvision's additions ------------------------------------------------
# A torchvision newer than the catalog (or code registering its own builders) has builders
# and weights enums the generated data lacks. torchvision 0.14+ registers every builder
# (``list_models``/``get_model_builder``/``get_model_weights``): records for what the data
# lacks are derived from that registry, the builder's signature and its legacy decorator,
# so every lookup below serves them like generated ones. Read only when a lookup misses or
# every name is listed, so ordinary look-ups never import torchvision.


@functools.cache
def _live_builder(name: str, fn: Any) -> tuple[str, BuilderRecord, list[type]]:
    """The catalog key, record and weights enums of registered builder ``name``."""
    import inspect  # noqa: PLC0415 - only for live records
    import typing  # noqa: PLC0415 - only for live records

    import torchvision.models  # noqa: PLC0415 - torchvision is heavy: lazy

    family = _live.family_of(fn, FAMILY_MODULES)
    minor = str(_installed_minor())
    signature = inspect.signature(fn)
    params = list(signature.parameters)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    weights_params = [p for p in params if p == "weights" or p.startswith("weights_")]
    enums = {p: [c.__name__ for c in _live.enum_classes(hints.get(p))] for p in weights_params}
    try:
        main = [torchvision.models.get_model_weights(name)]
    except ValueError:  # a builder registered without an annotated ``weights``
        main = []
    if "weights" in enums:
        enums["weights"] = list(dict.fromkeys([*(c.__name__ for c in main), *enums["weights"]]))
    decorator = _live.legacy_decorator(fn)
    legacy: dict[str, Ranges] = {}
    for param, (legacy_param, default) in decorator.items():
        if param == "weights":
            variants: dict[str, dict[str, Any]] = {
                FORM_PRETRAINED: {"weights": True, "quantize": False}
            }
            if family == "quantization":
                variants[FORM_PRETRAINED_QUANTIZED] = {"weights": True, "quantize": True}
            if _live.legacy_pick(default, {"weights": "legacy"}) != _live.legacy_pick(default, {}):
                variants[FORM_PRETRAINED_LEGACY] = {"weights": "legacy"}
            for form, kwargs in variants.items():
                legacy[form] = [[minor, _live.legacy_pick(default, kwargs)]]
        elif legacy_param == "pretrained_backbone":
            legacy[FORM_PRETRAINED_BACKBONE] = [[minor, _live.legacy_pick(default, {})]]
    if "weights_backbone" in signature.parameters:
        default = signature.parameters["weights_backbone"].default
        legacy[FORM_BACKBONE_DEFAULT] = [[minor, _live.member_name(default)]]
    kw_only = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    record: BuilderRecord = {
        "name": fn.__name__,
        "family": family,
        "added": minor,
        "present": [[minor, True]],
        "positional": kw_only,  # torchvision maps positional arguments onto these
        "params": params,
        "weights_params": weights_params,
        "enums": enums,
        "legacy_params": [legacy for legacy, _ in decorator.values()],
        "legacy": legacy,
    }
    key = fn.__name__ if family == "classification" else f"{family}.{fn.__name__}"
    classes = [*main, *(c for p in weights_params for c in _live.enum_classes(hints.get(p)))]
    return key, record, classes


def live_enum_class(name: str) -> type | None:
    """The installed torchvision's weights enum ``name``, for one the generated data lacks."""
    return _live_records()["classes"].get(name)


def live_member(cls: Any, family: str, member: str) -> MemberRecord | None:
    """The record of ``member`` of the installed torchvision's weights enum ``cls``, derived
    from the member itself (for a member the generated data lacks)."""
    return _live_enum(cls, family)["members"].get(member)


def _live_enum(cls: Any, family: str) -> EnumRecord:
    minor = str(_installed_minor())
    members: dict[str, MemberRecord] = {}
    for member_name, member in cls.__members__.items():
        if member_name != member.name:  # an alias (DEFAULT)
            continue
        meta: dict[str, Any] = {  # the catalog's encoding (JSON values, categories counted)
            k: list(v) if isinstance(v, tuple) else v
            for k, v in member.meta.items()
            if k not in ("categories", "unquantized")
            and isinstance(v, (str, int, float, dict, list, tuple))
        }
        if member.meta.get("categories") is not None:
            meta["num_categories"] = len(member.meta["categories"])
        unquantized = _live.member_name(member.meta.get("unquantized"))
        if unquantized is not None:
            meta["unquantized"] = unquantized
        transforms = member.transforms
        spec: PresetSpec = {
            "name": getattr(getattr(transforms, "func", transforms), "__name__", ""),
            "kwargs": dict(getattr(transforms, "keywords", {})),
        }
        members[member_name] = {
            "added": minor,
            "urls": [[minor, member.url]],
            "meta": meta,
            "transforms": spec,
        }
    default = cls.__members__.get("DEFAULT")
    return {
        "module": cls.__module__,
        "family": family,
        "added": minor,
        "default": None if default is None else default.name,
        "members": members,
    }


@functools.cache
def _registered_names() -> frozenset[str]:
    """The names the catalog's builders are registered as (``quantized_`` + quantized ones)."""
    return frozenset(
        f"quantized_{b['name']}" if b["family"] == "quantization" else b["name"]
        for b in catalog()["builders"].values()
    )


class _Live(TypedDict):
    builders: dict[str, BuilderRecord]
    enums: dict[str, EnumRecord]
    classes: dict[str, type]


def _live_records() -> _Live:
    """Records for what the installed torchvision registers and the generated data lacks
    (read on each call: code may register builders at any time)."""
    data = catalog()
    known = _registered_names()
    live: _Live = {"builders": {}, "enums": {}, "classes": {}}
    newest = Version(data["releases"][-1]["torchvision"]).release[:2]
    # torchvision's registry can only hold more than the catalog if the installed release is
    # newer, or if something registered a builder (which means it imported torchvision)
    if _installed_minor().release[:2] <= newest and "torchvision.models" not in sys.modules:
        return live
    for name, fn in _live.registered().items():
        if name in known:
            continue
        key, record, classes = _live_builder(name, fn)
        live["builders"][key] = record
        for cls in classes:
            if cls.__name__ not in data["enums"]:
                live["enums"][cls.__name__] = _live_enum(cls, _live.family_of(cls, FAMILY_MODULES))
                live["classes"][cls.__name__] = cls
    return live
