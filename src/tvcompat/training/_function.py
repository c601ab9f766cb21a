"""`train_step`: one training step in one call (the fp16 ``GradScaler`` kept per optimizer)."""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn

from tvcompat.training._amp import Precision
from tvcompat.training._step import LossFn, StepResult, TrainStep

__all__ = ["train_step"]

#: train_step()'s fp16 GradScalers, one per optimizer, so the scale survives between calls.
_SCALERS: weakref.WeakKeyDictionary[torch.optim.Optimizer, torch.amp.GradScaler] = (
    weakref.WeakKeyDictionary()
)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn | None,
    inputs: Any,
    targets: Any = None,
    *,
    device: torch.device | str | None = None,
    non_blocking: bool = False,
    precision: Precision = None,
    scaler: torch.amp.GradScaler | None = None,
    max_grad_norm: float | None = None,
    grad_norm_type: float = 2.0,
    lr_scheduler: Any = None,
    raise_on_nonfinite: bool = False,
    train_mode: bool = True,
) -> StepResult:
    """One full training step: ``model.train()``, zero_grad, forward, loss, backward, step.

    The options are `TrainStep`'s (without accumulation, which needs state between
    batches: use `TrainStep` for that). With ``precision="fp16"`` on CUDA, the
    ``GradScaler`` is kept per optimizer between calls unless you pass ``scaler=``.

    Example (the classic first example, one step)::

        model = torchvision.models.resnet18(weights=None)
        data, labels = torch.rand(1, 3, 64, 64), torch.rand(1, 1000)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
        result = train_step(model, optimizer, lambda p, y: (p - y).sum(), data, labels)
        print(result.loss.item())   # the one host sync, when you want the number
    """
    step = TrainStep(
        model,
        optimizer,
        loss_fn,
        device=device,
        non_blocking=non_blocking,
        precision=precision,
        scaler=scaler,
        max_grad_norm=max_grad_norm,
        grad_norm_type=grad_norm_type,
        lr_scheduler=lr_scheduler,
        raise_on_nonfinite=raise_on_nonfinite,
        train_mode=train_mode,
    )
    if step.scaler is not None and scaler is None:
        step.scaler = _SCALERS.setdefault(optimizer, step.scaler)
    return step(inputs, targets)
