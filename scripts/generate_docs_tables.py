"""Write the catalog-derived tables of ``docs/mapping.md`` (between the marker comments).

Run after regenerating the catalog; ``tests/test_docs_tables.py`` fails when they drift, and
``generate_catalog.py --check`` (``nox -s catalog_check``) renders them from a regenerated
catalog to compare.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DOC = ROOT / "docs" / "mapping.md"
BEGIN, END = "<!-- legacy-table:begin -->", "<!-- legacy-table:end -->"


def _acc1(rec: dict) -> str:  # type: ignore[type-arg]
    for dataset in rec["meta"].get("_metrics", {}).values():
        for key in ("acc@1", "box_map", "miou"):
            if key in dataset:
                return f"{dataset[key]:.3f}"
    return "—"


def table(data: Any = None) -> str:
    """The table, from ``data`` (a catalog's parsed JSON; default: the committed catalog)."""
    from tvcompat import _catalog

    if data is None:
        data = _catalog.catalog()
    rows = [
        "| builder | `pretrained=True` loads | acc@1 | DEFAULT | acc@1 |",
        "|---|---|---|---|---|",
    ]
    for key, info in data["builders"].items():
        for form, ranges in info["legacy"].items():
            named = [v for _, v in ranges if isinstance(v, str)]
            if not named or form.startswith(("pretrained_backbone", "weights_backbone")):
                continue
            enum_name, member = named[-1].split(".")
            enum = data["enums"][enum_name]
            if enum["default"] == member:
                continue
            label = key.replace("backbone_utils.", "") + (
                "" if form == "pretrained=True" else f" ({form})"
            )
            rows.append(
                f"| `{label}` | `{enum_name}.{member}` | {_acc1(enum['members'][member])} | "
                f"`{enum['default']}` | {_acc1(enum['members'][enum['default']])} |"
            )
    return "\n".join(rows)


def render(text: str, data: Any = None) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table(data)}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"updated {DOC.relative_to(ROOT)}")
