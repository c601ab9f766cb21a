"""Regenerate ``src/tvcompat/data/catalog.json`` from real torchvision releases.

Usage (``nox -s catalog`` / ``nox -s catalog_check`` run it over every minor release)::

    python scripts/generate_catalog.py RELEASE [RELEASE ...]   # write the catalog
    python scripts/generate_catalog.py --check RELEASE ...     # compare, exit 1 on a difference
    python scripts/generate_catalog.py --dump PYTHON           # dump and cache one release
    python scripts/generate_catalog.py --has VERSION           # exit 0 when its dump is cached
    python scripts/generate_catalog.py --reformat              # layout/schema change only

A RELEASE is the interpreter of a virtual environment holding one real torch/torchvision
pair, or the version of a release whose dump is cached (``~/.cache/tvcompat/dumps``, keyed
by the version and the dumper's text, so it outlives a temporary venv). The script runs
``scripts/dump_torchvision.py`` in each, which *executes* torchvision's legacy call forms
with loading intercepted, then merges the per-version dumps into version ranges and prints
the releases it read (also recorded in the catalog's ``releases``):

* builders: family, the version that added it, legacy positional order, weights
  parameters, enums, and per version range what each legacy call form loads;
* weights enums: members with URL per version range, the version that added them, the
  version from which ``pretrained=True`` already loaded the same file, every key of
  torchvision's meta (from the newest release with the member) and the preprocessing
  preset, and DEFAULT;
* the legacy ``model_urls`` mappings, from the newest release that still had each one.

The catalog is data: never edit it by hand, re-run this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DUMPER = ROOT / "scripts" / "dump_torchvision.py"
OUT = ROOT / "src" / "tvcompat" / "data" / "catalog.json"
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))
from tvcompat import _catalog  # noqa: E402 - the reader's schema, from src/
from tvcompat._catalog import SCHEMA, checked  # noqa: E402


def minor(v: str) -> str:
    """``"0.13.1"`` -> ``"0.13"``: the catalog's ranges start at minor releases."""
    return ".".join(v.split(".")[:2])


CACHE = Path(os.environ.get("TVCOMPAT_DUMP_CACHE", Path.home() / ".cache" / "tvcompat" / "dumps"))


def dumper_key() -> str:
    """What a dump depends on besides the release: the dumper's text and the ``_catalog``
    names it imports (the family table, the legacy forms' names)."""
    used = {
        "families": _catalog.FAMILY_MODULES,
        "forms": sorted(v for k, v in vars(_catalog).items() if k.startswith("FORM_")),
        "backbone": _catalog.backbone_name_form("x"),
    }
    text = DUMPER.read_bytes() + json.dumps(used, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def cached(torchvision: str) -> Path:
    """Where the dump of one torchvision release is cached: keyed by the release and
    :func:`dumper_key`, so it outlives the (temporary) venv it was made in."""
    return CACHE / f"tv{torchvision}-{dumper_key()}.json"


def dump(python: str) -> dict[str, Any]:
    """Run the dumper in ``python``'s environment (tvcompat from this checkout's ``src``) and
    cache the result; an already cached dump of that release is reused."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    probe = [python, "-c", "import torchvision; print(torchvision.__version__.split('+')[0])"]
    version = subprocess.run(probe, capture_output=True, text=True, check=False, env=env)
    if version.returncode:  # e.g. a local CPU-only torch wheel preferred to the registry's
        raise SystemExit(f"torchvision does not import in {python}:\n{version.stderr[-2000:]}")
    path = cached(version.stdout.strip())
    if not path.exists():
        result = subprocess.run(
            [python, str(DUMPER)],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=str(ROOT),
        )
        if result.returncode:
            raise SystemExit(f"the dumper failed in {python}:\n{result.stderr[-3000:]}")
        data = json.loads(result.stdout)
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(result.stdout)
        partial.replace(path)
        return data  # type: ignore[no-any-return]
    return load(version.stdout.strip())


def load(torchvision: str) -> dict[str, Any]:
    """The cached dump of one release (``SystemExit`` naming the release when there is none)."""
    path = cached(torchvision)
    if not path.exists():
        raise SystemExit(
            f"no dump of torchvision {torchvision} for this dumper ({path.name}): run the "
            f"generator with that release's interpreter (nox -s catalog does)"
        )
    return json.loads(path.read_text())  # type: ignore[no-any-return]


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


def read(release: str) -> dict[str, Any]:
    """One release's dump: ``release`` is an interpreter (dumped unless cached) or a version
    whose dump is cached."""
    if os.sep in release or Path(release).exists():
        return dump(release)
    return load(release)


def main(releases: list[str], out: Path = OUT) -> None:
    dumps = sorted((read(r) for r in releases), key=lambda d: Version(d["torchvision"]))
    versions = [d["torchvision"] for d in dumps]
    if len(set(versions)) != len(versions):
        raise SystemExit(f"a release is named twice: {', '.join(versions)}")
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
                # every key of torchvision's meta in the newest release with the member
                "meta": m["meta"],
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
        "releases": [
            {"torchvision": d["torchvision"], "torch": d["torch"], "python": d["python"]}
            for d in dumps
        ],
        "builders": builders,
        "enums": enums,
        "categories": newest["categories"],
        "model_urls": dict(sorted(model_urls.items())),
    }
    write(catalog, out)
    print(f"wrote {out}: {len(builders)} builders, {len(enums)} enums, read from:")
    for d in dumps:
        print(f"  torchvision {d['torchvision']} (torch {d['torch']}, Python {d['python']})")


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


def write(catalog: dict[str, Any], out: Path = OUT) -> None:
    text = format_catalog(catalog)
    if json.loads(text) != catalog:  # the layout must not change the data
        raise SystemExit("format_catalog changed the catalog's data")
    checked(json.loads(text))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def reformat() -> None:
    """Rewrite the committed catalog in the current layout and schema without re-reading
    the releases (for a change of layout only: the data stays as generated)."""
    catalog = json.loads(OUT.read_text("utf-8"))
    catalog["schema"] = SCHEMA
    write(catalog)


def _changed_keys(out: list[str], prefix: str, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Append ``prefix: + key`` / ``prefix: - key`` lines to ``out`` for the keys only one
    side has; return the keys both have with different values."""
    changed = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            out.append(f"{prefix}: + {key}")
        elif key not in b:
            out.append(f"{prefix}: - {key}")
        elif a[key] != b[key]:
            changed.append(key)
    return changed


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """A readable summary of what differs between two catalogs: per section, the records
    added, removed and changed (with the fields that changed; for enums, per member)."""

    def fields(a: dict[str, Any], b: dict[str, Any]) -> str:
        changed = sorted(k for k in set(a) | set(b) if k not in a or k not in b or a[k] != b[k])
        return ", ".join(changed)

    out: list[str] = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if a == b:
            continue
        if section == "releases" and isinstance(a, list) and isinstance(b, list):
            was, now = ({_line(r) for r in x} for x in (a, b))
            out += [f"releases: - {r}" for r in sorted(was - now)]
            out += [f"releases: + {r}" for r in sorted(now - was)]
            continue
        if not isinstance(a, dict) or not isinstance(b, dict):
            out.append(f"{section}: {_line(a)[:300]} -> {_line(b)[:300]}")
            continue
        for key in _changed_keys(out, section, a, b):
            if section == "enums":
                head = {k: v for k, v in b[key].items() if k != "members"}
                old_head = {k: v for k, v in a[key].items() if k != "members"}
                if head != old_head:
                    out.append(f"enums: {key}: {fields(old_head, head)}")
                ma, mb = a[key]["members"], b[key]["members"]
                for m in _changed_keys(out, f"enums: {key}", ma, mb):
                    what = fields(ma[m], mb[m])
                    if "meta" in what.split(", "):
                        what += f" ({fields(ma[m]['meta'], mb[m]['meta'])})"
                    out.append(f"enums: {key}.{m}: {what}")
            elif isinstance(a[key], dict) and isinstance(b[key], dict):
                out.append(f"{section}: {key}: {fields(a[key], b[key])}")
            else:
                out.append(f"{section}: {key} changed")
    return out


def check(releases: list[str], committed: Path = OUT) -> int:
    """Regenerate the catalog and the docs tables into a temporary directory and compare
    them with the committed ones: 0 when equal, else 1 with a summary of the differences."""
    import generate_docs_tables  # this directory's sibling script (on sys.path when run)

    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "catalog.json"
        main(releases, fresh)
        new_text = fresh.read_text("utf-8")
    old_text = committed.read_text("utf-8")
    problems: list[str] = []
    if new_text != old_text:
        try:
            old = json.loads(old_text)
        except ValueError as exc:
            old = {"unreadable": str(exc)}
        found = differences(old, json.loads(new_text)) or ["the layout (same data)"]
        problems += [f"{committed.name}: {line}" for line in found]
    doc = generate_docs_tables.DOC
    text = doc.read_text("utf-8")
    if generate_docs_tables.render(text, json.loads(new_text)) != text:
        problems.append(f"{doc.relative_to(ROOT)}: the catalog-derived table differs")
    if problems:
        print(
            f"the committed catalog is not what the releases give ({len(problems)} "
            "differences; - committed, + regenerated):"
        )
        for line in problems:
            print(f"  {line}")
        print("regenerate it: nox -s catalog")
        return 1
    print("the committed catalog and docs tables match the releases")
    return 0


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dump", metavar="PYTHON", help="only dump (and cache) one release")
    mode.add_argument("--has", metavar="VERSION", help="exit 0 when that release's dump is cached")
    mode.add_argument("--reformat", action="store_true", help="rewrite the committed catalog")
    mode.add_argument(
        "--check", action="store_true", help="regenerate into a temporary file and compare"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the catalog")
    parser.add_argument("releases", nargs="*", metavar="PYTHON|VERSION")
    args = parser.parse_args(argv)
    if args.dump:
        print(cached(dump(args.dump)["torchvision"]))
        return 0
    if args.has:
        return 0 if cached(args.has).exists() else 1
    if args.reformat:
        reformat()
        return 0
    if not args.releases:
        parser.error("name the releases to read (interpreters or cached versions)")
    if args.check:
        return check(args.releases)
    main(args.releases, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
