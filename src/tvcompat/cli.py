"""The ``tvcompat`` command (also ``python -m tvcompat``).

Commands: ``doctor``, ``models``, ``weights``, ``download``, ``cache list|verify`` and
``migrate``; ``tvcompat COMMAND --help`` describes each. Listing commands take ``--json``.

Exit codes: 0 ok; 1 a problem was found (a failed handshake, a corrupt cached file, a failed
download, files ``migrate --check`` would change, a file that cannot be parsed); 2 the command
could not run as asked (usage error, unknown model or weights name, missing optional extra).

``weights``, ``models``, ``cache list`` and ``doctor`` (without ``--online``) import neither
torch nor torchvision: they read tvcompat's catalog and the installed versions' metadata.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

#: models whose legacy weights the doctor shows
DOCTOR_MODELS = (
    "resnet50",
    "mobilenet_v2",
    "efficientnet_b1",
    "fasterrcnn_resnet50_fpn",
    "quantized_resnet50",
)

OK, PROBLEM, USAGE = 0, 1, 2


class UsageError(Exception):
    """The command cannot run as asked (exit code 2)."""


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _size(num_bytes: float) -> str:
    """Binary units, labelled as torchvision labels its file sizes (``97.8 MB``)."""
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError  # pragma: no cover


# --------------------------------------------------------------------------------------------
# doctor
# --------------------------------------------------------------------------------------------


def _settings_state() -> tuple[dict[str, dict[str, Any]], int]:
    """Each setting's value and source; an invalid environment variable is reported."""
    from tvcompat import _settings

    readers = {
        "pretrained_policy": "_policy_setting",
        "mirror": "_mirror_setting",
        "offline": "_offline_setting",
        "download_timeout": "_timeout_setting",
    }
    out: dict[str, dict[str, Any]] = {}
    problems = 0
    for name, reader in readers.items():
        try:
            setting = getattr(_settings, reader)()
        except ValueError as exc:
            out[name] = {"value": None, "source": "invalid", "error": str(exc)}
            problems += 1
        else:
            out[name] = {"value": setting.value, "source": setting.source}
    return out, problems


def _doctor(args: argparse.Namespace) -> int:
    from tvcompat import _cli_info
    from tvcompat.__about__ import __version__
    from tvcompat._models.registry import resolve
    from tvcompat._versions import capabilities, torch_version, torchvision_version
    from tvcompat.errors import BuilderNotAvailableError

    caps = capabilities()
    settings, problems = _settings_state()
    report: dict[str, Any] = {
        "tvcompat": __version__,
        "python": platform.python_version(),
        "torch": str(torch_version()),
        "torchvision": str(torchvision_version()),
        "capabilities": caps.as_dict(),
        "settings": settings,
        "pretrained=True": {},
    }
    cache = _cli_info.checkpoint_dir()
    for model in DOCTOR_MODELS:
        kwargs: dict[str, Any] = {"pretrained": True}
        if model.startswith("quantized_"):
            kwargs["quantize"] = True
        try:
            res = resolve(model, **kwargs)
        except BuilderNotAvailableError:
            report["pretrained=True"][model] = {"unavailable": True}
            continue
        except Exception as exc:  # the doctor reports, never crashes
            report["pretrained=True"][model] = {"error": str(exc)}
            problems += 1
            continue
        entry = res.weights
        url = _cli_info.entry_url(entry.enum, entry.member) if entry else None
        report["pretrained=True"][model] = {
            "weights": str(entry),
            "url": url,
            "cached": bool(url and (cache / url.rpartition("/")[2]).is_file()),
        }
    files = _cli_info.list_cache(cache)
    report["hub_cache"] = {
        "hub_dir": str(cache.parent),
        "checkpoints": str(cache),
        "exists": cache.is_dir(),
        "files": [
            {"name": f.name, "size": f.size, "weights": f.weights, "partial": f.partial}
            for f in files
        ],
        "total_bytes": sum(f.size for f in files),
    }
    report["certificates"] = _cli_info.ca_report()
    online = None
    if args.online:
        from tvcompat import _cli_tls

        try:
            online = _cli_tls.check(args.url, cafile=args.cafile, timeout=args.timeout)
        except (FileNotFoundError, ssl_error()) as exc:
            raise UsageError(str(exc)) from exc
        report["online"] = online.as_dict()
        if not online.ok:
            problems += 1
    if args.json:
        _emit_json(report)
        return PROBLEM if problems else OK
    print(
        f"tvcompat {report['tvcompat']}  python {report['python']}  torch {report['torch']}  "
        f"torchvision {report['torchvision']}"
    )
    print("capabilities:")
    for name, value in report["capabilities"].items():
        print(f"  {name:<32} {'yes' if value else 'no'}")
    print("settings:")
    for name, s in report["settings"].items():
        if "error" in s:
            print(f"  {name:<32} INVALID: {s['error']}")
        else:
            print(f"  {name:<32} {s['value']!s:<24} ({s['source']})")
    print("pretrained=True resolves to:")
    for model, r in report["pretrained=True"].items():
        if "error" in r:
            print(f"  {model:<32} ERROR {r['error']}")
        elif "unavailable" in r:
            print(f"  {model:<32} (not in torchvision {report['torchvision']})")
        else:
            state = "cached" if r["cached"] else "not cached"
            print(f"  {model:<32} {r['weights']}  [{state}]")
    _print_hub_cache(report["hub_cache"])
    _print_certificates(report["certificates"])
    if online is not None:
        _print_online(online)
    return PROBLEM if problems else OK


def ssl_error() -> type[Exception]:
    import ssl

    return ssl.SSLError


def _print_hub_cache(hub: dict[str, Any]) -> None:
    files = hub["files"]
    if not hub["exists"]:
        print(f"torch hub cache: {hub['checkpoints']} (does not exist yet)")
        return
    print(
        f"torch hub cache: {hub['checkpoints']} ({len(files)} file"
        f"{'' if len(files) == 1 else 's'}, {_size(hub['total_bytes'])})"
    )
    for f in files:
        what = f["weights"] or ("partial download" if f["partial"] else "not a torchvision file")
        print(f"  {f['name']:<48} {_size(f['size']):>10}  {what}")


def _print_certificates(ca: dict[str, Any]) -> None:
    print("certificates (a download outside any tvcompat scope):")
    print(f"  {'verifies against':<32} {ca['bundle']} [{ca['bundle_source']}]")
    for var, value in ca["env"].items():
        print(f"  {var:<32} {value or '(unset)'}")
    exists = "exists" if ca["cafile_exists"] else "missing"
    print(f"  {'default CA file':<32} {ca['cafile'] or ca['openssl_cafile']} ({exists})")
    entries = ca["capath_entries"]
    folder = ca["capath"] or ca["openssl_capath"]
    print(
        f"  {'default CA folder':<32} {folder} "
        f"({'missing' if entries is None else f'{entries} entries'})"
    )
    print(f"  {'CA certificates loaded':<32} {ca['loaded_ca_certs']}")
    certifi = ca["certifi"]
    print(
        f"  {'certifi':<32} "
        f"{certifi['version'] + ' ' + certifi['where'] if certifi else 'not installed'}"
    )
    print(
        f"  {'truststore':<32} "
        f"{'installed' if ca['truststore'] else 'not installed (tvcompat[truststore])'}"
    )
    proxies = ", ".join(f"{k}={v}" for k, v in ca["proxies"].items()) or "none"
    print(f"  {'proxies':<32} {proxies}")
    print(f"  {'https context factory':<32} {ca['https_context_factory']}")
    if not ca["verifies"]:
        print(
            "  WARNING: certificate verification is disabled for the whole process "
            "(ssl._create_default_https_context = ssl._create_unverified_context)"
        )
    if ca["no_roots"]:
        print(
            "  WARNING: no CA certificates found: downloads will fail with "
            "CERTIFICATE_VERIFY_FAILED. Use `tvcompat download MODEL --certifi` or "
            "tvcompat.certifi_downloads(); `tvcompat doctor --online` checks."
        )


def _print_online(online: Any) -> None:
    via = f" via proxy {online.proxy}" if online.proxy else ""
    print(f"online check: TLS handshake with {online.host}:{online.port}{via}")
    first = online.attempts[0]
    if online.ok:
        peer = first.peer or {}
        print(
            f"  OK ({first.tls_version}) with {first.label}: certificate for "
            f"{peer.get('subject', '?')} issued by {peer.get('issuer', '?')}"
        )
        return
    print(f"  FAILED with {first.label}: {first.error}")
    for attempt in online.attempts[1:]:
        print(f"  with {attempt.label}: {'OK' if attempt.ok else 'failed: ' + str(attempt.error)}")
    for line in online.explanation:
        print(f"  {line}")
    print("  fixes, in the order to try them:")
    for i, fix in enumerate(online.fixes, 1):
        print(f"    {i}. {fix}")


# --------------------------------------------------------------------------------------------
# models / weights
# --------------------------------------------------------------------------------------------


def _models(args: argparse.Namespace) -> int:
    from tvcompat import _cli_info
    from tvcompat._settings import get_pretrained_policy
    from tvcompat._versions import torchvision_version

    rows = _cli_info.model_rows(args.family, args.include or [], args.all)
    if args.json:
        _emit_json(rows)
        return OK
    policy = get_pretrained_policy()
    print(
        f"torchvision {torchvision_version()}: {len(rows)} model"
        f"{'' if len(rows) == 1 else 's'}; pretrained=True loads (policy {policy!r}):"
    )
    table = _cli_info.Table(["MODEL", "FAMILY", "PRETRAINED=TRUE", "DEFAULT", "NOTES"], [])
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
    for line in table.lines():
        print(line)
    return OK


def _weights(args: argparse.Namespace) -> int:
    from tvcompat import _cli_info

    report = _cli_info.weights_report(args.model)
    rows: list[_cli_info.WeightsRow] = report["weights"]
    if args.json:
        _emit_json({**report, "weights": [r.as_dict() for r in rows]})
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
    metric_keys: list[tuple[str, str]] = []
    for r in rows:
        for ds, metrics in r.metrics.items():
            for m in metrics:
                if (ds, m) not in metric_keys:
                    metric_keys.append((ds, m))
    per_column = len(datasets) <= 1
    headers = ["WEIGHTS", "DEFAULT", "LEGACY"]
    if per_column:
        headers += [_cli_info.metric_label(m) for _, m in metric_keys]
    else:
        headers.append("METRICS")
    headers += ["PARAMS", "GFLOPS", "SIZE", "TORCHVISION", "CACHED"]
    first_numeric = 3
    table = _cli_info.Table(headers, [])
    for r in rows:
        cells = [r.name, "yes" if r.default else "", r.legacy or ""]
        if per_column:
            cells += [
                _cli_info.format_metric(m, r.metrics[ds][m]) if m in r.metrics.get(ds, {}) else ""
                for ds, m in metric_keys
            ]
        else:
            cells.append(
                "; ".join(
                    f"{ds} "
                    + " ".join(
                        f"{_cli_info.metric_label(m)} {_cli_info.format_metric(m, v)}"
                        for m, v in ms.items()
                    )
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
    numeric = (
        set(range(first_numeric, len(headers) - 2))
        if per_column
        else set(range(first_numeric + 1, len(headers) - 2))
    )
    table.right = frozenset(numeric)
    if datasets:
        print(f"  metrics on {', '.join(datasets)}" if per_column else "  metrics per dataset")
    for line in table.lines():
        print(line)
    print(f"cache: {report['checkpoint_dir']}")
    return OK


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------


def _scope(args: argparse.Namespace) -> Any:
    """The certificate scope the download options ask for (a context manager)."""
    import contextlib

    from tvcompat import downloads

    if args.cafile:
        try:
            return downloads.cafile_downloads(cafile=args.cafile)
        except (FileNotFoundError, ssl_error()) as exc:
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


def _download_entries(args: argparse.Namespace) -> list[Any]:
    """The weights entries the download options name."""
    from tvcompat import _catalog
    from tvcompat._cli_info import resolve_model_key
    from tvcompat._models.registry import resolve
    from tvcompat._models.resolve import _legacy_entry
    from tvcompat._weights import lookup
    from tvcompat.errors import BuilderNotAvailableError

    key = resolve_model_key(args.model)
    info = _catalog.builder(key)
    assert info is not None
    param = "weights_backbone" if args.backbone else "weights"
    legacy = "pretrained_backbone" if args.backbone else "pretrained"
    if param not in info["weights_params"]:
        raise UsageError(f"{args.model} has no backbone weights (no weights_backbone argument)")
    kwargs: dict[str, Any] = {}
    quantize = args.quantize
    enums = info.get("enums", {}).get(param, [])
    if args.weights is not None and info["family"] == "quantization" and not quantize:
        # a quantized entry named explicitly implies quantize=True
        quantized = [e for e in enums if "Quantized" in e]
        name = args.weights
        for enum_name in quantized:
            qinfo = _catalog.enum(enum_name) or {"members": {}}
            bare = name.rpartition(".")[2]
            if name.startswith(enum_name + ".") or (
                "." not in name and bare in qinfo["members"] and bare != "DEFAULT"
            ):
                quantize = True
    if quantize:
        if info["family"] != "quantization":
            raise UsageError(f"--quantize: {args.model} is not a quantizable model")
        kwargs["quantize"] = True
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
        if args.weights is None:
            form = (
                "pretrained_backbone=True"
                if args.backbone
                else ("pretrained=True,quantize=True" if quantize else "pretrained=True")
            )
            entry = _legacy_entry(key, form)
        else:
            allowed = [e for e in enums if ("Quantized" in e) == bool(quantize)] or enums
            entry = lookup(args.weights, allowed, param=param, model=info["name"])
        return [entry] if entry is not None else []
    return [e for e in (res.weights, res.weights_backbone) if e is not None]


def _download(args: argparse.Namespace) -> int:
    from tvcompat import _settings
    from tvcompat.downloads import ensure_cached
    from tvcompat.errors import DownloadError, TvcompatWarning

    entries = _download_entries(args)
    if not entries:
        raise UsageError(f"{args.model}: these options load no weights")
    done: list[dict[str, Any]] = []
    previous_mirror = None
    if args.mirror is not None:
        previous_mirror = _settings._overrides.get("mirror")
        _settings.set_mirror(args.mirror)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TvcompatWarning)  # --insecure warned already
            scope = _scope(args)
            scope.__enter__()
        try:
            for entry in entries:
                try:
                    path = ensure_cached(entry.url, progress=not args.quiet)
                except DownloadError as exc:
                    print(f"tvcompat download: {entry}: {exc}", file=sys.stderr)
                    if args.json:
                        _emit_json(
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
        if args.mirror is not None:
            _settings.set_mirror(previous_mirror)  # type: ignore[arg-type]
    if args.json:
        _emit_json({"ok": True, "files": done})
    else:
        for item in done:
            print(f"{item['weights']}: {item['path']} ({_size(item['size'])})")
    return OK


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


def _cache_list(args: argparse.Namespace) -> int:
    from tvcompat import _cli_info

    folder = Path(args.dir) if args.dir else _cli_info.checkpoint_dir()
    files = _cli_info.list_cache(folder)
    if args.json:
        _emit_json(
            {
                "folder": str(folder),
                "files": [
                    {"name": f.name, "size": f.size, "weights": f.weights, "partial": f.partial}
                    for f in files
                ],
            }
        )
        return OK
    print(f"{folder}: {len(files)} file{'' if len(files) == 1 else 's'}")
    table = _cli_info.Table(["FILE", "SIZE", "WEIGHTS"], [], right=frozenset({1}))
    for f in files:
        what = f.weights or ("partial download" if f.partial else "not a torchvision file")
        table.rows.append([f.name, _size(f.size), what])
    if files:
        for line in table.lines():
            print(line)
    return OK


def _cache_verify(args: argparse.Namespace) -> int:
    from tvcompat import _cli_info
    from tvcompat.downloads import verify_cache

    folder = Path(args.dir) if args.dir else _cli_info.checkpoint_dir()
    found = verify_cache(folder, remove_corrupt=args.remove_corrupt)
    corrupt = [f for f in found if f.status == "corrupt"]
    if args.json:
        _emit_json(
            {
                "folder": str(folder),
                "ok": not corrupt,
                "files": [
                    {
                        "name": f.path.name,
                        "path": str(f.path),
                        "size": f.size,
                        "weights": f.weights,
                        "status": f.status,
                        "detail": f.detail,
                        "removed": f.removed,
                    }
                    for f in found
                ],
            }
        )
        return PROBLEM if corrupt else OK
    print(f"{folder}: {len(found)} file{'' if len(found) == 1 else 's'}")
    table = _cli_info.Table(
        ["STATUS", "FILE", "SIZE", "WEIGHTS", "DETAIL"], [], right=frozenset({2})
    )
    for f in found:
        status = f.status.upper() + (" (removed)" if f.removed else "")
        table.rows.append([status, f.path.name, _size(f.size), f.weights or "", f.detail])
    if found:
        for line in table.lines():
            print(line)
    if corrupt:
        removed = sum(f.removed for f in corrupt)
        hint = (
            "removed; they are downloaded again on next use"
            if removed == len(corrupt)
            else "run `tvcompat cache verify --remove-corrupt` to delete them"
        )
        print(f"{len(corrupt)} corrupt file{'' if len(corrupt) == 1 else 's'}: {hint}")
        return PROBLEM
    print("no corrupt files")
    return OK


# --------------------------------------------------------------------------------------------
# migrate
# --------------------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    import importlib

    try:
        _migrate = importlib.import_module("tvcompat._migrate")
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "libcst":
            raise
        raise UsageError(
            "migrate needs the optional package libcst: pip install 'tvcompat[migrate]'"
        ) from exc
    from tvcompat.errors import TorchvisionTooOldError

    try:
        _migrate.check_target(args.target)
        files = _migrate.python_files([Path(p) for p in args.paths])
    except (TorchvisionTooOldError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    mode = "write" if args.write else "check" if args.check else "diff"
    results = [
        _migrate.migrate_file(path, target=args.target, write=mode == "write") for path in files
    ]
    changed = [r for r in results if r.changed]
    errors = [r for r in results if r.error]
    if args.json:
        _emit_json(
            {
                "target": args.target,
                "mode": mode,
                "files": [r.as_dict() for r in results if r.findings or r.error],
            }
        )
    else:
        for r in results:
            if r.error:
                print(f"{r.path}: error: {r.error}", file=sys.stderr)
            for f in r.findings:
                if f.rewritten:
                    if mode != "diff":
                        print(f"{r.path}:{f.line}:{f.column}: {f.message}")
                else:
                    print(
                        f"{r.path}:{f.line}:{f.column}: not rewritten: {f.message}", file=sys.stderr
                    )
            if r.changed and mode == "diff":
                sys.stdout.write(r.diff())
        calls = sum(f.rewritten for r in results for f in r.findings)
        skipped = sum(not f.rewritten for r in results for f in r.findings)
        verb = {"write": "rewrote", "check": "would rewrite", "diff": "would rewrite"}[mode]
        print(
            f"{verb} {calls} call{'' if calls == 1 else 's'} in {len(changed)} file"
            f"{'' if len(changed) == 1 else 's'} (target {args.target}); {skipped} not "
            f"rewritten; {len(results)} file{'' if len(results) == 1 else 's'} checked",
            file=sys.stderr,
        )
    if errors or (mode == "check" and changed):
        return PROBLEM
    return OK


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvcompat",
        description="torchvision compatibility: versions, weights, downloads and migration. "
        "Exit codes: 0 ok, 1 problem found, 2 usage error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser(
        "doctor",
        help="installed versions, capabilities, settings, cache, certificates and "
        "what pretrained=True loads (offline unless --online)",
        description="Report the installed versions and what they imply, the tvcompat settings "
        "and where they come from, the torch hub cache, the CA certificates a download would "
        "use, and what pretrained=True loads. Works offline; --online also tries a TLS "
        "handshake with the weights host and explains a failure.",
    )
    _add_json(doctor)
    doctor.add_argument(
        "--online", action="store_true", help="try a real TLS handshake with the weights host"
    )
    doctor.add_argument(
        "--url",
        metavar="URL",
        default=None,
        help="host to check with --online (default: the mirror if it is an "
        "https URL, else https://download.pytorch.org)",
    )
    doctor.add_argument(
        "--cafile",
        metavar="FILE",
        default=None,
        help="with --online: also trust the CA certificates in FILE (PEM)",
    )
    doctor.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=10.0,
        help="with --online: seconds to wait (default 10)",
    )
    doctor.set_defaults(func=_doctor)

    models = sub.add_parser(
        "models",
        help="the builders of the installed torchvision and what pretrained=True loads for each",
        description="List the models of the installed torchvision with the weights "
        "pretrained=True loads for each (and DEFAULT where it differs).",
    )
    models.add_argument("--family", choices=_families(), default=None, help="only this family")
    models.add_argument(
        "--include",
        metavar="PATTERN",
        action="append",
        default=None,
        help="only names matching this fnmatch pattern (repeatable)",
    )
    models.add_argument(
        "--all", action="store_true", help="also models newer than the installed torchvision"
    )
    _add_json(models)
    models.set_defaults(func=_models)

    weights = sub.add_parser(
        "weights",
        help="every weights entry of a model, with metrics, size and cache state",
        description="Every weights entry of MODEL (a model name such as resnet50 or "
        "quantized_resnet50, or a weights enum such as ResNet50_Weights): DEFAULT or not, "
        "which legacy call loads it, headline metrics, parameters, GFLOPS, file size, the "
        "oldest torchvision that loads it by itself, and whether it is in the torch hub cache.",
    )
    weights.add_argument("model", metavar="MODEL")
    _add_json(weights)
    weights.set_defaults(func=_weights)

    download = sub.add_parser(
        "download",
        help="download a model's weights into the torch hub cache",
        description="Download into the torch hub cache the weights building MODEL loads: by "
        "default what pretrained=True loads, or --weights NAME. Goes through the mirror, "
        "offline, timeout and hash-check settings (see `tvcompat doctor`).",
    )
    download.add_argument("model", metavar="MODEL")
    download.add_argument(
        "--weights",
        metavar="NAME",
        default=None,
        help="IMAGENET1K_V2, ResNet50_Weights.IMAGENET1K_V2 or DEFAULT "
        "(default: what pretrained=True loads)",
    )
    download.add_argument(
        "--backbone",
        action="store_true",
        help="the backbone's weights (pretrained_backbone=True, or "
        "weights_backbone=NAME with --weights)",
    )
    download.add_argument(
        "--quantize",
        action="store_true",
        help="quantized models: the quantized weights (quantize=True)",
    )
    download.add_argument(
        "--mirror",
        metavar="URL",
        default=None,
        help="take files from this mirror (base URL or folder) instead of download.pytorch.org",
    )
    trust = download.add_mutually_exclusive_group()
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
    download.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_json(download)
    download.set_defaults(func=_download)

    cache = sub.add_parser(
        "cache",
        help="list or verify the torch hub cache",
        description="The weights files in the torch hub cache (<hub dir>/checkpoints).",
    )
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    listing = cache_sub.add_parser(
        "list",
        help="list the cached files (without reading them)",
        description="List the files of the torch hub cache and the weights entry each belongs to.",
    )
    verify = cache_sub.add_parser(
        "verify",
        help="check cached weights files against the hash in their names",
        description="Read every torchvision weights file of the cache and check its sha256 "
        "against the prefix in its name. Exit code 1 if a corrupt file is found.",
    )
    verify.add_argument(
        "--remove-corrupt",
        action="store_true",
        help="delete corrupt files (downloaded again on next use)",
    )
    for p in (listing, verify):
        p.add_argument(
            "--dir",
            metavar="FOLDER",
            default=None,
            help="check this folder instead (e.g. a mirror folder)",
        )
        _add_json(p)
    listing.set_defaults(func=_cache_list)
    verify.set_defaults(func=_cache_verify)
    cache.set_defaults(func=None, subparser=cache)

    migrate = sub.add_parser(
        "migrate",
        help="rewrite legacy torchvision calls (pretrained=...) in source files",
        description="Find legacy torchvision builder calls (pretrained=, pretrained_backbone=, "
        "positional flags) in Python files and rewrite them to explicit weights: with "
        "tvcompat's builders and enums (--target shim, works on every torchvision) or to "
        "torchvision's own weights= enums (--target native, needs the installed torchvision "
        ">= 0.13). Needs libcst: pip install 'tvcompat[migrate]'. Exit code 1 with --check "
        "when files would change.",
    )
    migrate.add_argument(
        "paths", metavar="PATH", nargs="+", help="Python files or folders (searched for *.py)"
    )
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="list what would change; exit 1 if anything would"
    )
    mode.add_argument(
        "--diff", action="store_true", help="print a unified diff of the changes (the default)"
    )
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    migrate.add_argument(
        "--target",
        choices=("shim", "native"),
        default="shim",
        help="shim: tvcompat builders and enums (default); native: torchvision's weights= enums",
    )
    _add_json(migrate)
    migrate.set_defaults(func=_migrate)
    return parser


def _families() -> tuple[str, ...]:
    from tvcompat._cli_info import FAMILIES

    return FAMILIES


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else USAGE
    func = getattr(args, "func", None)
    if func is None:
        target = getattr(args, "subparser", parser)
        target.print_help(sys.stderr)
        return USAGE
    from tvcompat.errors import DownloadError, TvcompatError

    if args.command in ("models", "download"):  # the doctor reports invalid settings itself
        settings, invalid = _settings_state()
        if invalid:
            for state in settings.values():
                if "error" in state:
                    print(f"tvcompat {args.command}: error: {state['error']}", file=sys.stderr)
            return USAGE
    try:
        result: int = func(args)
    except DownloadError:
        raise
    except (UsageError, TvcompatError) as exc:
        # unknown model or weights names, weights that do not fit the model, a builder
        # newer than the installed torchvision, no legacy weights: the request is wrong
        print(f"tvcompat {args.command}: error: {exc}", file=sys.stderr)
        return USAGE
    except BrokenPipeError:  # `tvcompat models | head`
        return OK
    return result
