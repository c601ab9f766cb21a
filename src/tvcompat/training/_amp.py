"""Mixed precision for the training step: the right autocast and GradScaler per torch.

``torch.autocast(device_type, dtype=...)`` exists from torch 1.10; torch 1.9 only has
``torch.cuda.amp.autocast`` (float16 on CUDA, no CPU autocast at all). From torch 2.4 the
``torch.cuda.amp``/``torch.cpu.amp`` spellings warn (``FutureWarning``), so they are used only
where nothing else exists. ``torch.amp.GradScaler("cuda")`` exists from torch 2.3;
``torch.cuda.amp.GradScaler`` is the spelling before (it warns from 2.4). Which torch can do
what is asked of :mod:`tvcompat._versions`; this module never compares version numbers.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable, Union

import torch

from tvcompat._versions import capabilities
from tvcompat.errors import InvalidValueError

if TYPE_CHECKING:
    from typing_extensions import TypeAlias

__all__ = ["Precision", "autocast_factory", "new_grad_scaler", "resolve_dtype"]

#: What ``precision=`` accepts: ``"bf16"``, ``"fp16"``, ``"fp32"``/``None`` (off), or a dtype.
Precision: TypeAlias = Union[str, torch.dtype, None]

_NAMES: dict[str, torch.dtype | None] = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "fp32": None,
    "float32": None,
    "32": None,
    "off": None,
}


def resolve_dtype(precision: Precision) -> torch.dtype | None:
    """The autocast dtype ``precision`` names, or ``None`` for full precision."""
    if precision is None:
        return None
    if isinstance(precision, torch.dtype):
        if precision in (torch.bfloat16, torch.float16):
            return precision
        if precision == torch.float32:
            return None
        raise InvalidValueError(
            f"precision={precision!r} is not supported: use 'bf16', 'fp16' or None (full "
            "precision)."
        )
    if isinstance(precision, str) and precision.lower() in _NAMES:
        return _NAMES[precision.lower()]
    raise InvalidValueError(
        f"precision={precision!r} is not supported: use 'bf16', 'fp16' or None (full precision)."
    )


def _name(dtype: torch.dtype) -> str:
    return "bf16" if dtype == torch.bfloat16 else "fp16"


def autocast_factory(
    device_type: str, dtype: torch.dtype | None
) -> Callable[[], AbstractContextManager[Any]] | None:
    """A zero-argument callable returning a fresh autocast context, or ``None`` when off.

    Raises ``ValueError`` naming the fix when the installed torch cannot autocast ``dtype`` on
    ``device_type``.
    """
    if dtype is None:
        return None
    caps = capabilities()
    if device_type == "cuda" and not torch.cuda.is_available():
        raise InvalidValueError(
            f"precision={_name(dtype)!r} on 'cuda' was asked for, but CUDA is not available: "
            "move the model to a CUDA device, or train on the CPU with precision='bf16'."
        )
    if device_type == "cpu" and dtype == torch.float16 and not caps.cpu_autocast_fp16:
        alternative = "precision='bf16'" if caps.torch_autocast else "precision=None"
        raise InvalidValueError(
            f"precision='fp16' on the CPU needs torch >= 2.2; the installed torch is "
            f"{caps.torch}. Use {alternative} on the CPU (or upgrade torch)."
        )
    if not caps.torch_autocast:
        # torch 1.9: only torch.cuda.amp.autocast, float16 only, no CPU autocast.
        if device_type == "cuda" and dtype == torch.float16:
            return functools.partial(torch.cuda.amp.autocast, enabled=True)
        raise InvalidValueError(
            f"precision={_name(dtype)!r} on {device_type!r} needs torch >= 1.10 "
            f"(torch.autocast); the installed torch is {caps.torch}. Upgrade torch, or use "
            "precision='fp16' on CUDA, or precision=None."
        )
    return functools.partial(torch.autocast, device_type, dtype=dtype)


def new_grad_scaler() -> torch.amp.GradScaler:
    """A fresh CUDA ``GradScaler`` through the spelling the installed torch wants."""
    if capabilities().amp_grad_scaler:
        return torch.amp.GradScaler("cuda")
    scaler: torch.amp.GradScaler = torch.cuda.amp.GradScaler()
    return scaler
