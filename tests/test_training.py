"""tvcompat.training: the helper's parameters equal a hand-written loop's, exactly.

Everything here runs on the CPU with tiny models (plus the seed's resnet18 once), on every
torch of the matrix; what the installed torch cannot do is skipped with the reason, and the
helper's error for it is checked instead.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import warnings
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tvcompat._versions import capabilities
from tvcompat.training import StepResult, TrainStep, train_step

CAPS = capabilities()

Batch = tuple[torch.Tensor, torch.Tensor]


# --- helpers ---------------------------------------------------------------------------------
def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def batches(n: int, size: int = 4, seed: int = 1) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(size, 6, generator=g), torch.randn(size, 3, generator=g)) for _ in range(n)
    ]


def make_optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return torch.optim.Adam(model.parameters(), lr=0.01)


def reference_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: list[Batch],
    *,
    accumulation: int = 1,
    max_norm: float | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> list[torch.Tensor]:
    """The textbook loop, written out by hand: what the helper must reproduce bit for bit."""
    losses = []
    model.train()
    for i, (x, y) in enumerate(data):
        if i % accumulation == 0:
            optimizer.zero_grad(set_to_none=True)
        with autocast() if autocast is not None else contextlib.nullcontext():
            loss = loss_fn(model(x), y)
        (loss / accumulation if accumulation > 1 else loss).backward()
        losses.append(loss.detach())
        if (i + 1) % accumulation == 0:
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
    return losses


def params_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x, y), (x - y).abs().max()


def assert_close(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 1e-6) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, rtol=0, atol=atol), (x - y).abs().max()


def resnet18() -> nn.Module:
    builder = torchvision.models.resnet18
    if "weights" in inspect.signature(builder).parameters:
        return builder(weights=None)  # type: ignore[no-any-return]
    return builder(pretrained=False)  # type: ignore[no-any-return]  # torchvision < 0.13


mse = nn.MSELoss()


# --- the seed example ------------------------------------------------------------------------
def test_seed_example_resnet18_runs_without_any_warning() -> None:
    torch.manual_seed(0)
    model = resnet18()
    reference = copy.deepcopy(model)
    data = torch.rand(1, 3, 64, 64)
    labels = torch.rand(1, 1000)

    def loss_fn(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (p - y).sum()

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = train_step(model, optimizer, loss_fn, data, labels)

    # the same by hand: prediction, loss, backward() fills .grad, step() applies it
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=1e-2, momentum=0.9)
    reference.train()
    prediction = reference(data)
    loss = (prediction - labels).sum()
    loss.backward()
    ref_optimizer.step()

    assert isinstance(result, StepResult)
    assert result.stepped is True
    assert result.grad_norm is None
    assert result.skipped is None
    assert not result.loss.requires_grad
    assert result.loss.shape == ()
    assert torch.equal(result.loss, loss.detach())
    assert result.output.shape == (1, 1000)
    assert not result.output.requires_grad
    assert_same(params_of(model), params_of(reference))
    for p, q in zip(model.parameters(), reference.parameters()):
        assert p.grad is not None
        assert q.grad is not None
        assert torch.equal(p.grad, q.grad)


# --- exactness against the hand-written loop -------------------------------------------------
@pytest.mark.parametrize("optimizer_kind", ["sgd", "adam"])
@pytest.mark.parametrize("accumulation", [1, 3])
@pytest.mark.parametrize("max_norm", [None, 0.05])
def test_matches_hand_written_loop(
    optimizer_kind: str, accumulation: int, max_norm: float | None
) -> None:
    data = batches(6)
    model, reference = tiny_model(), tiny_model()
    step = TrainStep(
        model,
        make_optimizer(optimizer_kind, model),
        mse,
        accumulation_steps=accumulation,
        max_grad_norm=max_norm,
    )
    results = [step(x, y) for x, y in data]
    ref_losses = reference_loop(
        reference,
        make_optimizer(optimizer_kind, reference),
        mse,
        data,
        accumulation=accumulation,
        max_norm=max_norm,
    )
    assert_same(params_of(model), params_of(reference))
    assert_same([r.loss for r in results], ref_losses)
    assert [r.stepped for r in results] == [(i + 1) % accumulation == 0 for i in range(6)]
    for r in results:
        if max_norm is not None and r.stepped:
            assert isinstance(r.grad_norm, torch.Tensor)
        else:
            assert r.grad_norm is None


def test_grad_norm_is_the_norm_before_clipping() -> None:
    model, twin = tiny_model(), tiny_model()
    ((x, y),) = batches(1)
    result = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0), mse, max_grad_norm=1e-3)(
        x, y
    )
    mse(twin(x), y).backward()
    expected = torch.norm(torch.stack([torch.norm(p.grad) for p in twin.parameters()]))
    assert result.grad_norm is not None
    assert torch.allclose(result.grad_norm, expected)
    clipped = torch.norm(torch.stack([torch.norm(p.grad) for p in model.parameters()]))
    assert float(clipped) == pytest.approx(1e-3, rel=1e-3)


@pytest.mark.parametrize("optimizer_kind", ["sgd", "adam"])
def test_accumulation_equals_large_batch(optimizer_kind: str) -> None:
    micro = batches(4, size=2, seed=3)
    big_x = torch.cat([x for x, _ in micro])
    big_y = torch.cat([y for _, y in micro])
    model, reference = tiny_model(), tiny_model()
    step = TrainStep(model, make_optimizer(optimizer_kind, model), mse, accumulation_steps=4)
    for x, y in micro:
        result = step(x, y)
    assert result.stepped
    ref_opt = make_optimizer(optimizer_kind, reference)
    mse(reference(big_x), big_y).backward()
    ref_opt.step()
    assert_close([p.grad for p in model.parameters()], [p.grad for p in reference.parameters()])
    assert_close(params_of(model), params_of(reference))


def test_zero_grad_at_window_start_only() -> None:
    model = tiny_model()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0), mse, accumulation_steps=2)
    (x1, y1), (x2, y2), (x3, y3) = batches(3)
    step(x1, y1)
    step(x2, y2)
    after_window = [p.grad.clone() for p in model.parameters()]  # kept after the step
    twin = tiny_model()
    (mse(twin(x1), y1) / 2 + mse(twin(x2), y2) / 2).backward()
    assert_close(after_window, [p.grad for p in twin.parameters()])
    step(x3, y3)  # a new window: the old gradients are gone
    twin.zero_grad()
    (mse(twin(x3), y3) / 2).backward()
    assert_close([p.grad for p in model.parameters()], [p.grad for p in twin.parameters()])
    assert step.pending == 1


# --- partial windows at the end of an epoch --------------------------------------------------
@pytest.mark.parametrize("how", ["flush()", "flush=True"])
def test_partial_window_equals_a_step_on_its_mean_loss(how: str) -> None:
    data = batches(7, size=2, seed=5)  # one full window of 4, then 3 left over
    model, reference = tiny_model(), tiny_model()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=4)
    results = [step(x, y) for x, y in data[:6]]
    if how == "flush()":
        results.append(step(*data[6]))
        assert step.pending == 3
        flushed = step.flush()
        assert flushed is not None
        assert flushed.stepped
        assert torch.equal(flushed.loss, results[-1].loss)
    else:
        results.append(step(*data[6], flush=True))
        assert results[-1].stepped
    assert step.pending == 0
    assert step.flush() is None  # nothing left

    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for window in (data[:4], data[4:]):
        ref_opt.zero_grad()
        x = torch.cat([b[0] for b in window])
        y = torch.cat([b[1] for b in window])
        mse(reference(x), y).backward()
        ref_opt.step()
    assert_close(params_of(model), params_of(reference))


@settings(max_examples=15, deadline=None)
@given(accumulation=st.integers(1, 4), micro_steps=st.integers(1, 7), use_flush_arg=st.booleans())
def test_any_window_layout_equals_steps_on_window_means(
    accumulation: int, micro_steps: int, use_flush_arg: bool
) -> None:
    data = batches(micro_steps, size=2, seed=7)
    model, reference = tiny_model(), tiny_model()
    step = TrainStep(
        model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=accumulation
    )
    stepped = []
    for i, (x, y) in enumerate(data):
        last = use_flush_arg and i == micro_steps - 1
        stepped.append(step(x, y, flush=last).stepped)
    if not use_flush_arg:
        stepped[-1] = stepped[-1] or step.flush() is not None
    assert stepped[-1]
    assert step.pending == 0

    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for start in range(0, micro_steps, accumulation):
        window = data[start : start + accumulation]
        ref_opt.zero_grad()
        x = torch.cat([b[0] for b in window])
        y = torch.cat([b[1] for b in window])
        mse(reference(x), y).backward()
        ref_opt.step()
    assert_close(params_of(model), params_of(reference))


def test_flush_on_an_empty_window_does_nothing() -> None:
    model = tiny_model()
    before = params_of(model)
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse)
    assert step.flush() is None
    assert_same(params_of(model), before)


# --- mixed precision -------------------------------------------------------------------------
@pytest.mark.skipif(
    not CAPS.torch_autocast, reason="CPU autocast (torch.autocast) needs torch >= 1.10"
)
@pytest.mark.parametrize("accumulation", [1, 2])
def test_bf16_on_cpu_matches_autocast_loop(accumulation: int) -> None:
    data = batches(4)
    model, reference = tiny_model(), tiny_model()
    step = TrainStep(
        model,
        make_optimizer("sgd", model),
        mse,
        precision="bf16",
        accumulation_steps=accumulation,
        max_grad_norm=0.5,
    )
    assert step.scaler is None  # bf16 needs no gradient scaling
    results = [step(x, y) for x, y in data]
    assert results[0].output.dtype == torch.bfloat16
    reference_loop(
        reference,
        make_optimizer("sgd", reference),
        mse,
        data,
        accumulation=accumulation,
        max_norm=0.5,
        autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    )
    assert_same(params_of(model), params_of(reference))
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.skipif(CAPS.torch_autocast, reason="the installed torch has CPU autocast")
def test_bf16_on_cpu_without_cpu_autocast_is_a_clear_error() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match=r"needs torch >= 1\.10"):
        TrainStep(model, make_optimizer("sgd", model), mse, precision="bf16")


def test_fp16_on_cpu_works_or_is_a_clear_error() -> None:
    model = tiny_model()
    optimizer = make_optimizer("sgd", model)
    if not CAPS.cpu_autocast_fp16:
        with pytest.raises(ValueError, match=r"precision='fp16' on the CPU needs torch >= 2\.2"):
            TrainStep(model, optimizer, mse, precision="fp16")
        return
    reference = tiny_model()
    data = batches(2)
    step = TrainStep(model, optimizer, mse, precision="fp16")
    assert step.scaler is None  # GradScaler only for fp16 on CUDA
    result = step(*data[0])
    step(*data[1])
    assert result.output.dtype == torch.float16
    reference_loop(
        reference,
        make_optimizer("sgd", reference),
        mse,
        data,
        autocast=lambda: torch.autocast("cpu", dtype=torch.float16),
    )
    assert_same(params_of(model), params_of(reference))


@pytest.mark.parametrize("precision", [None, "fp32", "32", torch.float32])
def test_full_precision_spellings(precision: Any) -> None:
    model, reference = tiny_model(), tiny_model()
    data = batches(2)
    step = TrainStep(model, make_optimizer("sgd", model), mse, precision=precision)
    for x, y in data:
        assert step(x, y).output.dtype == torch.float32
    reference_loop(reference, make_optimizer("sgd", reference), mse, data)
    assert_same(params_of(model), params_of(reference))


@pytest.mark.parametrize("precision", ["fp8", "int8", torch.int8, 16])
def test_unknown_precision_is_rejected(precision: Any) -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="precision="):
        TrainStep(model, make_optimizer("sgd", model), mse, precision=precision)


def test_fp16_on_cuda_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    model = tiny_model()
    with pytest.raises(ValueError, match="CUDA is not available"):
        TrainStep(model, make_optimizer("sgd", model), mse, precision="fp16", device="cuda")


def test_scaler_only_with_fp16() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="scaler= is only used with precision='fp16'"):
        TrainStep(model, make_optimizer("sgd", model), mse, scaler=object())  # type: ignore[arg-type]


# --- inputs, targets and losses of any shape -------------------------------------------------
class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(3, 2)

    def forward(self, inputs: dict[str, list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(inputs["x"][0]), self.b(inputs["x"][1])


def test_nested_inputs_device_move_and_loss_dict() -> None:
    torch.manual_seed(0)
    model = DictModel()
    reference = copy.deepcopy(model)
    inputs = {"x": [torch.randn(5, 4), torch.randn(5, 3)]}
    targets = (torch.randn(5, 2), torch.randn(5, 2))

    def loss_fn(out: tuple[torch.Tensor, torch.Tensor], tgt: Any) -> dict[str, torch.Tensor]:
        return {"a": mse(out[0], tgt[0]), "b": mse(out[1], tgt[1])}

    step = TrainStep(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn,
        device="cpu",
        non_blocking=True,
    )
    result = step(inputs, targets)
    assert isinstance(result.output, tuple)
    assert len(result.output) == 2
    assert all(not t.requires_grad for t in result.output)

    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    losses = loss_fn(reference(inputs), targets)
    total = losses["a"] + losses["b"]
    total.backward()
    ref_opt.step()
    assert torch.equal(result.loss, total.detach())
    assert_same(params_of(model), params_of(reference))


def _tiny_detector() -> nn.Module:
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 8  # type: ignore[assignment]
    return FasterRCNN(  # type: ignore[no-any-return]
        backbone,
        num_classes=3,
        min_size=64,
        max_size=64,
        rpn_anchor_generator=AnchorGenerator(((16, 32),), ((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        rpn_pre_nms_top_n_train=50,
        rpn_post_nms_top_n_train=20,
        rpn_batch_size_per_image=32,
        box_batch_size_per_image=16,
    )


def test_detection_model_loss_dict_is_summed() -> None:
    """A real torchvision detector: list of images, list of target dicts, a loss dict back."""
    model = _tiny_detector()
    reference = copy.deepcopy(model)
    images = [torch.rand(3, 64, 64), torch.rand(3, 48, 64)]
    targets = [
        {"boxes": torch.tensor([[4.0, 4.0, 30.0, 30.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[10.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([2])},
    ]
    model.eval()  # the step must put it back in training mode (detectors need targets then)
    torch.manual_seed(1)  # the detector samples proposals at random
    result = train_step(model, torch.optim.SGD(model.parameters(), lr=0.01), None, images, targets)
    assert set(result.output) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_objectness",
        "loss_rpn_box_reg",
    }

    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.01)
    reference.train()
    torch.manual_seed(1)
    losses = reference(images, targets)
    total = sum(losses.values())
    total.backward()
    ref_opt.step()
    assert torch.equal(result.loss, total.detach())
    assert_same(params_of(model), params_of(reference))


class SelfLossModel(nn.Module):
    """A model computing its own loss, HF-style output object with a ``.loss``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        class Output:
            pass

        out = Output()
        out.loss = mse(self.lin(x), y)  # type: ignore[attr-defined]
        return out


def test_model_returning_an_object_with_a_loss() -> None:
    model = SelfLossModel()
    ((x, y),) = batches(1)
    result = train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), None, x, y)
    assert result.loss.shape == ()


class LossAndLogits(dict):  # type: ignore[type-arg]
    """Like a Hugging Face ModelOutput: a mapping holding the loss *and* the logits."""

    @property
    def loss(self) -> torch.Tensor:
        return self["loss"]  # type: ignore[no-any-return]


def test_mapping_with_a_loss_attribute_uses_only_the_loss() -> None:
    model = tiny_model()
    ((x, y),) = batches(1)

    def loss_fn(p: torch.Tensor, t: torch.Tensor) -> LossAndLogits:
        return LossAndLogits(loss=mse(p, t), logits=p.sum())

    result = train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, x, y)
    assert torch.equal(result.loss, mse(tiny_model()(x), y).detach())


def test_one_element_loss_is_accepted() -> None:
    model = tiny_model()
    ((x, y),) = batches(1)
    result = train_step(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        lambda p, t: ((p - t) ** 2).mean().reshape(1),
        x,
        y,
    )
    assert result.loss.shape == ()


# --- the optimizer's companions --------------------------------------------------------------
def test_lr_scheduler_steps_with_the_optimizer_only() -> None:
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    step = TrainStep(model, optimizer, mse, accumulation_steps=2, lr_scheduler=scheduler)
    for x, y in batches(5):
        step(x, y)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)  # 2 steps in 5 micro-steps
    step.flush()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.125)


def test_model_is_put_back_in_training_mode() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.Linear(8, 3))
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse)
    ((x, y),) = batches(1)
    model.eval()
    step(x, y)
    assert all(m.training for m in model.modules())
    model[2].eval()  # a submodule alone in eval mode is caught too
    step(x, y)
    assert model[2].training


def test_train_mode_false_leaves_modes_alone() -> None:
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))
    model.train()
    model[1].eval()  # frozen BatchNorm
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, train_mode=False)
    ((x, y),) = batches(1)
    step(x, y)
    assert model.training
    assert not model[1].training


@contextlib.contextmanager
def _no_host_reads() -> Iterator[None]:
    """Make every way of reading a tensor's value on the host raise."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the step read a tensor value on the host (a sync on CUDA)")

    names = ["item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy"]
    saved = {name: getattr(torch.Tensor, name) for name in names}
    try:
        for name in names:
            setattr(torch.Tensor, name, boom)
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)


def test_default_path_never_reads_tensor_values_on_the_host() -> None:
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    step = TrainStep(
        model, optimizer, mse, accumulation_steps=2, max_grad_norm=0.1, lr_scheduler=scheduler
    )
    data = batches(5)
    step(*data[0])  # warm-up outside the guard (lazy state creation may read values)
    step(*data[1])
    with _no_host_reads():
        results = [step(x, y) for x, y in data[2:]]
        step.flush()
    assert [r.stepped for r in results] == [False, True, False]


# --- bad input -------------------------------------------------------------------------------
def test_non_scalar_loss_names_the_fix() -> None:
    model = tiny_model()
    step = TrainStep(
        model, torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(reduction="none")
    )
    with pytest.raises(ValueError, match=r"shape \(4, 3\), not a scalar.*reduction='mean'"):
        step(*batches(1)[0])


def test_optimizer_of_another_model_is_rejected() -> None:
    model, other = tiny_model(), tiny_model()
    with pytest.raises(ValueError, match="optimizer holds none of the model's parameters"):
        TrainStep(model, torch.optim.SGD(other.parameters(), lr=0.1), mse)
    with pytest.raises(ValueError, match="optimizer holds none"):
        TrainStep(model, torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1), mse)


def test_optimizer_holding_part_of_the_model_is_fine() -> None:
    model = tiny_model()
    step = TrainStep(model, torch.optim.SGD(model[2].parameters(), lr=0.1), mse)
    before = params_of(model)
    step(*batches(1)[0])
    after = params_of(model)
    assert torch.equal(before[0], after[0])  # first layer: not in the optimizer
    assert not torch.equal(before[2], after[2])


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0, ValueError, "accumulation_steps must be >= 1"),
        (-2, ValueError, "accumulation_steps must be >= 1"),
        (1.5, TypeError, "accumulation_steps must be an int"),
        (True, TypeError, "accumulation_steps must be an int"),
    ],
)
def test_bad_accumulation_steps(value: Any, error: type[Exception], match: str) -> None:
    model = tiny_model()
    with pytest.raises(error, match=match):
        TrainStep(model, make_optimizer("sgd", model), mse, accumulation_steps=value)


def test_other_bad_arguments() -> None:
    model = tiny_model()
    opt = make_optimizer("sgd", model)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        TrainStep(lambda x: x, opt, mse)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        TrainStep(model, model.parameters(), mse)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        TrainStep(model, opt, "mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_grad_norm must be a positive number"):
        TrainStep(model, opt, mse, max_grad_norm=0)
    with pytest.raises(TypeError, match=r"lr_scheduler must have a step\(\) method"):
        TrainStep(model, opt, mse, lr_scheduler=0.1)
    other_opt = make_optimizer("sgd", model)
    sched = torch.optim.lr_scheduler.StepLR(other_opt, 1)
    with pytest.raises(ValueError, match="lr_scheduler was built for a different optimizer"):
        TrainStep(model, opt, mse, lr_scheduler=sched)
    with pytest.raises(ValueError, match="the model has no parameters"):
        TrainStep(nn.ReLU(), opt, mse)


def test_loss_of_the_wrong_kind() -> None:
    model = tiny_model()
    opt = make_optimizer("sgd", model)
    x, y = batches(1)[0]
    with pytest.raises(TypeError, match="returned float, not a tensor"):
        TrainStep(model, opt, lambda p, t: 1.0)(x, y)
    with pytest.raises(ValueError, match="empty loss dict"):
        TrainStep(model, opt, lambda p, t: {})(x, y)
    with pytest.raises(ValueError, match="does not require grad"):
        TrainStep(model, opt, lambda p, t: mse(p.detach(), t))(x, y)


def test_non_finite_loss_raises_only_when_asked() -> None:
    model = tiny_model()
    before = params_of(model)
    x, y = batches(1)[0]
    x[0, 0] = math.nan
    step = TrainStep(
        model, torch.optim.SGD(model.parameters(), lr=0.1), mse, raise_on_nonfinite=True
    )
    with pytest.raises(ValueError, match="the loss is not finite"):
        step(x, y)
    assert_same(params_of(model), before)
    assert all(p.grad is None for p in model.parameters())
    assert step.pending == 0
    # without the option: no sync, no error; the NaN is in the returned loss for you to see
    result = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse)(x, y)
    assert torch.isnan(result.loss)


def test_non_finite_loss_with_clipping_warns_nothing() -> None:
    """torch 1.9's clip_grad_norm_ warns (FutureWarning) on a NaN norm; the helper does not."""
    model = tiny_model()
    x, y = batches(1)[0]
    x[0, 0] = math.inf
    result = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, max_grad_norm=1.0)(
        x, y
    )
    assert result.grad_norm is not None
    assert not torch.isfinite(result.grad_norm)


# --- distributed wrappers, without processes: the no_sync() contract -------------------------
class NoSyncRecorder(nn.Module):
    """Records whether forward and backward ran inside ``no_sync()``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.syncing = True
        self.events: list[tuple[str, bool]] = []

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        self.syncing = False
        try:
            yield
        finally:
            self.syncing = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.events.append(("forward", self.syncing))
        out: torch.Tensor = self.lin(x)
        out.register_hook(lambda g: self.events.append(("backward", self.syncing)))
        return out


def test_forward_and_backward_of_non_final_micro_steps_run_under_no_sync() -> None:
    model = NoSyncRecorder()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=3)
    for x, y in batches(3):
        step(x, y)
    assert model.events == [
        ("forward", False),
        ("backward", False),
        ("forward", False),
        ("backward", False),
        ("forward", True),
        ("backward", True),
    ]
    model.events.clear()
    step(*batches(1)[0], flush=True)  # a flushed last micro-step synchronises
    assert model.events == [("forward", True), ("backward", True)]


def test_flush_of_no_sync_gradients_needs_ddp() -> None:
    model = NoSyncRecorder()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=3)
    step(*batches(1)[0])
    with pytest.raises(RuntimeError, match="pass flush=True to the last step"):
        step.flush()


class GradientSyncRecorder(nn.Module):
    """FSDP2's spelling: ``set_requires_gradient_sync(bool)``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 3)
        self.calls: list[bool] = []
        self.forwards: list[bool] = []
        self.sync = True

    def set_requires_gradient_sync(self, requires_gradient_sync: bool) -> None:
        self.calls.append(requires_gradient_sync)
        self.sync = requires_gradient_sync

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards.append(self.sync)
        out: torch.Tensor = self.lin(x)
        return out


def test_fsdp2_style_gradient_sync_toggle() -> None:
    model = GradientSyncRecorder()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=2)
    for x, y in batches(4):
        step(x, y)
    assert model.forwards == [False, True, False, True]
    assert model.calls == [False, True, False, True]


# --- torch.compile ---------------------------------------------------------------------------
def _compile_or_skip(model: nn.Module) -> nn.Module:
    if not CAPS.torch_compile:
        pytest.skip("torch.compile needs torch >= 2.0")
    try:
        # aot_eager: dynamo's graph capture and AOTAutograd's joint graph, without inductor's
        # C++ compile time (seconds per graph on a 2-core CI machine)
        compiled = torch.compile(model, backend="aot_eager")
        compiled(torch.zeros(1, 6))
    except RuntimeError as exc:  # e.g. "Python 3.11+ not yet supported for torch.compile"
        if "not supported" in str(exc) or "not yet supported" in str(exc):
            pytest.skip(f"torch.compile on this Python: {exc}")
        raise
    return compiled  # type: ignore[no-any-return]


# torch 2.9's dynamo warns about the interpreter itself on Python 3.13.0 (not about tvcompat)
@pytest.mark.filterwarnings("ignore:Guards may run slower on Python 3.13.0:RuntimeWarning")
def test_compiled_model_matches_eager_loop() -> None:
    model, reference = tiny_model(), tiny_model()
    compiled = _compile_or_skip(model)
    data = batches(4)
    step = TrainStep(
        compiled,
        torch.optim.SGD(compiled.parameters(), lr=0.1, momentum=0.9),
        mse,
        accumulation_steps=2,
        max_grad_norm=0.5,
    )
    for x, y in data:
        step(x, y)
    reference_loop(
        reference,
        torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9),
        mse,
        data,
        accumulation=2,
        max_norm=0.5,
    )
    assert_close(params_of(model), params_of(reference))


# --- the result ------------------------------------------------------------------------------
def test_result_unpacks_and_repr() -> None:
    model = tiny_model()
    step = TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.1), mse, accumulation_steps=2)
    loss, stepped, grad_norm, skipped, output = step(*batches(1)[0])
    assert loss.shape == ()
    assert stepped is False
    assert grad_norm is None
    assert skipped is None
    assert output.shape == (4, 3)
    assert "accumulation_steps=2, pending=1" in repr(step)
