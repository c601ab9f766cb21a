"""The generated catalog: its schema is checked when read, its records match the typed
layout the code reads, it is written one record per line (a regeneration is a readable
diff), it was read from every minor release, and its meta is torchvision's, every key."""

from __future__ import annotations

import importlib
import json
import typing
from importlib import resources

import pytest
from packaging.version import Version

from tvcompat import _catalog
from tvcompat._versions import torchvision_version
from tvcompat.errors import CatalogError, TvcompatError


def _text() -> str:
    return resources.files("tvcompat").joinpath("data/catalog.json").read_text("utf-8")


@pytest.mark.parametrize(
    "bad", [{"schema": _catalog.SCHEMA - 1}, {"schema": str(_catalog.SCHEMA)}, {}, [], None]
)
def test_a_catalog_of_another_schema_is_refused_with_the_fix(bad: object) -> None:
    with pytest.raises(CatalogError, match="nox -s catalog") as info:
        _catalog.checked(bad)
    assert isinstance(info.value, TvcompatError)
    assert isinstance(info.value, RuntimeError)


def test_a_catalog_missing_a_section_is_refused() -> None:
    data = json.loads(_text())
    del data["enums"]
    with pytest.raises(CatalogError, match="lacks enums"):
        _catalog.checked(data)


def _keys(record_type: type) -> tuple[set[str], set[str]]:
    hints = typing.get_type_hints(record_type)
    required = set(getattr(record_type, "__required_keys__", hints))
    return required, set(hints)


def test_records_have_the_typed_layout() -> None:
    data = _catalog.catalog()
    assert data["schema"] == _catalog.SCHEMA
    assert set(data) == set(typing.get_type_hints(_catalog.Catalog))
    required, allowed = _keys(_catalog.BuilderRecord)
    for key, info in data["builders"].items():
        assert required <= set(info) <= allowed, key
    e_required, e_allowed = _keys(_catalog.EnumRecord)
    m_required, m_allowed = _keys(_catalog.MemberRecord)
    for name, enum in data["enums"].items():
        assert e_required <= set(enum) <= e_allowed, name
        for member, rec in enum["members"].items():
            assert m_required <= set(rec) <= m_allowed, (name, member)


def test_legacy_forms_are_the_named_constants() -> None:
    named = {
        value
        for key, value in vars(_catalog).items()
        if key.startswith("FORM_") and key != "FORM_BACKBONE_NAME"
    }
    for key, info in _catalog.catalog()["builders"].items():
        for form in info["legacy"]:
            assert form in named or form.startswith(_catalog.FORM_BACKBONE_NAME), (key, form)


def test_one_record_per_line() -> None:
    lines = _text().splitlines()
    data = _catalog.catalog()
    starts = {line.split('": ', 1)[0].strip().strip('"') for line in lines if line.startswith("  ")}
    assert set(data["builders"]) <= starts
    assert set(data["enums"]) <= starts
    members = sum(len(e["members"]) for e in data["enums"].values())
    member_lines = [line for line in lines if line.startswith('    "')]
    assert len(member_lines) == members
    for line in member_lines:  # each member line is a whole JSON record
        json.loads("{" + line.strip().rstrip(",") + "}")


def _minor(version: str) -> tuple[int, int]:
    major, minor = Version(version).release[:2]
    return major, minor


def test_the_catalog_was_read_from_every_minor_release() -> None:
    """``releases`` names one release per minor, ascending and without a gap from the oldest
    to the newest read (so nothing between two releases is inferred), and covers the
    installed torchvision's minor; every range the catalog stores starts at a minor it read."""
    releases = _catalog.catalog()["releases"]
    minors = [_minor(r["torchvision"]) for r in releases]
    assert minors == sorted(set(minors)), "one release per minor, ascending"
    oldest, newest = minors[0], minors[-1]
    assert oldest == (0, 10), "tvcompat supports torchvision 0.10 and later"
    assert minors == [(0, n) for n in range(oldest[1], newest[1] + 1)], "a minor is missing"
    assert _minor(str(torchvision_version())) in minors
    for record in releases:
        assert set(record) == {"torchvision", "torch", "python"}
        assert Version(record["torch"]) >= Version("1.9")
        assert Version(record["python"]) >= Version("3.9")
    read = {f"{major}.{minor}" for major, minor in minors}
    oldest_start = "<={}.{}".format(*oldest)
    starts = set()
    data = _catalog.catalog()
    for info in data["builders"].values():
        starts.add(info["added"])
        starts.update(start for start, _ in info["present"])
        starts.update(start for ranges in info["legacy"].values() for start, _ in ranges)
    for enum in data["enums"].values():
        starts.add(enum["added"])
        for rec in enum["members"].values():
            starts.update([rec["added"], *(start for start, _ in rec["urls"])])
            if "legacy_since" in rec:
                starts.add(rec["legacy_since"])
    assert starts - {oldest_start} <= read, starts - {oldest_start} - read


#: the keys torchvision's own schema test (test/test_extended_models.py) requires of every
#: weights entry's meta since 0.15 (``categories`` too, except for optical flow, which has none)
REQUIRED_META = {"num_params", "min_size", "recipe", "_metrics", "_ops", "_file_size", "_docs"}


def _decoded(meta: dict[str, object]) -> dict[str, object]:
    out = dict(meta)
    if "categories_ref" in out:
        assert isinstance(out["categories_ref"], str)
        out["categories"] = _catalog.categories(out.pop("categories_ref"))
        assert out.pop("num_categories") == len(out["categories"])  # type: ignore[arg-type]
    return out


def test_member_meta_has_every_key_of_torchvisions_meta() -> None:
    """Each member carries the meta of the newest release with it, every key (``_docs``
    included); on that release the catalog's meta equals torchvision's own, value by value
    (``categories`` by reference, ``unquantized`` as ``"Enum.MEMBER"``, tuples as lists)."""
    data = _catalog.catalog()
    for name, enum in data["enums"].items():
        for member, rec in enum["members"].items():
            meta = _decoded(rec["meta"])
            assert set(meta) >= REQUIRED_META, (name, member, REQUIRED_META - set(meta))
            assert isinstance(meta["_docs"], str), (name, member)
            assert meta["_docs"].strip(), (name, member)
    newest = data["releases"][-1]["torchvision"]
    if _minor(str(torchvision_version())) != _minor(newest):
        return  # older releases had other meta: the catalog keeps the newest's (checked above)
    checked_members = 0
    for name, enum in data["enums"].items():
        real = getattr(importlib.import_module(enum["module"]), name)
        for member in real:
            expected = {}
            for key, value in member.meta.items():
                if key == "unquantized":
                    expected[key] = f"{type(value).__name__}.{value.name}"
                else:  # through JSON: tuples become lists, as in the catalog
                    expected[key] = json.loads(json.dumps(value))
            assert _decoded(data["enums"][name]["members"][member.name]["meta"]) == expected
            checked_members += 1
    assert checked_members == sum(len(e["members"]) for e in data["enums"].values())
