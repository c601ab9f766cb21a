"""The generated catalog: its schema is checked when read, its records match the typed
layout the code reads, and it is written one record per line (a regeneration is a readable
diff)."""

from __future__ import annotations

import json
import typing
from importlib import resources

import pytest

from tvcompat import _catalog
from tvcompat.errors import CatalogError, TvcompatError


def _text() -> str:
    return resources.files("tvcompat").joinpath("data/catalog.json").read_text("utf-8")


@pytest.mark.parametrize("bad", [{"schema": 1}, {"schema": "2"}, {}, [], None])
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
