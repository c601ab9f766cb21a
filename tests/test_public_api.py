"""The public surface is spelled in one table (``tvcompat._LAZY``): ``__all__``, the
``TYPE_CHECKING`` imports and ``dir()`` of every public module agree with it."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import tvcompat
from tvcompat import _catalog

FAMILY_MODULES = {
    "tvcompat": "classification",
    "tvcompat.detection": "detection",
    "tvcompat.detection.backbone_utils": "backbone_utils",
    "tvcompat.segmentation": "segmentation",
    "tvcompat.video": "video",
    "tvcompat.optical_flow": "optical_flow",
    "tvcompat.quantization": "quantization",
}


def _type_checking_imports() -> dict[str, str]:
    """name -> module of every ``from X import name`` under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(inspect.getfile(tvcompat)).read_text("utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            found[alias.asname or alias.name] = str(node.module)
    return found


def test_all_is_the_table() -> None:
    table = tvcompat._LAZY  # type: ignore[attr-defined]
    submodules = tvcompat._SUBMODULES  # type: ignore[attr-defined]
    assert tvcompat.__all__ == sorted(tvcompat.__all__)
    assert set(tvcompat.__all__) == {"__version__", *table, *submodules}
    assert len(tvcompat.__all__) == len(set(tvcompat.__all__))


def test_type_checking_imports_are_the_table() -> None:
    table = tvcompat._LAZY  # type: ignore[attr-defined]
    submodules = tvcompat._SUBMODULES  # type: ignore[attr-defined]
    imports = _type_checking_imports()
    expected = {**table, **dict.fromkeys(submodules, "tvcompat")}
    del expected["errors"]  # imported at run time (it is tiny and has no side effects)
    assert imports == expected


@pytest.mark.parametrize("name", tvcompat.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(tvcompat, name)
    if name in tvcompat._SUBMODULES:  # type: ignore[attr-defined]
        assert value is importlib.import_module(f"tvcompat.{name}")
    elif name != "__version__":
        module = tvcompat._LAZY[name]  # type: ignore[attr-defined]
        assert value is getattr(importlib.import_module(module), name)


def test_every_error_is_exported() -> None:
    from tvcompat import errors

    public = {n for n in vars(errors) if not n.startswith("_")}
    classes = {n for n in public if isinstance(getattr(errors, n), type)}
    assert classes - {"annotations"} == set(errors.__all__)


@pytest.mark.parametrize(("module", "family"), FAMILY_MODULES.items())
def test_dir_lists_only_public_names(module: str, family: str) -> None:
    mod = importlib.import_module(module)
    names = dir(mod)
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    helpers = {"annotations", "family_dir", "family_getattr", "importlib", "errors"}
    if module == "tvcompat":
        helpers -= {"errors"}  # a public submodule of the package
    assert not helpers & set(names) - set(getattr(mod, "__all__", ()))
    records = [_catalog.builder(k) for k in _catalog.builder_keys()]
    every = {r["name"] for r in records if r is not None and r["family"] == family}
    builders = {
        r["name"]
        for r in records
        if r is not None and r["family"] == family and _catalog.builder_available(r)
    }
    # exactly the installed release's builders, no more, no fewer (0.10 has no optical flow)
    assert set(names) & every == builders
    for name in names:  # every listed name can be looked up
        if name in builders:
            assert callable(getattr(mod, name))
