"""One training step done right: forward, loss, backward, optimizer step, with no overhead.

[`train_step`][tvcompat.training.train_step] runs one step in one call;
[`TrainStep`][tvcompat.training.TrainStep] is the reusable form for a
loop (it keeps the gradient-accumulation window and the fp16 ``GradScaler`` between batches).
The order of operations is the one PyTorch's AMP recipe and the big trainers converge on::

    model.train()
    optimizer.zero_grad(set_to_none=True)         # first micro-step of a window only
    with autocast(device_type, dtype):            # only when precision= asks for it
        loss = loss_fn(model(inputs), targets)
    scaler.scale(loss / accumulation_steps).backward()   # plain backward() without a scaler
    scaler.unscale_(optimizer); clip_grad_norm_(...)     # last micro-step, when clipping
    scaler.step(optimizer); scaler.update()              # optimizer.step() without a scaler
    lr_scheduler.step()

Forward *and* backward of the non-final micro-steps of a window run under ``model.no_sync()``
(DDP, FSDP) or with ``set_requires_gradient_sync(False)`` (FSDP2), so gradients are all-reduced
once per window. Nothing here forces a host-device synchronisation unless asked
(``raise_on_nonfinite=True``): the returned loss is a detached tensor, call ``.item()`` when you
log. (torch's ``GradScaler.step()`` itself reads its inf/NaN flag on the host under fp16, unless
the optimizer applies the scale itself, e.g. ``Adam(fused=True)``.)
"""

from __future__ import annotations

# The modules: _step (TrainStep, StepResult), _function (train_step), _parts (device moves, loss
# checks, clipping, DDP/FSDP detection), _amp (autocast and the GradScaler per torch). They
# import only tvcompat's base modules (_versions, errors), and torch.
from tvcompat.training._function import train_step
from tvcompat.training._step import StepResult, TrainStep

__all__ = ["StepResult", "TrainStep", "train_step"]


def __dir__() -> list[str]:
    return __all__
