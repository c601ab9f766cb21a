"""Small real files for the tests."""

from __future__ import annotations

import collections
from pathlib import Path


def write_state_dict(path: Path) -> Path:
    """A tiny but real weights file (a state dict saved by torch) at ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(collections.OrderedDict(weight=torch.ones(2, 2), bias=torch.zeros(2)), path)
    return path
