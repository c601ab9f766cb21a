"""The ``tvcompat`` command.

Exit codes: 0 ok, 1 a problem was found, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

#: models whose legacy weights the doctor shows
DOCTOR_MODELS = ("resnet50", "mobilenet_v2", "efficientnet_b1", "fasterrcnn_resnet50_fpn",
                 "quantized_resnet50")


def _doctor(args: argparse.Namespace) -> int:
    from tvcompat import __version__, _settings
    from tvcompat._registry import resolve
    from tvcompat._versions import capabilities, torch_version, torchvision_version

    caps = capabilities()
    report: dict[str, Any] = {
        "tvcompat": __version__,
        "python": platform.python_version(),
        "torch": str(torch_version()),
        "torchvision": str(torchvision_version()),
        "capabilities": caps.as_dict(),
        "settings": {s.name: {"value": s.value, "source": s.source}
                     for s in _settings.settings_report()},
        "pretrained=True": {},
    }
    problems = 0
    for model in DOCTOR_MODELS:
        kwargs: dict[str, Any] = {"pretrained": True}
        if model.startswith("quantized_"):
            kwargs["quantize"] = True
        try:
            res = resolve(model, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the doctor reports, never crashes
            report["pretrained=True"][model] = {"error": str(exc)}
            problems += 1
            continue
        report["pretrained=True"][model] = {
            "weights": str(res.weights), "url": res.urls[0] if res.urls else None,
            "cached": bool(res.cached and res.cached[0]),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 1 if problems else 0
    print(f"tvcompat {report['tvcompat']}  python {report['python']}  torch {report['torch']}  "
          f"torchvision {report['torchvision']}")
    print("capabilities:")
    for name, value in report["capabilities"].items():
        print(f"  {name:<32} {'yes' if value else 'no'}")
    print("settings:")
    for name, s in report["settings"].items():
        print(f"  {name:<32} {s['value']!s:<24} ({s['source']})")
    print("pretrained=True resolves to:")
    for model, r in report["pretrained=True"].items():
        if "error" in r:
            print(f"  {model:<32} ERROR {r['error']}")
        else:
            state = "cached" if r["cached"] else "not cached"
            print(f"  {model:<32} {r['weights']}  [{state}]")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tvcompat",
        description="torchvision compatibility: versions, weights and downloads.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = sub.add_parser("doctor", help="installed versions, capabilities, settings and "
                            "what pretrained=True loads (offline)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(func=_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    result: int = args.func(args)
    return result
