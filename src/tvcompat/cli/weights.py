"""``tvcompat weights MODEL``: every weights entry of a model, read from the catalog.

Nothing here imports torch or torchvision: the catalog, the installed versions' metadata and
the file system answer, so the command is faster than ``import torchvision``.
"""

from __future__ import annotations

import argparse
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvcompat import _catalog
from tvcompat._models.registry import model_key, registered_name
from tvcompat._models.resolve import legacy_entry
from tvcompat._net.paths import checkpoint_dir
from tvcompat._versions import torchvision_version
from tvcompat._weights import _url
from tvcompat.cli._output import OK, Table, add_json_flag, emit_json

__all__ = [
    "DESCRIPTION",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "WeightsRow",
    "add_arguments",
    "entry_url",
    "run",
    "weights_report",
]

NAME = "weights"
HELP = "every weights entry of a model, with metrics, size and cache state"
DESCRIPTION = (
    "Every weights entry of MODEL (a model name such as resnet50 or quantized_resnet50, or a "
    "weights enum such as ResNet50_Weights): DEFAULT or not, which legacy call loads it, "
    "headline metrics, parameters, GFLOPS, file size, the oldest torchvision that loads it by "
    "itself, and whether it is in the torch hub cache."
)
NEEDS_VALID_SETTINGS = False

#: legacy form -> how the table labels it
_LEGACY_LABELS = {
    _catalog.FORM_PRETRAINED: "pretrained=True",
    _catalog.FORM_PRETRAINED_QUANTIZED: "pretrained=True, quantize=True",
    _catalog.FORM_PRETRAINED_LEGACY: "pretrained='legacy'",
}
_PERCENT = {"acc@1", "acc@5", "miou", "pixel_acc"}
_LABELS = {
    "acc@1": "ACC@1",
    "acc@5": "ACC@5",
    "box_map": "BOX MAP",
    "mask_map": "MASK MAP",
    "kp_map": "KP MAP",
    "miou": "MIOU",
    "pixel_acc": "PIXEL ACC",
    "epe": "EPE",
    "fl_all": "FL-ALL",
    "per_image_epe": "PER-IMAGE EPE",
}


def entry_url(enum_name: str, member: str) -> str:
    """The URL the installed torchvision loads for an entry (catalog only, no torchvision)."""
    info = _catalog.enum(enum_name)
    assert info is not None
    return _url(info["members"][member])


def format_metric(metric: str, value: float) -> str:
    return f"{value:.3f} %" if metric in _PERCENT else str(float(value))


def metric_label(metric: str) -> str:
    return _LABELS.get(metric, metric.upper())


@dataclass(frozen=True)
class WeightsRow:
    """One weights entry of a model."""

    enum: str
    member: str
    default: bool
    legacy: str | None
    metrics: dict[str, dict[str, float]]
    num_params: int | None
    gflops: float | None
    file_size_mb: float | None
    enum_added: str
    legacy_since: str | None
    url: str
    cached: bool
    available: bool  # the installed torchvision's enum has it

    @property
    def name(self) -> str:
        return f"{self.enum}.{self.member}"

    @property
    def min_torchvision(self) -> str:
        """The oldest torchvision that loads this entry by itself (``pretrained=True`` or the
        enum); tvcompat loads it on every version that has the builder."""
        versions = [self.enum_added] + ([self.legacy_since] if self.legacy_since else [])
        return min(versions, key=_catalog.start_version)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "enum": self.enum,
            "member": self.member,
            "default": self.default,
            "legacy": self.legacy,
            "metrics": self.metrics,
            "num_params": self.num_params,
            "gflops": self.gflops,
            "file_size_mb": self.file_size_mb,
            "min_torchvision": self.min_torchvision,
            "enum_added": self.enum_added,
            "legacy_since": self.legacy_since,
            "url": self.url,
            "file": posixpath.basename(self.url),
            "cached": self.cached,
            "in_installed_torchvision": self.available,
        }


def _rows_for_enum(enum_name: str, legacy: dict[str, str], cache: Path) -> list[WeightsRow]:
    info = _catalog.enum(enum_name)
    assert info is not None
    rows = []
    for member, rec in info["members"].items():
        meta = rec["meta"]
        url = entry_url(enum_name, member)
        rows.append(
            WeightsRow(
                enum=enum_name,
                member=member,
                default=info["default"] == member,
                legacy=legacy.get(f"{enum_name}.{member}"),
                metrics={ds: dict(m) for ds, m in meta.get("_metrics", {}).items()},
                num_params=meta.get("num_params"),
                gflops=meta.get("_ops"),
                file_size_mb=meta.get("_file_size"),
                enum_added=str(rec["added"]),
                legacy_since=rec.get("legacy_since"),
                url=url,
                cached=(cache / posixpath.basename(url)).is_file(),
                available=_catalog.is_available(info["added"])
                and _catalog.is_available(rec["added"]),
            )
        )
    return rows


def _legacy_calls(key: str) -> dict[str, str]:
    """``{entry: call}`` of the entries legacy ``pretrained=`` calls of builder ``key`` load
    (``"pretrained=True"``, ``"pretrained=True, quantize=True"``, ``"pretrained='legacy'"``;
    for backbone utils ``"backbone_name='resnet50', pretrained=True"``)."""
    info = _catalog.builder(key)
    assert info is not None
    out: dict[str, str] = {}
    if info["family"] == "backbone_utils":
        for form in info["legacy"]:
            entry = legacy_entry(key, form)
            if entry is not None and form.startswith(_catalog.FORM_BACKBONE_NAME):
                backbone = form[len(_catalog.FORM_BACKBONE_NAME) :]
                out.setdefault(str(entry), f"backbone_name='{backbone}', pretrained=True")
        return out
    for form, label in _LEGACY_LABELS.items():
        entry = legacy_entry(key, form)
        if entry is not None:
            out.setdefault(str(entry), label)
    return out


def weights_report(name: str) -> dict[str, Any]:
    """Everything ``tvcompat weights NAME`` shows; ``NAME`` is a model or a weights enum."""
    cache = checkpoint_dir()
    key: str | None = None
    if _catalog.enum(name) is not None:
        enums, legacy = [name], {}
    else:
        key = model_key(name)
        info = _catalog.builder(key)
        assert info is not None
        enums = list(info["enums"].get("weights", []))
        legacy = _legacy_calls(key)
        if not enums:  # backbone utils: the backbones' enums, by backbone_name
            enums = sorted({v.partition(".")[0] for v in legacy})
    rows = [row for e in enums for row in _rows_for_enum(e, legacy, cache)]
    report: dict[str, Any] = {
        "query": name,
        "torchvision": str(torchvision_version()),
        "checkpoint_dir": str(cache),
        "weights": rows,
    }
    if key is not None:
        info = _catalog.builder(key)
        assert info is not None
        report["model"] = (
            registered_name(key) if info["family"] != "backbone_utils" else info["name"]
        )
        report["family"] = info["family"]
        report["added"] = info["added"].lstrip("<=")
        report["available"] = _catalog.builder_available(info)
        report["pretrained"] = {r.legacy: r.name for r in rows if r.legacy is not None}
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    report = weights_report(args.model)
    rows: list[WeightsRow] = report["weights"]
    if args.json:
        emit_json({**report, "weights": [r.as_dict() for r in rows]})
        return OK
    title = report.get("model", args.model)
    if "family" in report:
        title += f" ({report['family']})"
    print(f"{title} on torchvision {report['torchvision']}:")
    if "available" in report and not report["available"]:
        print(
            f"  the installed torchvision lacks this builder (added in {report['added']}); "
            "tvcompat can still download its weights"
        )
    for form, entry in report.get("pretrained", {}).items():
        print(f"  {form} loads {entry}")
    if "pretrained" in report and not report["pretrained"]:
        print("  pretrained=True loads nothing: it raises (no legacy weights); name the weights")
    if not rows:
        print("  no weights")
        return OK
    datasets = sorted({ds for r in rows for ds in r.metrics})
    per_column = len(datasets) <= 1
    table = _table(rows, per_column)
    if datasets:
        print(f"  metrics on {', '.join(datasets)}" if per_column else "  metrics per dataset")
    table.show()
    print(f"cache: {report['checkpoint_dir']}")
    return OK


def _table(rows: list[WeightsRow], per_column: bool) -> Table:
    """One row per entry; with one dataset one column per metric, else one METRICS column."""
    metric_keys: list[tuple[str, str]] = []
    for r in rows:
        for ds, metrics in r.metrics.items():
            for m in metrics:
                if (ds, m) not in metric_keys:
                    metric_keys.append((ds, m))
    headers = ["WEIGHTS", "DEFAULT", "LEGACY"]
    if per_column:
        headers += [metric_label(m) for _, m in metric_keys]
    else:
        headers.append("METRICS")
    headers += ["PARAMS", "GFLOPS", "SIZE", "TORCHVISION", "CACHED"]
    first_numeric = 3
    table = Table(headers, [])
    for r in rows:
        cells = [r.name, "yes" if r.default else "", r.legacy or ""]
        if per_column:
            cells += [
                format_metric(m, r.metrics[ds][m]) if m in r.metrics.get(ds, {}) else ""
                for ds, m in metric_keys
            ]
        else:
            cells.append(
                "; ".join(
                    f"{ds} "
                    + " ".join(f"{metric_label(m)} {format_metric(m, v)}" for m, v in ms.items())
                    for ds, ms in r.metrics.items()
                )
            )
        cells += [
            f"{r.num_params / 1e6:.1f}M" if r.num_params is not None else "",
            f"{r.gflops:.2f}" if r.gflops is not None else "",
            f"{r.file_size_mb:.1f} MB" if r.file_size_mb is not None else "",
            f">={r.min_torchvision.lstrip('<=')}",
            "yes" if r.cached else "no",
        ]
        table.rows.append(cells)
    first = first_numeric if per_column else first_numeric + 1
    table.right = frozenset(range(first, len(headers) - 2))
    return table
