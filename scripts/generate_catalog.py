"""Regenerate ``src/tvcompat/data/catalog.json`` from real torchvision releases.

Usage::

    python scripts/generate_catalog.py PYTHON [PYTHON ...]
    python scripts/generate_catalog.py --reformat   # layout/schema change only

Each PYTHON is the interpreter of a virtual environment holding one real torch/torchvision
pair (the nox matrix venvs, plus 0.11.x for the 0.11 additions). The script runs
``scripts/dump_torchvision.py`` in each, which *executes* torchvision's legacy call forms
with loading intercepted, then merges the per-version dumps into version ranges:

* builders: family, the version that added it, legacy positional order, weights
  parameters, enums, and per version range what each legacy call form loads;
* weights enums: members with URL per version range, the version that added them, the
  version from which ``pretrained=True`` already loaded the same file, essential meta and
  the preprocessing preset, and DEFAULT;
* the legacy ``model_urls`` mappings, from the newest release that still had each one.

The catalog is data: never edit it by hand, re-run this script.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DUMPER = ROOT / "scripts" / "dump_torchvision.py"
OUT = ROOT / "src" / "tvcompat" / "data" / "catalog.json"
sys.path.insert(0, str(ROOT / "src"))
from tvcompat._catalog import SCHEMA, checked  # noqa: E402 - the reader's schema, from src/


def minor(v: str) -> str:
    """``"0.13.1"`` -> ``"0.13"``: the catalog's ranges start at minor releases."""
    return ".".join(v.split(".")[:2])


CACHE = Path.home() / ".cache" / "tvcompat" / "dumps"


def dump(python: str) -> dict[str, Any]:
    """Run the dumper in ``python``'s environment (cached per interpreter and dumper text)."""
    key = hashlib.sha256(DUMPER.read_bytes() + python.encode()).hexdigest()[:16]
    cached = CACHE / f"{key}.json"
    if not cached.exists():
        result = subprocess.run(
            [python, str(DUMPER)], capture_output=True, text=True, check=True, cwd=str(ROOT)
        )
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(result.stdout)
    return json.loads(cached.read_text())  # type: ignore[no-any-return]


_HASH_SUFFIX = re.compile(r"-[0-9a-f]{8,}(?=\.pth$)")


def stem(url: str) -> str:
    """A weights file's name without its sha256 segment (0.13 added one to a few files)."""
    return _HASH_SUFFIX.sub("", posixpath.basename(url))


def ranges(values: list[tuple[str, Any]]) -> list[list[Any]]:
    """Collapse ``[(version, value), ...]`` (ascending) into ``[[start, value], ...]``."""
    out: list[list[Any]] = []
    for version, value in values:
        if not out or out[-1][1] != value:
            out.append([minor(version), value])
    return out


def is_missing_interface(outcome: dict[str, Any]) -> bool:
    """``pretrained=`` unknown to the builder (0.13.x's undecorated builders)."""
    return outcome.get("error") == "TypeError" and "pretrained" in outcome.get("message", "")


def main(pythons: list[str]) -> None:
    dumps = sorted((dump(p) for p in pythons), key=lambda d: Version(d["torchvision"]))
    versions = [d["torchvision"] for d in dumps]
    newest = dumps[-1]

    # --- every URL any enum ever had -> "Enum.MEMBER"; used to name old legacy URLs --------
    url_index: dict[str, str] = {}
    for d in dumps:
        for enum_name, e in d["enums"].items():
            for member, m in e["members"].items():
                url_index.setdefault(m["url"], f"{enum_name}.{member}")
                url_index.setdefault(stem(m["url"]), f"{enum_name}.{member}")

    old_urls: dict[str, dict[str, str]] = {}

    def name_outcome(outcome: dict[str, Any], version: str) -> Any:
        if "error" in outcome:
            if is_missing_interface(outcome):
                return {"missing": True}
            return {"error": outcome["error"], "message": outcome["message"]}
        if outcome.get("member"):
            return outcome["member"]
        url = outcome.get("url")
        if url is None:
            return None  # nothing loaded
        entry = url_index.get(url) or url_index.get(stem(url))
        if entry is None:
            raise SystemExit(f"legacy URL {url} matches no weights enum member of any version")
        old_urls.setdefault(entry, {})[version] = url  # the file name before the enum existed
        return entry

    # --- builders ---------------------------------------------------------------------------
    builders: dict[str, Any] = {}
    for key in sorted({k for d in dumps for k in d["builders"]}):
        present = [(d["torchvision"], d["builders"][key]) for d in dumps if key in d["builders"]]
        first_v = present[0][0]
        last = present[-1][1]
        # legacy positional order: the oldest signature whose parameters are positional,
        # else the newest keyword-only order (which 0.13+ maps positionals onto)
        positional: list[str] = []
        for _, info in present:
            names = [p["name"] for p in info["params"] if p["kind"] == "POSITIONAL_OR_KEYWORD"]
            if names:
                positional = names
                break
        if not positional:
            positional = [p["name"] for p in last["params"] if p["kind"] == "KEYWORD_ONLY"]
        forms = sorted({f for _, info in present for f in info.get("legacy", {})})
        legacy: dict[str, Any] = {}
        for form in forms:
            per_version = [
                (v, name_outcome(info["legacy"][form], v))
                for v, info in present
                if form in info.get("legacy", {})
            ]
            legacy[form] = ranges(per_version)
        newest_names = [p["name"] for p in last["params"]]
        # the enums each weights parameter takes, from the newest annotation
        # (``Optional[Union[X_QuantizedWeights, X_Weights]]`` lists both, quantized first)
        enums_of = {
            p["name"]: [
                e
                for e in re.findall(r"\b(\w+Weights)\b", p.get("annotation", ""))
                if e != "WeightsEnum"
            ]
            for p in last["params"]
            if p["name"] in ("weights", "weights_backbone")
        }
        builders[key] = {
            "name": last["name"],
            "family": last["family"],
            "added": minor(first_v) if first_v != versions[0] else f"<={minor(first_v)}",
            # exported or not, per version range (0.12 dropped two quantized builders)
            "present": ranges([(d["torchvision"], key in d["builders"]) for d in dumps]),
            "positional": positional,
            "params": newest_names,
            "weights_params": [n for n in ("weights", "weights_backbone") if n in newest_names],
            "enums": enums_of,
            "legacy_params": [
                n
                for n in ("pretrained", "pretrained_backbone")
                if any(n in [p["name"] for p in i["params"]] for _, i in present)
                or n.replace("pretrained", "weights") in newest_names
            ],
            "legacy": legacy,
        }

    # --- enums --------------------------------------------------------------------------------
    enums: dict[str, Any] = {}
    weight_dumps = [d for d in dumps if d["enums"]]
    for enum_name in sorted({e for d in weight_dumps for e in d["enums"]}):
        present = [
            (d["torchvision"], d["enums"][enum_name])
            for d in weight_dumps
            if enum_name in d["enums"]
        ]
        last = present[-1][1]
        members: dict[str, Any] = {}
        for member in last["members"]:
            seen = [(v, e["members"][member]) for v, e in present if member in e["members"]]
            m = seen[-1][1]
            members[member] = {
                "added": minor(seen[0][0]),
                "urls": ranges(
                    sorted(
                        old_urls.get(f"{enum_name}.{member}", {}).items(),
                        key=lambda item: Version(item[0]),
                    )
                    + [(v, x["url"]) for v, x in seen]
                ),
                # the dumper's essential meta, less the ``_docs`` prose (torchvision's docs)
                "meta": {k: v for k, v in m["meta"].items() if k != "_docs"},
                "transforms": m["transforms"],
            }
        module = last["module"]
        family = "classification"
        for fam in ("detection", "segmentation", "video", "optical_flow", "quantization"):
            if f".models.{fam}." in module or module.endswith(f".models.{fam}"):
                family = fam
        enums[enum_name] = {
            "module": module,
            "family": family,
            "added": minor(present[0][0]),
            "default": last["default"],
            "members": members,
        }

    # --- legacy_since: the first version whose pretrained=True loaded the member's file ------
    for b in builders.values():
        for form_ranges in b["legacy"].values():
            for start, outcome in form_ranges:
                if isinstance(outcome, str):
                    enum_name, member = outcome.split(".")
                    if enum_name in enums and member in enums[enum_name]["members"]:
                        m = enums[enum_name]["members"][member]
                        if "legacy_since" not in m or Version(start) < Version(
                            m["legacy_since"].lstrip("<=")
                        ):
                            m["legacy_since"] = start

    model_urls: dict[str, dict[str, str]] = {}
    for d in dumps:  # ascending: the newest release that still had a mapping wins
        model_urls.update(d["model_urls"])

    catalog = {
        "schema": SCHEMA,
        "generated_from": versions,
        "builders": builders,
        "enums": enums,
        "categories": newest["categories"],
        "model_urls": dict(sorted(model_urls.items())),
    }
    write(catalog)
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(builders)} builders, {len(enums)} enums, "
        f"from torchvision {', '.join(versions)}"
    )


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ": "))


def format_catalog(catalog: dict[str, Any]) -> str:
    """The catalog as JSON with one record per line (a builder, an enum's header, an enum
    member, a category list, a legacy mapping), so that a regeneration reads as a diff of
    the records that changed. Insertion order is meaningful (enum member order) and
    deterministic: keys are not sorted."""

    def records(items: dict[str, Any], render: Any = _line) -> str:
        rows = [f"  {_line(key)}: {render(value)}" for key, value in items.items()]
        return "{\n" + ",\n".join(rows) + "\n}"

    def enum(info: dict[str, Any]) -> str:
        head = _line({k: v for k, v in info.items() if k != "members"})[:-1]
        members = [f"    {_line(m)}: {_line(rec)}" for m, rec in info["members"].items()]
        return head + ', "members": {\n' + ",\n".join(members) + "\n  }}"

    parts = []
    for key, value in catalog.items():
        if key == "enums":
            text = records(value, enum)
        elif isinstance(value, dict):
            text = records(value)
        else:
            text = _line(value)
        parts.append(f"{_line(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write(catalog: dict[str, Any]) -> None:
    text = format_catalog(catalog)
    if json.loads(text) != catalog:  # the layout must not change the data
        raise SystemExit("format_catalog changed the catalog's data")
    checked(json.loads(text))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")


def reformat() -> None:
    """Rewrite the committed catalog in the current layout and schema without re-reading
    the releases (for a change of layout only: the data stays as generated)."""
    catalog = json.loads(OUT.read_text("utf-8"))
    catalog["schema"] = SCHEMA
    write(catalog)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if sys.argv[1:] == ["--reformat"]:
        reformat()
    else:
        main(sys.argv[1:])
