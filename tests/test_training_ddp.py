"""TrainStep under DistributedDataParallel: two real processes, gloo on the loopback.

With accumulation, the gradients after each window equal those of one process on the
concatenated large batch, and DDP's all-reduce runs once per window (counted through a comm
hook that wraps the stock ``allreduce_hook``). Partial windows at the end of an epoch are
checked both ways: ``flush()`` (a manual all-reduce of the ``no_sync()`` gradients) and
``step(..., flush=True)`` (DDP's own all-reduce).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import traceback
import warnings

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from tvcompat._versions import capabilities
from tvcompat.training import TrainStep

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)

WORLD = 2
MICRO = 3  # samples per rank per micro-step
mse = nn.MSELoss()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def _global_batches(n: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """``n`` micro-steps, each a list of one (x, y) per rank; identical on every rank."""
    g = torch.Generator().manual_seed(1234)
    return [
        [
            (torch.randn(MICRO, 6, generator=g), torch.randn(MICRO, 3, generator=g))
            for _ in range(WORLD)
        ]
        for _ in range(n)
    ]


def _reference_window(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    window: list[list[tuple[torch.Tensor, torch.Tensor]]],
) -> list[torch.Tensor]:
    """One plain step on everything every rank saw in the window, as one large batch."""
    optimizer.zero_grad(set_to_none=True)
    x = torch.cat([x for micro in window for x, _ in micro])
    y = torch.cat([y for micro in window for _, y in micro])
    mse(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]  # type: ignore[union-attr]
    optimizer.step()
    return grads


def _assert_close(a: list[torch.Tensor], b: list[torch.Tensor], what: str) -> None:
    for i, (x, y) in enumerate(zip(a, b)):
        assert torch.allclose(x, y, rtol=0, atol=1e-6), f"{what}[{i}]: {(x - y).abs().max()}"


def _ddp_case(rank: int) -> None:
    import torch.distributed as dist
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    model = _tiny_model()
    reference = _tiny_model()
    ddp = nn.parallel.DistributedDataParallel(model)
    calls = {"n": 0}

    # DDP checks the hook's annotations; string annotations (from __future__) fail that check.
    def counting_hook(state, bucket):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return default_hooks.allreduce_hook(state, bucket)

    ddp.register_comm_hook(None, counting_hook)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    step = TrainStep(ddp, optimizer, mse, accumulation_steps=2)
    data = _global_batches(8)

    # two full windows of two micro-steps: one all-reduce per window
    for w in range(2):
        window = data[2 * w : 2 * w + 2]
        results = [step(*micro[rank]) for micro in window]
        assert [r.stepped for r in results] == [False, True]
        assert calls["n"] == w + 1, f"all-reduce ran {calls['n']} times in {w + 1} windows"
        grads = [p.grad.detach().clone() for p in model.parameters()]  # type: ignore[union-attr]
        _assert_close(grads, _reference_window(reference, ref_optimizer, window), "grad")
        _assert_close(list(model.parameters()), list(reference.parameters()), "param")

    # a partial window flushed after the fact: a manual all-reduce, not DDP's
    step(*data[4][rank])
    assert calls["n"] == 2
    flushed = step.flush()
    assert flushed is not None
    assert flushed.stepped
    assert calls["n"] == 2
    grads = [p.grad.detach().clone() for p in model.parameters()]  # type: ignore[union-attr]
    _assert_close(grads, _reference_window(reference, ref_optimizer, data[4:5]), "flush grad")
    _assert_close(list(model.parameters()), list(reference.parameters()), "flush param")

    # a partial window closed with flush=True: DDP's own all-reduce, once
    step(*data[5][rank])
    result = step(*data[6][rank], flush=True)  # a window of 2 anyway: a normal step
    assert result.stepped
    assert calls["n"] == 3
    _reference_window(reference, ref_optimizer, data[5:7])
    result = step(*data[7][rank], flush=True)  # a window of 1
    assert result.stepped
    assert calls["n"] == 4
    grads = [p.grad.detach().clone() for p in model.parameters()]  # type: ignore[union-attr]
    _assert_close(grads, _reference_window(reference, ref_optimizer, data[7:8]), "flush=True")
    _assert_close(list(model.parameters()), list(reference.parameters()), "final param")
    dist.barrier()


def _fsdp2_case(rank: int) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard  # type: ignore[attr-defined]

    mesh = init_device_mesh("cpu", (WORLD,))
    model = _tiny_model()
    reference = _tiny_model()
    for layer in model:
        if isinstance(layer, nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    toggles: list[bool] = []
    original = model.set_requires_gradient_sync

    def recording(requires_gradient_sync: bool, **kwargs: object) -> None:
        toggles.append(requires_gradient_sync)
        original(requires_gradient_sync, **kwargs)

    model.set_requires_gradient_sync = recording
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    step = TrainStep(model, optimizer, mse, accumulation_steps=2, max_grad_norm=10.0)
    data = _global_batches(4)
    for w in range(2):
        window = data[2 * w : 2 * w + 2]
        results = [step(*micro[rank]) for micro in window]
        assert [r.stepped for r in results] == [False, True]
        _reference_window(reference, ref_optimizer, window)
    assert toggles == [False, True, False, True]  # off for each window's first micro-step
    full = [p.full_tensor() for p in model.parameters()]
    _assert_close(full, list(reference.parameters()), "fsdp2 param")
    dist.barrier()


class Unsupported(Exception):
    """The installed torch cannot run this case on the CPU: skip it, with the reason."""


def _fsdp1_case(rank: int) -> None:
    import torch.distributed as dist

    model = _tiny_model()
    reference = _tiny_model()
    data = _global_batches(4)
    try:  # FSDP1 on the CPU: only some torch releases can; ask the torch at hand
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        fsdp = FSDP(model, device_id=torch.device("cpu"))
        with fsdp.no_sync():
            mse(fsdp(data[0][rank][0]), data[0][rank][1]).backward()
        fsdp.zero_grad(set_to_none=True)
    except Warning:
        raise
    except Exception as exc:  # ImportError, TypeError, RuntimeError, AssertionError ...
        raise Unsupported(f"FSDP1 on the CPU with this torch: {type(exc).__name__}: {exc}") from exc
    optimizer = torch.optim.SGD(fsdp.parameters(), lr=0.1, momentum=0.9)
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    step = TrainStep(fsdp, optimizer, mse, accumulation_steps=2, max_grad_norm=0.05)
    for w in range(2):
        window = data[2 * w : 2 * w + 2]
        results = [step(*micro[rank]) for micro in window]
        assert [r.stepped for r in results] == [False, True]
        ref_optimizer.zero_grad(set_to_none=True)
        x = torch.cat([x for micro in window for x, _ in micro])
        y = torch.cat([y for micro in window for _, y in micro])
        mse(reference(x), y).backward()
        expected_norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.05)
        ref_optimizer.step()
        assert results[1].grad_norm is not None
        assert torch.allclose(results[1].grad_norm, expected_norm, rtol=0, atol=1e-6)
    with FSDP.summon_full_params(fsdp):
        _assert_close(list(fsdp.parameters()), list(reference.parameters()), "fsdp1 param")
    dist.barrier()


CASES = {"ddp": _ddp_case, "fsdp1": _fsdp1_case, "fsdp2": _fsdp2_case}


def _worker(rank: int, port: int, cases: list[str], out: str) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    warnings.simplefilter("error")  # the parent's filterwarnings=error does not reach here
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        for case in cases:
            try:
                CASES[case](rank)
                report = "ok"
            except Unsupported as exc:
                report = f"skip: {exc}"
            except BaseException:
                report = traceback.format_exc()
            with open(os.path.join(out, f"{case}-{rank}.txt"), "w") as fh:
                fh.write(report)
            if report != "ok" and not report.startswith("skip: "):
                break  # the other rank may be stuck in a collective: stop here
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run every case in one pair of processes (starting processes is the slow part)."""
    cases = ["ddp", "fsdp1"] + (["fsdp2"] if capabilities().fsdp2_public else [])
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), cases, str(out)), nprocs=WORLD, join=True)
    reports: dict[str, str] = {}
    for case in cases:
        for rank in range(WORLD):
            path = out / f"{case}-{rank}.txt"
            text = path.read_text() if path.exists() else "did not run (an earlier case failed)"
            if text.startswith("skip: "):
                reports[case] = text
                break
            if text != "ok":
                reports[case] = f"rank {rank}:\n{text}"
                break
        else:
            reports[case] = "ok"
    return reports


def test_ddp_accumulation_equals_large_batch_and_syncs_once_per_window(
    outcomes: dict[str, str],
) -> None:
    assert outcomes["ddp"] == "ok", outcomes["ddp"]


def test_fsdp1_no_sync_and_its_own_clipping_on_cpu(outcomes: dict[str, str]) -> None:
    if outcomes["fsdp1"].startswith("skip: "):
        pytest.skip(outcomes["fsdp1"][len("skip: ") :])
    assert outcomes["fsdp1"] == "ok", outcomes["fsdp1"]


@pytest.mark.skipif(
    not capabilities().fsdp2_public, reason="torch.distributed.fsdp.fully_shard needs torch >= 2.6"
)
def test_fsdp2_accumulation_on_cpu(outcomes: dict[str, str]) -> None:
    assert outcomes["fsdp2"] == "ok", outcomes["fsdp2"]
