"""Core benchmarks, as ratios measured in the same run (medians of interleaved repeats).

* ``import torchvision, tvcompat`` vs ``import torchvision`` (fresh interpreters), target <= 1.01
* ``tvcompat.resnet50(pretrained=False)`` vs ``torchvision.models.resnet50(weights=None)``
  (``pretrained=False`` before 0.13), target <= 1.01
* resolution alone: ``tvcompat.resolve("resnet50", pretrained=True)``, target < 20 us

Run: ``python benchmarks/bench_core.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import timeit
import warnings


def _spawn(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def bench_import(repeats: int) -> tuple[float, float]:
    base, ours = [], []
    _spawn("import torchvision")  # warm the file cache
    for i in range(repeats):  # the order alternates, so drift hits both alike
        first, second = (base, ours) if i % 2 == 0 else (ours, base)
        for out in (first, second):
            code = "import torchvision" if out is base else "import torchvision, tvcompat"
            out.append(_spawn(code))
    return statistics.median(base), statistics.median(ours)


def tvcompat_import_cost() -> float:
    """Seconds ``import tvcompat`` adds after torchvision (``-X importtime``, cumulative)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import torchvision, tvcompat"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "tvcompat":
            return int(parts[1]) / 1e6
    raise RuntimeError("tvcompat not found in -X importtime output")


def bench_build(repeats: int) -> tuple[float, float]:
    import torch
    import torchvision

    import tvcompat
    from tvcompat._versions import capabilities

    torch.set_num_threads(1)
    kwargs = {"weights": None} if capabilities().weights_api else {"pretrained": False}

    def plain() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torchvision.models.resnet50(**kwargs)

    def compat() -> object:
        return tvcompat.resnet50(pretrained=False)

    plain(), compat()  # warm-up
    base, ours = [], []
    for _ in range(repeats):
        for fn, out in ((plain, base), (compat, ours)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(base), statistics.median(ours)


def bench_resolve() -> float:
    import tvcompat

    tvcompat.resolve("resnet50", pretrained=True)
    number = 20000
    best = min(
        timeit.repeat(
            lambda: tvcompat.resolve("resnet50", pretrained=True), number=number, repeat=5
        )
    )
    return best / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    import torchvision

    print(f"torchvision {torchvision.__version__}, python {sys.version.split()[0]}")
    base, ours = bench_import(args.repeats)
    print(
        f"import: torchvision {base * 1e3:.1f} ms, torchvision+tvcompat {ours * 1e3:.1f} ms, "
        f"ratio {ours / base:.3f} (target <= 1.01)"
    )
    cost = statistics.median(tvcompat_import_cost() for _ in range(5))
    print(
        f"import tvcompat after torchvision (-X importtime, cumulative): {cost * 1e3:.2f} ms "
        f"= {cost / base * 100:.3f} % of import torchvision"
    )
    base, ours = bench_build(args.repeats)
    print(
        f"build resnet50: torchvision {base * 1e3:.1f} ms, tvcompat {ours * 1e3:.1f} ms, "
        f"ratio {ours / base:.3f} (target <= 1.01)"
    )
    per_call = bench_resolve()
    print(f"resolve resnet50(pretrained=True): {per_call * 1e6:.2f} us per call (target < 20 us)")


if __name__ == "__main__":
    main()
