"""``tvcompat cache list|verify``: the weights files in the torch hub cache."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tvcompat import _catalog
from tvcompat._net.hashes import KNOWN_WRONG_NAMES
from tvcompat._net.paths import CORRUPT_SUFFIX, LOCK_DIR, checkpoint_dir
from tvcompat.cli._output import (
    OK,
    PROBLEM,
    USAGE,
    Table,
    UsageError,
    add_json_flag,
    emit_json,
    plural,
    size,
)
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
    #: what is wrong with it, seen without reading it: a folder or a broken link under a
    #: weights file's name, a file this user cannot read, an empty weights file
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "weights": self.weights,
            "partial": self.partial,
            "problem": self.problem,
        }

    @property
    def what(self) -> str:
        """The weights entry, else what the file is."""
        if self.weights:
            return self.weights
        if self.partial:
            return "partial download"
        if self.name.endswith(CORRUPT_SUFFIX):
            return "a damaged copy set aside (`tvcompat cache verify --remove-corrupt`)"
        return "not a torchvision file"


def _problem(path: Path, info: os.stat_result | None) -> str | None:
    """What is visibly wrong with a weights file (nothing is read)."""
    if info is None:
        return "a broken symbolic link: nothing can load it"
    if stat.S_ISDIR(info.st_mode):
        return "a folder, not a file: nothing can load it; remove it by hand"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file: nothing can load it"
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}; fix its permissions or remove it"
    if info.st_size == 0:
        return "empty (0 bytes): an interrupted copy; it is downloaded again on next use"
    return None


def list_cache(folder: Path | None = None) -> list[CacheFile]:
    """The files of the checkpoints folder (lock folder aside), sorted by name, and any
    folder or unreadable entry under a weights file's name; read from the file system and
    the catalog only (no torch, no file content)."""
    folder = checkpoint_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    index = _catalog.filename_index()
    out: list[CacheFile] = []
    for path in sorted(folder.iterdir()):
        if path.name == LOCK_DIR:
            continue
        found = index.get(path.name)
        weights_name = found is not None or path.name in KNOWN_WRONG_NAMES
        try:
            info: os.stat_result | None = path.stat()
        except OSError:
            info = None
        regular = info is not None and stat.S_ISREG(info.st_mode)
        if not regular and not weights_name:
            continue
        out.append(
            CacheFile(
                path.name,
                info.st_size if info is not None and regular else 0,
                f"{found[0]}.{found[1]}" if found else None,
                path.name.endswith(".partial"),
                _problem(path, info) if weights_name else None,
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
        help="delete corrupt files (downloaded again on next use) and stale partial downloads",
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
    if args.dir is not None:
        folder = Path(args.dir)
        if not folder.exists():
            raise UsageError(f"--dir {args.dir}: no such folder")
        if not folder.is_dir():
            raise UsageError(f"--dir {args.dir}: not a folder (give the folder that holds it)")
    else:
        folder = checkpoint_dir()
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
            [
                [f.name, size(f.size), f.what + (f" -- {f.problem}" if f.problem else "")]
                for f in files
            ],
            right=frozenset({1}),
        ).show()
    return OK


def _verify(args: argparse.Namespace, folder: Path) -> int:
    remove = args.remove_corrupt
    found = verify_cache(folder, remove_corrupt=remove, remove_stale=remove)
    corrupt = [f for f in found if f.status == "corrupt"]
    unreadable = [f for f in found if f.status == "unreadable"]
    stale = [f for f in found if f.stale]
    problems = bool(corrupt or unreadable)
    if args.json:
        emit_json(
            {
                "folder": str(folder),
                "ok": not problems,
                "files": [
                    {
                        "name": f.path.name,
                        "path": str(f.path),
                        "size": f.size,
                        "weights": f.weights,
                        "status": f.status,
                        "detail": f.detail,
                        "removed": f.removed,
                        "stale": f.stale,
                    }
                    for f in found
                ],
            }
        )
        return PROBLEM if problems else OK
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
        if removed == len(corrupt):
            hint = "removed; they are downloaded again on next use"
        elif remove:
            hint = (
                f"{removed} removed, {len(corrupt) - removed} could not be (see DETAIL): make "
                f"{folder} writable, or remove them by hand"
            )
        else:
            hint = "run `tvcompat cache verify --remove-corrupt` to delete them"
        print(f"{plural(len(corrupt), 'corrupt file')}: {hint}")
    if unreadable:
        entries = (
            "1 unreadable entry"
            if len(unreadable) == 1
            else f"{len(unreadable)} unreadable entries"
        )
        print(
            f"{entries}: nothing can load them; fix their permissions or remove them by hand "
            "(see DETAIL)"
        )
    if stale:
        removed = sum(f.removed for f in stale)
        if removed == len(stale):
            hint = "removed"
        elif remove:
            hint = f"{removed} removed, the others could not be (see DETAIL)"
        else:
            hint = "`tvcompat cache verify --remove-corrupt` deletes them"
        print(f"{plural(len(stale), 'stale partial download')}: {hint}")
    if problems:
        return PROBLEM
    print("no corrupt files")
    return OK
