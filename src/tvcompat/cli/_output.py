"""What every ``tvcompat`` command shares: exit codes, the usage error, JSON and tables."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from tvcompat.errors import TvcompatError

__all__ = [
    "OK",
    "PROBLEM",
    "USAGE",
    "Table",
    "UsageError",
    "add_json_flag",
    "emit_json",
    "plural",
    "size",
]

#: exit codes: 0 ok; 1 a problem was found; 2 the command could not run as asked
OK, PROBLEM, USAGE = 0, 1, 2


class UsageError(TvcompatError):
    """The command cannot run as asked (exit code 2)."""


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def size(num_bytes: float) -> str:
    """Binary units, labelled as torchvision labels its file sizes (``97.8 MB``)."""
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    raise AssertionError  # pragma: no cover


def plural(count: int, noun: str) -> str:
    """``"1 file"``, ``"3 files"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


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

    def show(self) -> None:
        """Print the table."""
        for line in self.lines():
            print(line)
