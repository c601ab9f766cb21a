"""``insecure_downloads()`` for tests, with its warning expected (warnings are errors here)."""

from __future__ import annotations

from typing import Any

import pytest

from tvcompat.downloads import insecure_downloads
from tvcompat.errors import TvcompatWarning


def insecure() -> Any:
    """``insecure_downloads()`` with its warning expected (warnings are errors here)."""
    return _Both(pytest.warns(TvcompatWarning, match="NOT verified"), insecure_downloads())


class _Both:
    def __init__(self, outer: Any, inner: Any) -> None:
        self.outer, self.inner = outer, inner

    def __enter__(self) -> None:
        self.outer.__enter__()
        self.inner.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.inner.__exit__(*exc)
        finally:
            self.outer.__exit__(*exc)
