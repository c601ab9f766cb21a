"""TrainStep on CUDA: fp16 with a GradScaler, skipped-step reporting, zero host syncs per step.

Skipped cleanly without a CUDA device (the default CI machines have none).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import torch
from torch import nn

from tvcompat._versions import capabilities
from tvcompat.training import TrainStep, train_step
from tvcompat.training import _function as training  # train_step()'s _SCALERS live there

CAPS = capabilities()

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

mse = nn.MSELoss()


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 3)).cuda()


def batches(n: int, size: int = 8, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, 6, generator=g).cuda(), torch.randn(size, 3, generator=g).cuda())
        for _ in range(n)
    ]


def grad_scaler(**kwargs: Any) -> Any:
    if CAPS.amp_grad_scaler:
        return torch.amp.GradScaler("cuda", **kwargs)
    return torch.cuda.amp.GradScaler(**kwargs)


def cuda_autocast(dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    if CAPS.torch_autocast:
        return torch.autocast("cuda", dtype=dtype)
    return torch.cuda.amp.autocast()  # torch 1.9: float16 only


def assert_close(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 1e-6) -> None:
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=0, atol=atol), (x - y).abs().max()


@pytest.mark.parametrize("accumulation", [1, 2])
def test_fp16_with_grad_scaler_matches_the_amp_recipe(accumulation: int) -> None:
    model, reference = tiny_model(), tiny_model()
    data = batches(6)
    step = TrainStep(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
        mse,
        precision="fp16",
        accumulation_steps=accumulation,
        max_grad_norm=1.0,
    )
    assert step.scaler is not None
    results = [step(x, y) for x, y in data]
    assert results[0].output.dtype == torch.float16

    # PyTorch's AMP recipe, by hand (docs: "Automatic Mixed Precision examples")
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    scaler = grad_scaler()
    for i, (x, y) in enumerate(data):
        if i % accumulation == 0:
            optimizer.zero_grad(set_to_none=True)
        with cuda_autocast(torch.float16):
            loss = mse(reference(x), y)
        scaler.scale(loss / accumulation if accumulation > 1 else loss).backward()
        if (i + 1) % accumulation == 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
    assert_close(
        [p.detach() for p in model.parameters()], [p.detach() for p in reference.parameters()]
    )
    assert step.scaler.get_scale() == scaler.get_scale()
    for r in results:
        if r.stepped:
            assert r.skipped is not None
            assert r.skipped.dtype == torch.bool
            assert r.grad_norm is not None


def test_overflow_is_reported_as_a_skipped_step() -> None:
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    scaler = grad_scaler(init_scale=2.0**60)  # fp16 gradients overflow at this scale
    step = TrainStep(model, optimizer, mse, precision="fp16", scaler=scaler, lr_scheduler=scheduler)
    x, y = batches(1)[0]
    result = step(x, y)  # no "lr_scheduler.step() before optimizer.step()" warning either
    assert result.stepped
    assert result.skipped is not None
    assert bool(result.skipped)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)
    assert scaler.get_scale() < 2.0**60
    for _ in range(80):  # the scale backs off until a step goes through
        result = step(x, y)
        assert result.skipped is not None
        if not bool(result.skipped):
            break
    assert not bool(result.skipped)


def test_train_step_keeps_one_scaler_per_optimizer() -> None:
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = batches(1)[0]
    train_step(model, optimizer, mse, x, y, precision="fp16")
    scaler = training._SCALERS[optimizer]
    train_step(model, optimizer, mse, x, y, precision="fp16")
    assert training._SCALERS[optimizer] is scaler


def test_device_move_from_pinned_memory() -> None:
    model, reference = tiny_model(), tiny_model()
    x = torch.randn(8, 6).pin_memory()
    y = torch.randn(8, 3).pin_memory()
    result = train_step(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        mse,
        x,
        y,
        device="cuda",
        non_blocking=True,
    )
    assert result.loss.device.type == "cuda"
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    mse(reference(x.cuda()), y.cuda()).backward()
    optimizer.step()
    assert_close(list(model.parameters()), list(reference.parameters()))


@contextlib.contextmanager
def sync_debug_error() -> Iterator[None]:
    if not hasattr(torch.cuda, "set_sync_debug_mode"):
        pytest.skip("torch.cuda.set_sync_debug_mode needs torch >= 1.10")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def _run_without_syncs(make: Callable[[nn.Module], TrainStep], steps: int = 6) -> None:
    model = tiny_model()
    step = make(model)
    data = batches(steps + 2)
    for x, y in data[:2]:  # warm-up: lazy state (optimizer buffers, the scaler's scale)
        step(x, y)
    with sync_debug_error():
        results = [step(x, y) for x, y in data[2:]]
    torch.cuda.synchronize()
    assert all(torch.isfinite(r.loss) for r in results)


@pytest.mark.parametrize("precision", [None, "bf16"])
def test_no_host_sync_per_step(precision: str | None) -> None:
    if precision == "bf16" and not (CAPS.torch_autocast and torch.cuda.is_bf16_supported()):
        pytest.skip("bf16 autocast on this GPU/torch is not available")

    def make(model: nn.Module) -> TrainStep:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        return TrainStep(
            model,
            optimizer,
            mse,
            precision=precision,
            accumulation_steps=2,
            max_grad_norm=1.0,
            lr_scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.99),
        )

    _run_without_syncs(make)


def test_no_host_sync_per_step_fp16_with_a_scaler_aware_optimizer() -> None:
    """GradScaler.step() reads found_inf on the host for ordinary optimizers (a sync inside
    torch); optimizers that take the scale themselves (fused Adam) avoid it."""
    adam = torch.optim.Adam
    if "fused" not in inspect.signature(adam).parameters or (
        "grad_scaler" in inspect.signature(adam.step).parameters  # torch 1.13's older protocol
    ):
        pytest.skip("this torch's Adam has no fused implementation that takes the scale itself")

    def make(model: nn.Module) -> TrainStep:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        return TrainStep(model, optimizer, mse, precision="fp16", accumulation_steps=2)

    _run_without_syncs(make)


def test_fp16_grads_are_unscaled_before_clipping() -> None:
    model, twin = tiny_model(), tiny_model()
    x, y = batches(1)[0]
    result = TrainStep(
        model, torch.optim.SGD(model.parameters(), lr=0.0), mse, precision="fp16", max_grad_norm=1e9
    )(x, y)
    with cuda_autocast(torch.float16):
        loss = mse(twin(x), y)
    loss.backward()
    expected = torch.norm(torch.stack([torch.norm(p.grad) for p in twin.parameters()]))
    assert result.grad_norm is not None
    # the unscaled norm, not 65536 times it
    assert torch.allclose(result.grad_norm, expected, rtol=1e-2)
    assert result.loss.dtype == torch.float32  # mse_loss autocasts to float32
