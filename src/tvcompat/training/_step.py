"""`TrainStep`, the reusable training step, and `StepResult`, what each call returns."""

from __future__ import annotations

import warnings
from typing import Any, Callable, NamedTuple, Optional

import torch
from torch import Tensor, nn

from tvcompat._versions import capabilities
from tvcompat.errors import InvalidArgumentError, InvalidValueError, TrainingStateError
from tvcompat.training._amp import Precision, autocast_factory, new_grad_scaler, resolve_dtype
from tvcompat.training._parts import (
    _check_finite,
    _check_optimizer_holds_model,
    _clip_grad_norm_sync_free,
    _detach,
    _is_ddp,
    _is_fsdp1,
    _reduce_loss,
    _sync_off_factory,
    _to_device,
    _unwrap,
)

__all__ = ["LossFn", "StepResult", "TrainStep"]

LossFn = Callable[[Any, Any], Any]


class StepResult(NamedTuple):
    """What one call of a `TrainStep` (or `train_step()`) returns.

    Every tensor is detached and stays on its device: reading a value (``.item()``,
    ``float()``, ``bool()``) is the one host-device synchronisation, and it is yours to make,
    e.g. only on logging steps.
    """

    #: The micro-batch's loss as ``loss_fn`` returned it (a loss dict summed), detached, *not*
    #: divided by the accumulation steps.
    loss: Tensor
    #: Whether the optimizer was stepped (the last micro-step of a window, or a flush). A plain
    #: bool, known without a synchronisation.
    stepped: bool
    #: The total gradient norm before clipping (a tensor), when ``max_grad_norm`` is set and
    #: the optimizer stepped; else ``None``.
    grad_norm: Optional[Tensor] = None  # noqa: UP045 - get_type_hints() on 3.9
    #: Under an fp16 ``GradScaler``, when the optimizer stepped: a bool tensor, true when the
    #: scaler found inf/NaN gradients and skipped the step (its scale decreased); else ``None``.
    skipped: Optional[Tensor] = None  # noqa: UP045
    #: The model's output, detached (for metrics). With ``loss_fn=None`` this is what the
    #: model returned, e.g. a detection model's loss dict.
    output: Any = None


_SCHEDULER_ORDER_WARNING = r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`"


class TrainStep:
    """A reusable training step: call it once per batch, ``result = step(inputs, targets)``.

    Args:
        model: any ``nn.Module``, also ``torch.compile``d, DDP- or FSDP-wrapped. It is called
            as ``model(inputs)``, or as ``model(inputs, targets)`` when ``loss_fn`` is ``None``.
        optimizer: a ``torch.optim.Optimizer`` holding (some of) the model's parameters.
        loss_fn: ``loss_fn(prediction, targets)`` returning a scalar tensor or a dict of
            scalar tensors (summed), e.g. ``nn.CrossEntropyLoss()`` or
            ``lambda p, y: (p - y).sum()``. ``None`` when the model computes its own loss
            (torchvision detection models in train mode return a loss dict).
        device: move ``inputs`` and ``targets`` (tensors, or lists/tuples/dicts of them) there
            before the forward pass. The model is not moved: do that once yourself.
        non_blocking: passed to ``Tensor.to`` for that move (useful from pinned memory to CUDA).
        precision: ``"bf16"`` or ``"fp16"`` autocast, or ``None``/``"fp32"`` for full
            precision. On the device of ``device=`` or else of the model's parameters.
            ``"fp16"`` on CUDA uses a ``GradScaler``; ``"fp16"`` on the CPU needs torch >= 2.2.
        scaler: your own ``GradScaler`` for ``precision="fp16"`` (e.g. to checkpoint its
            state); by default one is made for fp16 on CUDA.
        accumulation_steps: micro-steps per optimizer step; each micro-step's loss is divided
            by it before ``backward()``.
        max_grad_norm: clip the gradients' total norm to this (after unscaling under fp16).
        grad_norm_type: the norm for clipping (2.0; ``float("inf")`` for the max norm).
        lr_scheduler: stepped right after each optimizer step (under fp16 also after a step
            the scaler skipped, as in PyTorch's AMP recipe: knowing would need a sync).
        raise_on_nonfinite: raise ``ValueError`` before ``backward()`` when the loss is
            NaN/inf. This reads the loss on the host: one synchronisation per step.
        train_mode: make sure the model is in training mode at each step (default): if any
            of its modules is in eval mode, ``model.train()`` is called (the same as calling
            it every step, without its cost when nothing changed; the modules are listed
            once, here). ``False`` leaves the modules' modes to you, e.g. BatchNorm layers
            you froze with ``.eval()``.

    Attributes:
        scaler: the ``GradScaler`` in use, or ``None``.
        pending: micro-steps accumulated since the last optimizer step.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn | None,
        *,
        device: torch.device | str | None = None,
        non_blocking: bool = False,
        precision: Precision = None,
        scaler: torch.amp.GradScaler | None = None,
        accumulation_steps: int = 1,
        max_grad_norm: float | None = None,
        grad_norm_type: float = 2.0,
        lr_scheduler: Any = None,
        raise_on_nonfinite: bool = False,
        train_mode: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(
                f"model must be a torch.nn.Module, not {type(model).__name__}: the step calls "
                "model.train() and reads model.parameters()."
            )
        if not (
            callable(getattr(optimizer, "step", None))
            and callable(getattr(optimizer, "zero_grad", None))
            and isinstance(getattr(optimizer, "param_groups", None), list)
        ):
            raise InvalidArgumentError(
                f"optimizer must be a torch.optim.Optimizer, not {type(optimizer).__name__}: "
                "build one from the model, e.g. torch.optim.SGD(model.parameters(), lr=1e-2)."
            )
        if loss_fn is not None and not callable(loss_fn):
            raise InvalidArgumentError(
                f"loss_fn must be callable as loss_fn(prediction, target), or None when the "
                f"model returns its own loss; got {type(loss_fn).__name__}."
            )
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int):
            raise InvalidArgumentError(
                f"accumulation_steps must be an int >= 1, not {accumulation_steps!r}."
            )
        if accumulation_steps < 1:
            raise InvalidValueError(
                f"accumulation_steps must be >= 1 (1 = step every batch), not {accumulation_steps}."
            )
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise InvalidValueError(
                f"max_grad_norm must be a positive number (or None for no clipping), not "
                f"{max_grad_norm!r}."
            )
        if lr_scheduler is not None:
            if not callable(getattr(lr_scheduler, "step", None)):
                raise InvalidArgumentError(
                    f"lr_scheduler must have a step() method, not {type(lr_scheduler).__name__}."
                )
            sched_opt = getattr(lr_scheduler, "optimizer", optimizer)
            if sched_opt is not optimizer:
                raise InvalidValueError(
                    "lr_scheduler was built for a different optimizer than the one given: "
                    "build it from this optimizer, e.g. StepLR(optimizer, step_size=...)."
                )
        _check_optimizer_holds_model(model, optimizer)

        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.accumulation_steps = accumulation_steps
        self.max_grad_norm = max_grad_norm
        self.grad_norm_type = float(grad_norm_type)
        self.lr_scheduler = lr_scheduler
        self.raise_on_nonfinite = bool(raise_on_nonfinite)
        self.train_mode = bool(train_mode)
        self.non_blocking = bool(non_blocking)
        self.device = torch.device(device) if device is not None else None
        self.pending = 0
        # Checking the modules' flags costs ~3 us on resnet18; model.train() costs ~200 us.
        self._all_modules = list(model.modules())

        if self.device is not None:
            device_type = self.device.type
        else:
            first = next(iter(model.parameters()), None)
            device_type = first.device.type if first is not None else "cpu"
        dtype = resolve_dtype(precision)
        self._autocast = autocast_factory(device_type, dtype)
        if scaler is not None:
            if dtype != torch.float16:
                raise InvalidValueError(
                    "scaler= is only used with precision='fp16' (bf16 and full precision need "
                    "no gradient scaling): drop scaler= or set precision='fp16'."
                )
            self.scaler: torch.amp.GradScaler | None = scaler
        elif dtype == torch.float16 and device_type == "cuda":
            self.scaler = new_grad_scaler()
        else:
            self.scaler = None
        self._clip_fn: Callable[[list[Tensor], float, float], Tensor] = (
            torch.nn.utils.clip_grad_norm_
            if capabilities().clip_grad_norm_sync_free
            else _clip_grad_norm_sync_free
        )
        self._sync_off = _sync_off_factory(model)
        self._ddp = _is_ddp(model)
        self._fsdp1 = _is_fsdp1(model)
        self._last_loss: Tensor | None = None

    # --- the hot path -----------------------------------------------------------------------
    def __call__(self, inputs: Any, targets: Any = None, *, flush: bool = False) -> StepResult:
        """Run one micro-step on a batch; step the optimizer at the end of a window.

        ``flush=True`` makes this micro-step the window's last whatever the count (e.g. the
        epoch's last batch): gradients are synchronised and the optimizer steps now, scaled as
        a full window (see `flush()`).
        """
        model = self.model
        if self.train_mode:
            for module in self._all_modules:
                if not module.training:
                    model.train()
                    break
        if self.device is not None:
            inputs = _to_device(inputs, self.device, self.non_blocking)
            targets = _to_device(targets, self.device, self.non_blocking)
        done = self.pending
        if done == 0:
            self.optimizer.zero_grad(set_to_none=True)
        last = flush or done + 1 == self.accumulation_steps
        sync_off = self._sync_off
        if last or sync_off is None:
            loss, output = self._forward_backward(inputs, targets)
        else:
            with sync_off():
                loss, output = self._forward_backward(inputs, targets)
        if not last:
            self.pending = done + 1
            self._last_loss = loss
            return StepResult(loss, False, None, None, output)
        self.pending = 0
        self._last_loss = None
        grad_norm, skipped = self._optimizer_step(done + 1, 1.0)
        return StepResult(loss, True, grad_norm, skipped, output)

    def _forward_backward(self, inputs: Any, targets: Any) -> tuple[Tensor, Any]:
        model = self.model
        loss_fn = self.loss_fn
        autocast = self._autocast
        if autocast is None:
            if loss_fn is None:
                output = model(inputs) if targets is None else model(inputs, targets)
                raw = output
            else:
                output = model(inputs)
                raw = loss_fn(output, targets)
        else:
            with autocast():
                if loss_fn is None:
                    output = model(inputs) if targets is None else model(inputs, targets)
                    raw = output
                else:
                    output = model(inputs)
                    raw = loss_fn(output, targets)
        if type(raw) is Tensor and raw.dim() == 0 and raw.requires_grad:
            loss = raw  # the common case, checked without a function call
        else:
            loss = _reduce_loss(raw, "the model" if loss_fn is None else "loss_fn")
        if self.raise_on_nonfinite:
            _check_finite(loss)
        n = self.accumulation_steps
        scaled = loss if n == 1 else loss / n
        scaler = self.scaler
        if scaler is None:
            scaled.backward()  # type: ignore[no-untyped-call]
        else:
            scaler.scale(scaled).backward()  # type: ignore[no-untyped-call]
        detached = output.detach() if isinstance(output, Tensor) else _detach(output)
        return loss.detach(), detached

    def _optimizer_step(
        self, micro_steps: int, grad_factor: float
    ) -> tuple[Tensor | None, Tensor | None]:
        optimizer = self.optimizer
        scaler = self.scaler
        if micro_steps != self.accumulation_steps:
            grad_factor *= self.accumulation_steps / micro_steps
        if grad_factor != 1.0:
            with torch.no_grad():
                for group in optimizer.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.mul_(grad_factor)
        grad_norm = None
        if self.max_grad_norm is not None:
            if scaler is not None:
                scaler.unscale_(optimizer)
            grad_norm = self._clip()
        skipped = None
        if scaler is None:
            optimizer.step()
        else:
            before = getattr(scaler, "_scale", None)
            before = before.clone() if isinstance(before, Tensor) else None
            scaler.step(optimizer)
            scaler.update()
            after = getattr(scaler, "_scale", None)
            if before is not None and isinstance(after, Tensor):
                skipped = (after < before).reshape(())
        if self.lr_scheduler is not None:
            if scaler is None:
                self.lr_scheduler.step()
            else:
                # A skipped fp16 step means optimizer.step() was not called; torch then warns
                # that the scheduler runs "before optimizer.step()". That is the AMP recipe's
                # documented behaviour, not a mistake in the order.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", _SCHEDULER_ORDER_WARNING, UserWarning)
                    self.lr_scheduler.step()
        return grad_norm, skipped

    def _clip(self) -> Tensor:
        if self._fsdp1:
            norm: Tensor = _unwrap(self.model).clip_grad_norm_(  # type: ignore[operator]
                self.max_grad_norm, self.grad_norm_type
            )
            return norm
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        assert self.max_grad_norm is not None
        return self._clip_fn(params, self.max_grad_norm, self.grad_norm_type)

    # --- the end of an epoch ----------------------------------------------------------------
    def flush(self) -> StepResult | None:
        """Step the optimizer on a partial window (the epoch's last few micro-batches).

        Returns ``None`` when no micro-step is pending. Otherwise the accumulated gradients
        (each micro-step's loss was divided by ``accumulation_steps``) are multiplied by
        ``accumulation_steps / pending`` first, so the step equals one on the *mean* loss of
        the pending micro-batches: the same as a data loader's short last batch. The result's
        ``loss`` is the last micro-step's.

        Under DDP the pending micro-steps ran under ``no_sync()``, so their gradients are
        all-reduced (averaged) here, once. FSDP cannot do that after the fact: pass
        ``flush=True`` to the window's last call instead (``step(x, y, flush=True)``).
        """
        done = self.pending
        if done == 0:
            return None
        factor = 1.0
        if self._sync_off is not None:
            if not self._ddp:
                raise TrainingStateError(
                    f"flush() can all-reduce gradients accumulated under no_sync() only for "
                    f"DistributedDataParallel, not {type(_unwrap(self.model)).__name__} (FSDP "
                    "cannot synchronise after the fact): pass flush=True to the last step() "
                    "call of the epoch instead, e.g. step(inputs, targets, flush=is_last_batch)."
                )
            factor = 1.0 / self._allreduce_grads()
        loss = self._last_loss
        assert loss is not None
        self.pending = 0
        self._last_loss = None
        grad_norm, skipped = self._optimizer_step(done, factor)
        return StepResult(loss, True, grad_norm, skipped, None)

    def _allreduce_grads(self) -> int:
        """Sum the DDP model's gradients over its process group; return the world size."""
        import torch.distributed as dist  # noqa: PLC0415 - only flush() under DDP needs it

        ddp = _unwrap(self.model)
        group = getattr(ddp, "process_group", None)
        with torch.no_grad():
            for p in ddp.parameters():
                if not p.requires_grad:
                    continue
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad, group=group)
        return int(dist.get_world_size(group))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={type(self.model).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, "
            f"accumulation_steps={self.accumulation_steps}, pending={self.pending}, "
            f"scaler={'yes' if self.scaler is not None else 'no'})"
        )
