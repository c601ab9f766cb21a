"""What ``tvcompat migrate`` found in a file (:class:`Finding`) and did to it
(:class:`FileResult`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileResult", "Finding"]


@dataclass(frozen=True)
class Finding:
    """One legacy call (or import) found in a file."""

    line: int
    column: int
    rewritten: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "rewritten": self.rewritten,
            "message": self.message,
        }


@dataclass
class FileResult:
    """What ``migrate`` did (or would do) to one file."""

    path: Path
    before: str = ""
    after: str = ""
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.error is None and self.before != self.after

    def diff(self) -> str:
        name = self.path.as_posix()
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "changed": self.changed,
            "written": self.written,
            "error": self.error,
            "findings": [f.as_dict() for f in self.findings],
        }
