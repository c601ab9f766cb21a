"""Benchmark: tvcompat's TrainStep vs the hand-written loop it replaces (CPU, resnet18).

Both run in the same process on identical copies of the model, interleaved step by step (the
order alternates each round), so machine noise hits both alike. Each figure is the median
wall time of one step after warm-up. The target is a ratio helper/hand-written <= 1.01.

    python benchmarks/bench_train_step.py [--steps 100] [--warmup 5] [--batch 16]
"""

from __future__ import annotations

import argparse
import copy
import inspect
import statistics
import time
from typing import Any, Callable

import torch
import torchvision
from torch import nn

from tvcompat.training import TrainStep


def _resnet18() -> nn.Module:
    builder = torchvision.models.resnet18
    if "weights" in inspect.signature(builder).parameters:
        return builder(weights=None)  # type: ignore[no-any-return]
    return builder(pretrained=False)  # type: ignore[no-any-return]  # torchvision < 0.13


def _hand_written(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, accumulation: int
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    state = {"i": 0}

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        model.train()
        if state["i"] == 0:
            optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        (loss / accumulation if accumulation > 1 else loss).backward()
        state["i"] += 1
        if state["i"] == accumulation:
            optimizer.step()
            state["i"] = 0
        return loss.detach()

    return step


#: The clock: wall time (``perf_counter``) by default; ``--clock cpu`` uses this process's CPU
#: time instead, steadier when other processes compete for the cores (use with --threads 1).
CLOCK: Callable[[], float] = time.perf_counter


def _time(fn: Callable[[], Any]) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


def run(
    accumulation: int, steps: int, warmup: int, batch: int, noise_floor: bool = False
) -> tuple[float, float, float]:
    """Median ms/step of the hand-written loop and of TrainStep, and the median of the
    per-round ratios (robust to drift). ``noise_floor`` times the hand-written loop against
    a second copy of itself instead of TrainStep: what "no difference" measures here."""
    torch.manual_seed(0)
    base = _resnet18()
    model_a, model_b = copy.deepcopy(base), copy.deepcopy(base)  # alike in memory, too
    del base
    loss_fn = nn.CrossEntropyLoss()
    opt_a = torch.optim.SGD(model_a.parameters(), lr=1e-2, momentum=0.9)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=1e-2, momentum=0.9)
    hand = _hand_written(model_a, opt_a, loss_fn, accumulation)
    helper: Callable[[torch.Tensor, torch.Tensor], Any]
    if noise_floor:
        helper = _hand_written(model_b, opt_b, loss_fn, accumulation)
    else:
        helper = TrainStep(model_b, opt_b, loss_fn, accumulation_steps=accumulation)
    inputs = torch.rand(batch, 3, 64, 64)
    targets = torch.randint(0, 1000, (batch,))

    def run_hand() -> None:
        hand(inputs, targets)

    def run_helper() -> None:
        helper(inputs, targets)

    hand_times: list[float] = []
    helper_times: list[float] = []
    for i in range(warmup + steps):
        if i % 2 == 0:
            t_hand, t_helper = _time(run_hand), _time(run_helper)
        else:
            t_helper, t_hand = _time(run_helper), _time(run_hand)
        if i >= warmup:
            hand_times.append(t_hand)
            helper_times.append(t_helper)
    ratios = [b / a for a, b in zip(hand_times, helper_times)]
    return statistics.median(hand_times), statistics.median(helper_times), statistics.median(ratios)


def overhead(steps: int = 2000, repeats: int = 7) -> dict[str, float]:
    """The helper's own cost per step, in microseconds: a model so small that a step is
    almost only bookkeeping, timed in interleaved blocks. The hand-written loop is timed with
    and without its per-step ``model.train()`` (which the helper replaces with a cheaper
    check of the modules' flags)."""
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    models = [copy.deepcopy(base) for _ in range(3)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for m in models]
    loss_fn = nn.MSELoss()
    inputs, targets = torch.randn(8, 4), torch.randn(8, 2)
    bare_model, bare_opt = models[1], optimizers[1]

    def bare(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        bare_opt.zero_grad(set_to_none=True)
        loss = loss_fn(bare_model(x), y)
        loss.backward()
        bare_opt.step()
        return loss.detach()

    variants: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
        "hand-written": _hand_written(models[0], optimizers[0], loss_fn, 1),
        "hand-written without model.train()": bare,
        "TrainStep": TrainStep(models[2], optimizers[2], loss_fn),
    }

    def block(fn: Callable[[torch.Tensor, torch.Tensor], Any]) -> float:
        start = CLOCK()
        for _ in range(steps):
            fn(inputs, targets)
        return (CLOCK() - start) / steps

    for fn in variants.values():
        block(fn)
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(repeats):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(block(variants[name]))
    return {name: statistics.median(t) * 1e6 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch intra-op threads (0: torch's default); 1 is steadier on a busy machine",
    )
    parser.add_argument(
        "--noise-floor",
        action="store_true",
        help="also time the hand-written loop against itself (what 'no difference' measures)",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or this process's CPU time (steadier on a busy machine, with --threads 1)",
    )
    args = parser.parse_args()
    global CLOCK  # noqa: PLW0603 - a command-line switch for the whole run
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{torch.get_num_threads()} threads, {args.clock} clock, resnet18, "
        f"batch {args.batch}x3x64x64, CPU, "
        f"median of {args.steps} steps after {args.warmup} warm-up, interleaved"
    )
    print("bookkeeping, a model of 3 modules (Linear 4-4-2, batch 8), median us/step:")
    for name, micros in overhead().items():
        print(f"  {name:36s} {micros:7.1f}")
    for accumulation in (1, 4):
        hand, helper, paired = run(accumulation, args.steps, args.warmup, args.batch)
        print(
            f"accumulation {accumulation}: hand-written {hand * 1e3:8.2f} ms/step, "
            f"TrainStep {helper * 1e3:8.2f} ms/step, ratio {helper / hand:.4f} "
            f"(median paired ratio {paired:.4f})"
        )
        if args.noise_floor:
            hand, twin, paired = run(accumulation, args.steps, args.warmup, args.batch, True)
            print(
                f"  noise floor: hand-written {hand * 1e3:8.2f} vs itself {twin * 1e3:8.2f} "
                f"ms/step, ratio {twin / hand:.4f} (median paired ratio {paired:.4f})"
            )


if __name__ == "__main__":
    main()
