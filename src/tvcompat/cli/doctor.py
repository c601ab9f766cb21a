"""``tvcompat doctor``: versions, capabilities, settings, cache, certificates, and what
``pretrained=True`` loads; ``--online`` also tries a TLS handshake (:mod:`._tls`).

Without ``--online`` nothing here imports torch or torchvision.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import ssl
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tvcompat.__about__ import __version__
from tvcompat._bootstrap import run_state
from tvcompat._models.registry import resolve
from tvcompat._net.fetch import mirror_folder
from tvcompat._net.paths import checkpoint_dir
from tvcompat._settings import get_settings, validate_timeout
from tvcompat._versions import capabilities, torch_version, torchvision_version
from tvcompat.cli import _tls
from tvcompat.cli._output import OK, PROBLEM, UsageError, add_json_flag, emit_json, plural, size
from tvcompat.cli.cache import CacheFile, list_cache
from tvcompat.cli.weights import entry_url
from tvcompat.errors import BuilderNotAvailableError, InvalidSettingError

__all__ = [
    "DESCRIPTION",
    "DOCTOR_MODELS",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "add_arguments",
    "ca_report",
    "run",
    "settings_state",
]

NAME = "doctor"
HELP = (
    "installed versions, capabilities, settings, cache, certificates and what pretrained=True "
    "loads (offline unless --online)"
)
DESCRIPTION = (
    "Report the installed versions and what they imply, the tvcompat settings and where they "
    "come from, the torch hub cache, the CA certificates a download would use, and what "
    "pretrained=True loads. Works offline; --online also tries a TLS handshake with the "
    "weights host and explains a failure."
)
#: the doctor reports invalid settings itself
NEEDS_VALID_SETTINGS = False

#: models whose legacy weights the doctor shows
DOCTOR_MODELS = (
    "resnet50",
    "mobilenet_v2",
    "efficientnet_b1",
    "fasterrcnn_resnet50_fpn",
    "quantized_resnet50",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)
    parser.add_argument(
        "--online", action="store_true", help="try a real TLS handshake with the weights host"
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        default=None,
        help="host to check with --online (default: the mirror if it is an "
        "https URL, else https://download.pytorch.org)",
    )
    parser.add_argument(
        "--cafile",
        metavar="FILE",
        default=None,
        help="with --online: also trust the CA certificates in FILE (PEM)",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=10.0,
        help="with --online: seconds to wait (default 10)",
    )


def _seconds(text: str) -> float:
    """argparse type of ``--timeout``: the download timeout's rules."""
    try:
        return validate_timeout(text, "--timeout")
    except InvalidSettingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_url(url: str) -> None:
    """``--url`` must be a host or an https URL whose host and port can be read."""
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        raise UsageError(f"--url {url}: not a valid URL ({exc})") from None
    if not parts.hostname:
        raise UsageError(f"--url {url}: names no host")


def setting_problems(settings: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with valid settings, that using them would show: a mirror folder that
    does not exist."""
    mirror = settings.get("mirror", {}).get("value")
    if not isinstance(mirror, str):
        return []
    folder = mirror_folder(mirror)
    if folder is None or folder.is_dir():
        return []
    source = settings["mirror"]["source"]
    what = "is a file, not a folder" if folder.exists() else "does not exist"
    return [
        f"the weights mirror folder {folder} ({source}) {what}: every download fails. "
        "Create it and put the weights files there, or unset the mirror "
        "(TVCOMPAT_WEIGHTS_MIRROR / tvcompat.set_mirror(None))."
    ]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a folder this user cannot search: reported with the cache
        return False


def _blocked_by_a_file(folder: Path) -> Path | None:
    """The file that stands where ``folder`` or one of its parents should be, if any."""
    for path in (folder, *folder.parents):
        try:
            if path.exists():
                return None if path.is_dir() else path
        except OSError:
            return None
    return None


def settings_state() -> tuple[dict[str, dict[str, Any]], int]:
    """Each setting's value and source, and how many are invalid (reported, not raised)."""
    out: dict[str, dict[str, Any]] = {}
    problems = 0
    for setting in get_settings():
        if setting.error is not None:
            out[setting.name] = {"value": None, "source": "invalid", "error": setting.error}
            problems += 1
        else:
            out[setting.name] = {"value": setting.value, "source": setting.source}
    return out, problems


def run(args: argparse.Namespace) -> int:
    if args.url is not None:
        _check_url(args.url)
    settings, problems = settings_state()
    found = setting_problems(settings)
    report: dict[str, Any] = {
        "tvcompat": __version__,
        "python": platform.python_version(),
        "torch": str(torch_version()),
        "torchvision": str(torchvision_version()),
        "capabilities": capabilities().as_dict(),
        "settings": settings,
        "install": run_state(),
        "pretrained=True": {},
    }
    cache = checkpoint_dir()
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
        url = entry_url(entry.enum, entry.member) if entry else None
        report["pretrained=True"][model] = {
            "weights": str(entry),
            "url": url,
            "cached": bool(url and _is_file(cache / url.rpartition("/")[2])),
        }
    blocked = _blocked_by_a_file(cache)
    if blocked is not None:
        found.append(
            f"{blocked} is a file, where a folder of the torch hub cache {cache} should be: "
            "downloads fail. Remove it, or point TORCH_HOME (or torch.hub.set_dir()) elsewhere."
        )
    try:
        files = list_cache(cache)
    except OSError as exc:
        files = []
        found.append(f"cannot list the torch hub cache {cache}: {exc.strerror or exc}")
    found += [f"{cache / f.name}: {f.problem}" for f in files if f.problem]
    report["hub_cache"] = {
        "hub_dir": str(cache.parent),
        "checkpoints": str(cache),
        "exists": cache.is_dir(),
        "files": [f.as_dict() for f in files],
        "total_bytes": sum(f.size for f in files),
    }
    report["certificates"] = ca_report()
    online = None
    if args.online:
        invalid_mirror = settings.get("mirror", {}).get("error")
        if args.url is None and invalid_mirror:
            found.append(f"online check skipped: {invalid_mirror}")
        else:
            try:
                online = _tls.check(args.url, cafile=args.cafile, timeout=args.timeout)
            except (FileNotFoundError, ssl.SSLError) as exc:
                raise UsageError(str(exc)) from exc
            report["online"] = online.as_dict()
            if not online.ok:
                problems += 1
    report["problems"] = found
    problems += len(found)
    if args.json:
        emit_json(report)
    else:
        _print_report(report, files, online)
    return PROBLEM if problems else OK


# --------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------


def _print_report(
    report: dict[str, Any], files: list[CacheFile], online: _tls.OnlineReport | None
) -> None:
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
    _print_install(report["install"])
    print("pretrained=True resolves to:")
    for model, r in report["pretrained=True"].items():
        if "error" in r:
            print(f"  {model:<32} ERROR {r['error']}")
        elif "unavailable" in r:
            print(f"  {model:<32} (not in torchvision {report['torchvision']})")
        else:
            state = "cached" if r["cached"] else "not cached"
            print(f"  {model:<32} {r['weights']}  [{state}]")
    _print_hub_cache(report["hub_cache"], files)
    _print_certificates(report["certificates"])
    if online is not None:
        _print_online(online)
    if report["problems"]:
        print("problems:")
        for problem in report["problems"]:
            print(f"  {problem}")


def _print_install(state: dict[str, Any]) -> None:
    print("install layer (tvcompat.install(), tvcompat run):")
    waiting = (
        " (tvcompat run: installs when torchvision is imported)" if state["hook_waiting"] else ""
    )
    print(f"  {'installed in this process':<32} {'yes' if state['installed'] else 'no'}{waiting}")
    if state["tvcompat_run"]:
        run = f"yes ({state['bootstrap']} on PYTHONPATH)"
    elif state["bootstrap_on_pythonpath"]:
        run = f"no (opted out: TVCOMPAT_RUN={state['TVCOMPAT_RUN']})"
    else:
        run = "no"
    print(f"  {'tvcompat run environment':<32} {run}")


def _print_hub_cache(hub: dict[str, Any], files: list[CacheFile]) -> None:
    if not hub["exists"]:
        print(f"torch hub cache: {hub['checkpoints']} (does not exist yet)")
        return
    print(
        f"torch hub cache: {hub['checkpoints']} ({plural(len(files), 'file')}, "
        f"{size(hub['total_bytes'])})"
    )
    for f in files:
        problem = f"  PROBLEM: {f.problem}" if f.problem else ""
        print(f"  {f.name:<48} {size(f.size):>10}  {f.what}{problem}")


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


def _print_online(online: _tls.OnlineReport) -> None:
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
        import certifi  # noqa: PLC0415 - reported as missing, not an import error

        report["certifi"] = {"where": certifi.where(), "version": str(certifi.__version__)}
    except ImportError:  # pragma: no cover - certifi is a dependency
        report["certifi"] = None
    try:
        report["truststore"] = importlib.util.find_spec("truststore") is not None
    except (ImportError, ValueError):  # pragma: no cover
        report["truststore"] = False
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
