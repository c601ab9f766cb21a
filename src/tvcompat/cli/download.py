"""``tvcompat download MODEL``: put the weights a build would load into the torch hub cache."""

from __future__ import annotations

import argparse
import contextlib
import ssl
import sys
import warnings
from typing import Any

from tvcompat import _catalog, downloads
from tvcompat._models.registry import model_key, resolve
from tvcompat._models.resolve import legacy_entry
from tvcompat._settings import get_setting, set_mirror
from tvcompat._weights import Entry, lookup
from tvcompat.cli._output import OK, PROBLEM, UsageError, add_json_flag, emit_json, size
from tvcompat.errors import BuilderNotAvailableError, DownloadError, TvcompatError, TvcompatWarning

__all__ = [
    "DESCRIPTION",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "add_arguments",
    "download_entries",
    "run",
]

NAME = "download"
HELP = "download a model's weights into the torch hub cache"
DESCRIPTION = (
    "Download into the torch hub cache the weights building MODEL loads: by default what "
    "pretrained=True loads, or --weights NAME. Goes through the mirror, offline, timeout and "
    "hash-check settings (see `tvcompat doctor`)."
)
#: invalid settings are a usage error (the doctor reports them instead)
NEEDS_VALID_SETTINGS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument(
        "--weights",
        metavar="NAME",
        default=None,
        help="IMAGENET1K_V2, ResNet50_Weights.IMAGENET1K_V2 or DEFAULT "
        "(default: what pretrained=True loads)",
    )
    parser.add_argument(
        "--backbone",
        action="store_true",
        help="the backbone's weights (pretrained_backbone=True, or "
        "weights_backbone=NAME with --weights)",
    )
    parser.add_argument(
        "--quantize",
        action="store_true",
        help="quantized models: the quantized weights (quantize=True)",
    )
    parser.add_argument(
        "--mirror",
        metavar="URL",
        default=None,
        help="take files from this mirror (base URL or folder) instead of download.pytorch.org",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--cafile",
        metavar="FILE",
        default=None,
        help="also trust the CA certificates in FILE (e.g. your proxy's)",
    )
    trust.add_argument("--certifi", action="store_true", help="verify against certifi's CA bundle")
    trust.add_argument(
        "--truststore", action="store_true", help="verify with the operating system's trust store"
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="last resort: do not verify certificates (hashes still checked)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_json_flag(parser)


def _names_quantized_weights(name: str | None, info: _catalog.BuilderRecord, param: str) -> bool:
    """Whether ``--weights NAME`` names an entry of the model's quantized enum, which implies
    ``quantize=True`` (a bare ``DEFAULT`` stays the float model's)."""
    if name is None or name == "DEFAULT" or info["family"] != "quantization":
        return False
    quantized = [e for e in info["enums"].get(param, []) if "Quantized" in e]
    if not quantized:
        return False
    try:
        return lookup(name, quantized, param=param, model=info["name"]) is not None
    except TvcompatError:  # not one of its entries: resolving the call says what is wrong
        return False


def download_entries(args: argparse.Namespace) -> list[Entry]:
    """The weights entries the download options name: what building the model with the
    matching arguments loads (resolved as the builders resolve them)."""
    key = model_key(args.model)
    info = _catalog.builder(key)
    assert info is not None
    param = "weights_backbone" if args.backbone else "weights"
    legacy = "pretrained_backbone" if args.backbone else "pretrained"
    if param not in info["weights_params"]:
        raise UsageError(f"{args.model} has no backbone weights (no weights_backbone argument)")
    quantize = args.quantize or _names_quantized_weights(args.weights, info, param)
    if quantize and info["family"] != "quantization":
        raise UsageError(f"--quantize: {args.model} is not a quantizable model")
    kwargs: dict[str, Any] = {"quantize": True} if quantize else {}
    if args.weights is None:
        kwargs[legacy] = True
    else:
        kwargs[param] = args.weights
    if args.backbone:
        kwargs["weights"] = None
    try:
        res = resolve(args.model if info["family"] != "backbone_utils" else info["name"], **kwargs)
    except BuilderNotAvailableError:
        # not buildable here, but the file can still be fetched (to fill a mirror)
        entry: Entry | None
        if args.weights is None:
            form = (
                _catalog.FORM_PRETRAINED_BACKBONE
                if args.backbone
                else (_catalog.FORM_PRETRAINED_QUANTIZED if quantize else _catalog.FORM_PRETRAINED)
            )
            entry = legacy_entry(key, form)
        else:
            enums = info["enums"].get(param, [])
            allowed = [e for e in enums if ("Quantized" in e) == quantize] or enums
            entry = lookup(args.weights, allowed, param=param, model=info["name"])
        return [entry] if entry is not None else []
    return [e for e in (res.weights, res.weights_backbone) if e is not None]


def _scope(args: argparse.Namespace) -> Any:
    """The certificate scope the download options ask for (a context manager)."""
    if args.cafile:
        try:
            return downloads.cafile_downloads(cafile=args.cafile)
        except (FileNotFoundError, ssl.SSLError) as exc:
            raise UsageError(f"--cafile {args.cafile}: {exc}") from exc
    if args.certifi:
        return downloads.certifi_downloads()
    if args.truststore:
        try:
            return downloads.truststore_downloads()
        except ImportError as exc:
            raise UsageError(str(exc)) from exc
    if args.insecure:
        print(
            "tvcompat download: WARNING: --insecure: certificates are NOT verified; the "
            "sha256-prefix check of weights files stays on.",
            file=sys.stderr,
        )
        return downloads.insecure_downloads()
    return contextlib.nullcontext()


def run(args: argparse.Namespace) -> int:
    entries = download_entries(args)
    if not entries:
        raise UsageError(f"{args.model}: these options load no weights")
    done: list[dict[str, Any]] = []
    previous_mirror = get_setting("mirror")
    if args.mirror is not None:
        set_mirror(args.mirror)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TvcompatWarning)  # --insecure warned already
            scope = _scope(args)
            scope.__enter__()
        try:
            for entry in entries:
                try:
                    path = downloads.ensure_cached(entry.url, progress=not args.quiet)
                except DownloadError as exc:
                    print(f"tvcompat download: {entry}: {exc}", file=sys.stderr)
                    if args.json:
                        emit_json(
                            {"ok": False, "files": done, "error": str(exc), "failed": str(entry)}
                        )
                    return PROBLEM
                done.append(
                    {
                        "weights": str(entry),
                        "url": entry.url,
                        "path": str(path),
                        "size": path.stat().st_size,
                    }
                )
        finally:
            scope.__exit__(None, None, None)
    finally:
        if args.mirror is not None:  # --mirror lasts one command
            api = previous_mirror.source == "api"
            set_mirror(str(previous_mirror.value) if api else None)
    if args.json:
        emit_json({"ok": True, "files": done})
    else:
        for item in done:
            print(f"{item['weights']}: {item['path']} ({size(item['size'])})")
    return OK
