"""What the ``tvcompat`` command shows, gathered without importing torch or torchvision.

Everything here reads the catalog, the installed distributions' metadata and the file
system, so ``tvcompat weights resnet50`` answers faster than ``import torchvision`` takes.
Printing is left to :mod:`tvcompat.cli`.
"""

from __future__ import annotations

import os
import posixpath
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvcompat import _catalog
from tvcompat._catalog import FAMILY_MODULES

__all__ = [
    "FAMILIES",
    "CacheFile",
    "Table",
    "WeightsRow",
    "builder_family",
    "ca_report",
    "checkpoint_dir",
    "hub_dir",
    "list_cache",
    "model_rows",
    "resolve_model_key",
    "weights_report",
]

#: families of registered builders, as ``tvcompat models --family`` takes them
FAMILIES = tuple(f for f in FAMILY_MODULES if f != "backbone_utils")


# --------------------------------------------------------------------------------------------
# The torch hub cache, found without importing torch
# --------------------------------------------------------------------------------------------


def hub_dir() -> Path:
    """``torch.hub.get_dir()``, computed without importing torch.

    If torch.hub is already imported (in-process use, after ``torch.hub.set_dir``), its answer
    is used. Otherwise the same rule as torch 1.9 to 2.14: ``$TORCH_HOME/hub``, where
    ``TORCH_HOME`` defaults to ``$XDG_CACHE_HOME/torch`` and ``XDG_CACHE_HOME`` to ``~/.cache``.
    (``torch.hub.set_dir`` in another process cannot be seen from here, nor by any tool.)
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None and hasattr(hub, "_hub_dir") and hub._hub_dir is not None:
        return Path(os.path.expanduser(str(hub._hub_dir)))
    torch_home = os.path.expanduser(
        os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    )
    return Path(torch_home) / "hub"


def checkpoint_dir() -> Path:
    """Where torch.hub (and so torchvision) caches weights files."""
    return hub_dir() / "checkpoints"


@dataclass(frozen=True)
class CacheFile:
    """A file in the checkpoints folder, as seen without reading it."""

    name: str
    size: int
    weights: str | None  # "ResNet50_Weights.IMAGENET1K_V1", or None for other torch.hub files
    partial: bool


def list_cache(folder: Path | None = None) -> list[CacheFile]:
    """The files of the checkpoints folder (lock folder aside), sorted by name."""
    folder = checkpoint_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    index = _catalog.filename_index()
    out: list[CacheFile] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        found = index.get(path.name)
        out.append(
            CacheFile(
                path.name,
                path.stat().st_size,
                f"{found[0]}.{found[1]}" if found else None,
                path.name.endswith(".partial"),
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Aligned tables
# --------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A plain-text table: left-aligned columns, except those named in ``right``."""

    headers: list[str]
    rows: list[list[str]]
    right: frozenset[int] = frozenset()

    def lines(self) -> list[str]:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        out = []
        for row in [self.headers, *self.rows]:
            cells = [
                cell.rjust(widths[i]) if i in self.right else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            out.append("  ".join(cells).rstrip())
        return out


# --------------------------------------------------------------------------------------------
# Models and their weights
# --------------------------------------------------------------------------------------------


def builder_family(key: str) -> str:
    info = _catalog.builder(key)
    assert info is not None
    return str(info["family"])


def registered_name(key: str) -> str:
    info = _catalog.builder(key)
    assert info is not None
    return f"quantized_{info['name']}" if info["family"] == "quantization" else str(info["name"])


def resolve_model_key(name: str) -> str:
    """The catalog key of a registered model name (installed or not); raises
    :class:`~tvcompat.errors.UnknownModelError` with suggestions."""
    from tvcompat._models.registry import _key_for

    if name in ("resnet_fpn_backbone", "mobilenet_backbone"):
        return f"backbone_utils.{name}"
    return _key_for(name)


def _legacy_value(ranges: list[list[Any]]) -> str | None:
    """The entry a legacy form loads on the installed torchvision, or (where the installed
    one could not load it) on the newest one, as tvcompat's builders do."""
    value = _catalog.pick(ranges)
    if isinstance(value, str):
        return value
    named = [str(v) for _, v in ranges if isinstance(v, str)]
    return named[-1] if named else None


def _installed_value(ranges: list[list[Any]]) -> Any:
    return _catalog.pick(ranges)


def legacy_forms(key: str) -> dict[str, str]:
    """``{entry: call form}`` of the entries a legacy ``pretrained=`` call loads
    (``"pretrained=True"``, ``"pretrained=True, quantize=True"``, ``"pretrained='legacy'"``)."""
    info = _catalog.builder(key)
    assert info is not None
    labels = {
        "pretrained=True": "pretrained=True",
        "pretrained=True,quantize=True": "pretrained=True, quantize=True",
        "pretrained=legacy": "pretrained='legacy'",
    }
    out: dict[str, str] = {}
    for form, label in labels.items():
        ranges = info["legacy"].get(form)
        value = _legacy_value(ranges) if ranges else None
        if value is not None:
            out.setdefault(value, label)
    return out


def entry_url(enum_name: str, member: str) -> str:
    """The URL the installed torchvision loads for an entry (catalog only, no torchvision)."""
    from tvcompat._weights import _url

    info = _catalog.enum(enum_name)
    assert info is not None
    return _url(info["members"][member])


def entry_file(enum_name: str, member: str) -> str:
    return posixpath.basename(entry_url(enum_name, member))


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


def format_metric(metric: str, value: float) -> str:
    return f"{value:.3f} %" if metric in _PERCENT else str(float(value))


def metric_label(metric: str) -> str:
    return _LABELS.get(metric, metric.upper())


@dataclass(frozen=True)
class WeightsRow:
    """One weights entry of a model, for ``tvcompat weights``."""

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


def weights_report(name: str) -> dict[str, Any]:
    """Everything ``tvcompat weights NAME`` shows; ``NAME`` is a model or a weights enum."""
    from tvcompat._versions import torchvision_version

    cache = checkpoint_dir()
    if _catalog.enum(name) is not None:
        enums, key, legacy = [name], None, {}
    else:
        key = resolve_model_key(name)
        info = _catalog.builder(key)
        assert info is not None
        enums = list(info.get("enums", {}).get("weights", []))
        legacy = legacy_forms(key)
        if not enums:  # backbone utils: the backbones' enums, by backbone_name
            legacy = {}
            for form, ranges in info["legacy"].items():
                value = _legacy_value(ranges)
                if value is not None and form.startswith("backbone_name="):
                    legacy.setdefault(
                        value, f"{form.replace('=', '=' + chr(39))}', pretrained=True"
                    )
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
            registered_name(key) if info["family"] != "backbone_utils" else (info["name"])
        )
        report["family"] = info["family"]
        report["added"] = info["added"].lstrip("<=")
        report["available"] = _catalog.builder_available(info)
        pretrained = [r for r in rows if r.legacy is not None]
        report["pretrained"] = {r.legacy: r.name for r in pretrained}
    return report


def model_rows(family: str | None, include: list[str], every: bool) -> list[dict[str, Any]]:
    """One dict per builder for ``tvcompat models``: what ``pretrained=True`` means."""
    import fnmatch

    from tvcompat._models.registry import list_models
    from tvcompat._models.registry import resolve as resolve_call
    from tvcompat.errors import NoPretrainedWeightsError, TvcompatError

    if every:
        keys = [k for k in _catalog.builder_keys() if builder_family(k) != "backbone_utils"]
        names = sorted((registered_name(k), k) for k in keys)
    else:
        from tvcompat._models.registry import _registry

        names = [(n, _registry()[n]) for n in list_models()]
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
        enums = info.get("enums", {}).get("weights", [])
        floats = [e for e in enums if "Quantized" not in e]
        quantized = [e for e in enums if "Quantized" in e]
        default_enum = floats[0] if floats else None
        if default_enum is not None:
            dinfo = _catalog.enum(default_enum)
            if dinfo is not None and dinfo["default"] is not None:
                row["default"] = f"{default_enum}.{dinfo['default']}"
        if available:
            try:
                res = resolve_call(name, pretrained=True)
                row["pretrained"] = str(res.weights) if res.weights else None
            except NoPretrainedWeightsError:
                row["notes"].append(
                    f"no legacy weights: pretrained=True raises; name them, "
                    f"e.g. weights={row['default']}"
                )
            except TvcompatError as exc:
                row["notes"].append(f"pretrained=True raises: {exc}")
            if quantized:
                try:
                    res = resolve_call(name, pretrained=True, quantize=True)
                    row["pretrained_quantize"] = str(res.weights) if res.weights else None
                    row["notes"].append(f"quantize=True: {res.weights}")
                except TvcompatError as exc:
                    row["notes"].append(f"quantize=True raises: {exc}")
            ranges = info["legacy"].get("pretrained=True")
            own = _installed_value(ranges) if ranges else None
            if not isinstance(own, str) and row["pretrained"] is not None:
                why = (
                    f"{own['error']}: {own['message']}"
                    if isinstance(own, dict) and "error" in own
                    else "the builder has no pretrained argument"
                )
                row["notes"].append(f"torchvision's own pretrained=True fails here ({why})")
            legacy_form = info["legacy"].get("pretrained=legacy")
            if legacy_form:
                row["notes"].append(f"pretrained='legacy': {_legacy_value(legacy_form)}")
        else:
            row["notes"].append(f"needs torchvision >= {row['added']}")
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------
# Certificates: what a download verifies against
# --------------------------------------------------------------------------------------------


def _count_files(folder: str | None) -> int | None:
    if not folder or not os.path.isdir(folder):
        return None
    try:
        return sum(1 for _ in os.scandir(folder))
    except OSError:
        return None


def ca_report() -> dict[str, Any]:
    """Which CA certificates a download made now, outside any tvcompat scope, would trust."""
    paths = ssl.get_default_verify_paths()
    env_file = os.environ.get(paths.openssl_cafile_env) or None
    env_dir = os.environ.get(paths.openssl_capath_env) or None
    factory = ssl._create_default_https_context
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    module = getattr(factory, "__module__", "") or ""
    report: dict[str, Any] = {
        "openssl": ssl.OPENSSL_VERSION,
        "https_context_factory": f"{module}.{name}",
        "verifies": factory is not ssl._create_unverified_context,
        "env": {paths.openssl_cafile_env: env_file, paths.openssl_capath_env: env_dir},
        "cafile": paths.cafile,
        "capath": paths.capath,
        "openssl_cafile": paths.openssl_cafile,
        "openssl_capath": paths.openssl_capath,
        "cafile_exists": bool(paths.cafile and os.path.isfile(paths.cafile)),
        "capath_entries": _count_files(paths.capath),
        "platform_store": sys.platform in ("win32", "darwin"),
    }
    try:
        stats = ssl.create_default_context().cert_store_stats()
        report["loaded_ca_certs"] = int(stats.get("x509_ca", 0))
    except (ssl.SSLError, OSError) as exc:
        report["loaded_ca_certs"] = None
        report["error"] = str(exc)
    try:
        import certifi

        report["certifi"] = {"where": certifi.where(), "version": str(certifi.__version__)}
    except ImportError:  # pragma: no cover - certifi is a dependency
        report["certifi"] = None
    try:
        import importlib.util

        report["truststore"] = importlib.util.find_spec("truststore") is not None
    except (ImportError, ValueError):  # pragma: no cover
        report["truststore"] = False
    import urllib.request

    report["proxies"] = {
        k: v for k, v in urllib.request.getproxies().items() if k in ("https", "http", "all", "no")
    }
    if env_file:
        report["bundle"] = env_file
        report["bundle_source"] = f"env:{paths.openssl_cafile_env}"
    elif sys.platform == "win32":  # pragma: no cover - CI runs on Linux
        report["bundle"] = "the Windows certificate store"
        report["bundle_source"] = "ssl.create_default_context() on Windows"
    else:
        report["bundle"] = paths.cafile or paths.openssl_cafile
        report["bundle_source"] = "OpenSSL's default (ssl.get_default_verify_paths())"
    no_dir = not report["capath_entries"]
    report["no_roots"] = not report["platform_store"] and report["loaded_ca_certs"] == 0 and no_dir
    return report
