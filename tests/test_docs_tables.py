"""The catalog-derived tables in docs/ are current (regenerate with
``python scripts/generate_docs_tables.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mapping_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/generate_docs_tables.py")
    assert spec is not None
    assert spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.DOC.read_text()
    assert gen.render(text) == text
    assert "`ResNet50_Weights.IMAGENET1K_V1` | 76.130 | `IMAGENET1K_V2` | 80.858" in text
