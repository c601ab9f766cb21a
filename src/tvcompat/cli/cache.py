"""``tvcompat cache list|verify``: the weights files in the torch hub cache."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvcompat import _catalog
from tvcompat._net.fetch import checkpoint_dir
from tvcompat.cli._output import OK, PROBLEM, USAGE, Table, add_json_flag, emit_json, plural, size
from tvcompat.downloads import verify_cache

__all__ = [
    "DESCRIPTION",
    "HELP",
    "NAME",
    "NEEDS_VALID_SETTINGS",
    "CacheFile",
    "add_arguments",
    "list_cache",
    "run",
]

NAME = "cache"
HELP = "list or verify the torch hub cache"
DESCRIPTION = "The weights files in the torch hub cache (<hub dir>/checkpoints)."
NEEDS_VALID_SETTINGS = False


@dataclass(frozen=True)
class CacheFile:
    """A file in the checkpoints folder, as seen without reading it."""

    name: str
    size: int
    weights: str | None  # "ResNet50_Weights.IMAGENET1K_V1", or None for other torch.hub files
    partial: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "weights": self.weights,
            "partial": self.partial,
        }

    @property
    def what(self) -> str:
        """The weights entry, else what the file is."""
        return self.weights or ("partial download" if self.partial else "not a torchvision file")


def list_cache(folder: Path | None = None) -> list[CacheFile]:
    """The files of the checkpoints folder (lock folder aside), sorted by name; read from the
    file system and the catalog only (no torch)."""
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="cache_command", metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="list the cached files (without reading them)",
        description="List the files of the torch hub cache and the weights entry each belongs to.",
    )
    verify = actions.add_parser(
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
    for action in (listing, verify):
        action.add_argument(
            "--dir",
            metavar="FOLDER",
            default=None,
            help="check this folder instead (e.g. a mirror folder)",
        )
        add_json_flag(action)
    parser.set_defaults(cache_parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.cache_command is None:
        args.cache_parser.print_help(sys.stderr)
        return USAGE
    folder = Path(args.dir) if args.dir else checkpoint_dir()
    return _list(args, folder) if args.cache_command == "list" else _verify(args, folder)


def _list(args: argparse.Namespace, folder: Path) -> int:
    files = list_cache(folder)
    if args.json:
        emit_json({"folder": str(folder), "files": [f.as_dict() for f in files]})
        return OK
    print(f"{folder}: {plural(len(files), 'file')}")
    if files:
        Table(
            ["FILE", "SIZE", "WEIGHTS"],
            [[f.name, size(f.size), f.what] for f in files],
            right=frozenset({1}),
        ).show()
    return OK


def _verify(args: argparse.Namespace, folder: Path) -> int:
    found = verify_cache(folder, remove_corrupt=args.remove_corrupt)
    corrupt = [f for f in found if f.status == "corrupt"]
    if args.json:
        emit_json(
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
    print(f"{folder}: {plural(len(found), 'file')}")
    if found:
        Table(
            ["STATUS", "FILE", "SIZE", "WEIGHTS", "DETAIL"],
            [
                [
                    f.status.upper() + (" (removed)" if f.removed else ""),
                    f.path.name,
                    size(f.size),
                    f.weights or "",
                    f.detail,
                ]
                for f in found
            ],
            right=frozenset({2}),
        ).show()
    if corrupt:
        removed = sum(f.removed for f in corrupt)
        hint = (
            "removed; they are downloaded again on next use"
            if removed == len(corrupt)
            else "run `tvcompat cache verify --remove-corrupt` to delete them"
        )
        print(f"{plural(len(corrupt), 'corrupt file')}: {hint}")
        return PROBLEM
    print("no corrupt files")
    return OK
