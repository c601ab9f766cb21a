"""The pieces of a training step: moving batches to the device, detaching outputs, checking
and reducing the loss, clipping gradients without a host sync, and finding DDP/FSDP (and their
``no_sync()``) under ``torch.compile``'s wrapper."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import torch
from torch import Tensor, nn

from tvcompat.errors import InvalidArgumentError, InvalidValueError


def _to_device(data: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(data, Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, Mapping):
        moved = {k: _to_device(v, device, non_blocking) for k, v in data.items()}
        if type(data) is dict:
            return moved
        try:
            return type(data)(moved)  # type: ignore[call-arg]
        except TypeError:  # a Mapping type that cannot be built from a dict
            return moved
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(_to_device(v, device, non_blocking) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_to_device(v, device, non_blocking) for v in data)
    return data


def _detach(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data.detach()
    if isinstance(data, Mapping):
        return {k: _detach(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)) and not hasattr(data, "_fields"):
        return type(data)(_detach(v) for v in data)
    return data


def _reduce_loss(loss: Any, where: str) -> Tensor:
    """``loss`` as a scalar tensor that requires grad, or a clear error."""
    if not isinstance(loss, Tensor):
        # An output object carrying its loss (a Hugging Face ModelOutput, itself a Mapping of
        # loss *and* logits) before a loss dict (torchvision detection models), which is summed.
        inner = getattr(loss, "loss", None)
        if isinstance(inner, Tensor):
            return _reduce_loss(inner, where)
        if isinstance(loss, Mapping):
            if not loss:
                raise InvalidValueError(
                    f"{where} returned an empty loss dict: nothing to minimise."
                )
            values = list(loss.values())
            total = _reduce_loss(values[0], where)
            for value in values[1:]:
                total = total + _reduce_loss(value, where)
            return total
        raise InvalidArgumentError(
            f"{where} returned {type(loss).__name__}, not a tensor: the loss must be a scalar "
            "torch.Tensor (or a dict of them, which is summed)."
        )
    if loss.dim() != 0:
        if loss.numel() != 1:
            raise InvalidValueError(
                f"{where} returned a loss of shape {tuple(loss.shape)}, not a scalar: reduce it, "
                "e.g. nn.CrossEntropyLoss(reduction='mean') instead of reduction='none', or "
                "return loss.mean() / loss.sum()."
            )
        loss = loss.reshape(())
    if not loss.requires_grad:
        raise InvalidValueError(
            f"{where} returned a loss that does not require grad: nothing to backpropagate. "
            "Check that the model has trainable parameters (requires_grad=True), that the loss "
            "is computed from the model's output, and that no torch.no_grad() is active."
        )
    result: Tensor = loss
    return result


def _check_finite(loss: Tensor) -> None:
    # This reads the loss on the host: a synchronisation, which is why it is opt-in.
    if not bool(torch.isfinite(loss)):
        value = float(loss.detach())
        raise InvalidValueError(
            f"the loss is not finite ({value}): lower the learning rate, clip gradients "
            "(max_grad_norm=), check the inputs for NaN/inf, or use precision='bf16' instead of "
            "'fp16'. The optimizer was not stepped and no gradient was accumulated for this "
            "micro-batch."
        )


def _clip_grad_norm_sync_free(params: list[Tensor], max_norm: float, norm_type: float) -> Tensor:
    """``clip_grad_norm_`` as torch >= 1.10 does it: no host sync, no non-finite warning.

    torch 1.9's version reads the norm on the host twice (``isnan()``/``isinf()``, then
    ``if clip_coef < 1``) and warns on a non-finite norm; the arithmetic here is identical.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    with torch.no_grad():
        if norm_type == float("inf"):
            norms = [g.detach().abs().max().to(device) for g in grads]
            total = norms[0] if len(norms) == 1 else torch.max(torch.stack(norms))
        else:
            total = torch.norm(
                torch.stack([torch.norm(g.detach(), norm_type).to(device) for g in grads]),
                norm_type,
            )
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.detach().mul_(coef.to(g.device))
    return total


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under ``torch.compile``'s wrapper (``OptimizedModule._orig_mod``)."""
    inner = getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else model


def _is_ddp(model: nn.Module) -> bool:
    return isinstance(_unwrap(model), nn.parallel.DistributedDataParallel)


def _is_fsdp1(model: nn.Module) -> bool:
    if not torch.distributed.is_available():
        return False
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel  # noqa: PLC0415 - absent before torch 1.11
    except ImportError:  # torch < 1.11
        return False
    return isinstance(_unwrap(model), FullyShardedDataParallel)


@contextlib.contextmanager
def _gradient_sync_off(model: Any) -> Iterator[None]:
    """FSDP2's spelling of ``no_sync()``."""
    model.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def _sync_off_factory(
    model: nn.Module,
) -> Callable[[], contextlib.AbstractContextManager[Any]] | None:
    no_sync: Any = getattr(model, "no_sync", None)
    if callable(no_sync):
        return no_sync  # type: ignore[no-any-return]
    if callable(getattr(model, "set_requires_gradient_sync", None)):
        return lambda: _gradient_sync_off(model)
    return None


def _check_optimizer_holds_model(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    model_params = {id(p) for p in model.parameters()}
    if not model_params:
        raise InvalidValueError("the model has no parameters: there is nothing to train.")
    opt_params = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in model_params for p in opt_params):
        raise InvalidValueError(
            "the optimizer holds none of the model's parameters: build it from this model "
            "instance, e.g. torch.optim.SGD(model.parameters(), lr=1e-2) (an optimizer built "
            "from a copy, or from the model before it was replaced, trains nothing)."
        )
