"""``tvcompat migrate PATH...``: rewrite legacy torchvision calls (needs libcst)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tvcompat.cli._output import OK, PROBLEM, UsageError, add_json_flag, emit_json, plural
from tvcompat.errors import TorchvisionTooOldError

__all__ = [
    "DESCRIPTION",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "add_arguments",
    "run",
]

NAME = "migrate"
HELP = "rewrite legacy torchvision calls (pretrained=...) in source files"
DESCRIPTION = (
    "Find legacy torchvision builder calls (pretrained=, pretrained_backbone=, positional "
    "flags) in Python files and rewrite them to explicit weights: with tvcompat's builders and "
    "enums (--target shim, works on every torchvision) or to torchvision's own weights= enums "
    "(--target native, needs the installed torchvision >= 0.13). Needs libcst: pip install "
    "'tvcompat[migrate]'. Exit code 1 with --check when files would change."
)
NEEDS_VALID_SETTINGS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", metavar="PATH", nargs="+", help="Python files or folders (searched for *.py)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="list what would change; exit 1 if anything would"
    )
    mode.add_argument(
        "--diff", action="store_true", help="print a unified diff of the changes (the default)"
    )
    mode.add_argument("--write", action="store_true", help="rewrite the files in place")
    parser.add_argument(
        "--target",
        choices=("shim", "native"),
        default="shim",
        help="shim: tvcompat builders and enums (default); native: torchvision's weights= enums",
    )
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    try:
        from tvcompat import _migrate  # noqa: PLC0415 - libcst is optional: only for migrate
    except ImportError as exc:
        if (exc.name or "").split(".")[0] != "libcst":
            raise
        raise UsageError(
            "migrate needs the optional package libcst: pip install 'tvcompat[migrate]'"
        ) from exc
    try:
        _migrate.check_target(args.target)
        files = _migrate.python_files([Path(p) for p in args.paths])
    except (TorchvisionTooOldError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    from tvcompat._migrate.files import migrate_files  # noqa: PLC0415 - needs libcst, as above

    mode = "write" if args.write else "check" if args.check else "diff"
    # every file is checked before any is written: one that cannot be migrated is reported
    # and left alone, and never stops the job half-way
    results = migrate_files(files, target=args.target, write=mode == "write")
    changed = [r for r in results if r.changed]
    errors = [r for r in results if r.error]
    if args.json:
        emit_json(
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
                continue  # left alone: its findings were not applied
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
        done = [r for r in results if not r.error]
        calls = sum(f.rewritten for r in done for f in r.findings)
        skipped = sum(not f.rewritten for r in done for f in r.findings)
        verb = {"write": "rewrote", "check": "would rewrite", "diff": "would rewrite"}[mode]
        failed = f"; {plural(len(errors), 'file')} left alone (errors above)" if errors else ""
        print(
            f"{verb} {plural(calls, 'call')} in {plural(len(changed), 'file')} (target "
            f"{args.target}); {skipped} not rewritten; {plural(len(results), 'file')} "
            f"checked{failed}",
            file=sys.stderr,
        )
    if errors or (mode == "check" and changed):
        return PROBLEM
    return OK
