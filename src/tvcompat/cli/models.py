"""``tvcompat models``: the builders and what ``pretrained=True`` loads for each."""

from __future__ import annotations

import argparse
import fnmatch
from typing import Any

from tvcompat import _catalog
from tvcompat._catalog import FAMILY_MODULES
from tvcompat._models.registry import list_models, model_key, registered_name, resolve
from tvcompat._models.resolve import legacy_entry
from tvcompat._settings import get_pretrained_policy
from tvcompat._versions import torchvision_version
from tvcompat.cli._output import OK, Table, add_json_flag, emit_json, plural
from tvcompat.errors import NoPretrainedWeightsError, TvcompatError

__all__ = [
    "DESCRIPTION",
    "FAMILIES",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "add_arguments",
    "model_rows",
    "run",
]

NAME = "models"
HELP = "the builders of the installed torchvision and what pretrained=True loads for each"
DESCRIPTION = (
    "List the models of the installed torchvision with the weights pretrained=True loads for "
    "each (and DEFAULT where it differs)."
)
#: invalid settings are a usage error (the doctor reports them instead)
NEEDS_VALID_SETTINGS = True

#: families of registered builders, as ``--family`` takes them
FAMILIES = tuple(f for f in FAMILY_MODULES if f != "backbone_utils")


def model_rows(family: str | None, include: list[str], every: bool) -> list[dict[str, Any]]:
    """One dict per builder: what ``pretrained=True`` means (no torch, no torchvision)."""
    if every:
        keys = [
            k for k in _catalog.builder_keys() if _catalog.builder_family(k) != "backbone_utils"
        ]
        names = sorted((registered_name(k), k) for k in keys)
    else:
        names = [(n, model_key(n)) for n in list_models()]
    out = []
    for name, key in names:
        info = _catalog.builder(key)
        assert info is not None
        if family is not None and info["family"] != family:
            continue
        if include and not any(fnmatch.fnmatch(name, pat) for pat in include):
            continue
        available = _catalog.builder_available(info)
        row: dict[str, Any] = {
            "name": name,
            "family": info["family"],
            "added": info["added"].lstrip("<="),
            "available": available,
            "pretrained": None,
            "default": None,
            "notes": [],
        }
        enums = info["enums"].get("weights", [])
        floats = [e for e in enums if "Quantized" not in e]
        quantized = [e for e in enums if "Quantized" in e]
        default_enum = floats[0] if floats else None
        if default_enum is not None:
            dinfo = _catalog.enum(default_enum)
            if dinfo is not None and dinfo["default"] is not None:
                row["default"] = f"{default_enum}.{dinfo['default']}"
        if available:
            _pretrained_notes(row, key, info, quantized=bool(quantized))
        else:
            row["notes"].append(f"needs torchvision >= {row['added']}")
        out.append(row)
    return out


def _pretrained_notes(
    row: dict[str, Any], key: str, info: _catalog.BuilderRecord, *, quantized: bool
) -> None:
    """What ``pretrained=True`` (and ``quantize=True``, ``pretrained='legacy'``) load."""
    name = row["name"]
    try:
        res = resolve(name, pretrained=True)
        row["pretrained"] = str(res.weights) if res.weights else None
    except NoPretrainedWeightsError:
        row["notes"].append(
            f"no legacy weights: pretrained=True raises; name them, e.g. weights={row['default']}"
        )
    except TvcompatError as exc:
        row["notes"].append(f"pretrained=True raises: {exc}")
    if quantized:
        try:
            res = resolve(name, pretrained=True, quantize=True)
            row["pretrained_quantize"] = str(res.weights) if res.weights else None
            row["notes"].append(f"quantize=True: {res.weights}")
        except TvcompatError as exc:
            row["notes"].append(f"quantize=True raises: {exc}")
    ranges = info["legacy"].get(_catalog.FORM_PRETRAINED)
    own = _catalog.pick(ranges) if ranges else None  # what torchvision itself does here
    if not isinstance(own, str) and row["pretrained"] is not None:
        why = (
            f"{own['error']}: {own['message']}"
            if isinstance(own, dict) and "error" in own
            else "the builder has no pretrained argument"
        )
        row["notes"].append(f"torchvision's own pretrained=True fails here ({why})")
    if info["legacy"].get(_catalog.FORM_PRETRAINED_LEGACY):
        row["notes"].append(
            f"pretrained='legacy': {legacy_entry(key, _catalog.FORM_PRETRAINED_LEGACY)}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", choices=FAMILIES, default=None, help="only this family")
    parser.add_argument(
        "--include",
        metavar="PATTERN",
        action="append",
        default=None,
        help="only names matching this fnmatch pattern (repeatable)",
    )
    parser.add_argument(
        "--all", action="store_true", help="also models newer than the installed torchvision"
    )
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    rows = model_rows(args.family, args.include or [], args.all)
    if args.json:
        emit_json(rows)
        return OK
    print(
        f"torchvision {torchvision_version()}: {plural(len(rows), 'model')}; pretrained=True "
        f"loads (policy {get_pretrained_policy()!r}):"
    )
    table = Table(["MODEL", "FAMILY", "PRETRAINED=TRUE", "DEFAULT", "NOTES"], [])
    for r in rows:
        pretrained = r["pretrained"] or "-"
        default = r["default"] or "-"
        if r["pretrained"] and default == r["pretrained"]:
            default = "(same)"
        elif (
            r["default"]
            and r["pretrained"]
            and r["default"].split(".")[0] == (r["pretrained"].split(".")[0])
        ):
            default = r["default"].split(".", 1)[1]
        table.rows.append([r["name"], r["family"], pretrained, default, "; ".join(r["notes"])])
    table.show()
    return OK
