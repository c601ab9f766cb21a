"""Benchmark: ``tvcompat weights resnet50`` vs ``python -c "import torchvision"``.

The command must answer in at most 1.2x the time Python takes to import torchvision: it reads
tvcompat's catalog and the installed versions' metadata, and finds the torch hub cache without
importing torch. Both are run as fresh subprocesses, interleaved (the order alternates each
round) after one warm-up run each; medians are compared. Exit code 1 if over the limit.

    python benchmarks/bench_cli_weights.py [--rounds 9] [--limit 1.2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def command() -> list[str]:
    """The installed ``tvcompat`` script next to this Python, else ``python -m tvcompat``."""
    script = Path(sys.executable).with_name("tvcompat")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("tvcompat")
    if found and Path(found).parent == Path(sys.executable).parent:
        return [found]
    return [sys.executable, "-m", "tvcompat"]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--limit", type=float, default=1.2)
    args = parser.parse_args()
    baseline = [sys.executable, "-c", "import torchvision"]
    tvc = [*command(), "weights", "resnet50"]
    runs: dict[str, list[float]] = {"import torchvision": [], "tvcompat weights": []}
    timed(baseline)  # warm the file system cache for both
    timed(tvc)
    for i in range(args.rounds):
        order = [("import torchvision", baseline), ("tvcompat weights", tvc)]
        for name, argv in order if i % 2 == 0 else reversed(order):
            runs[name].append(timed(argv))
    base = statistics.median(runs["import torchvision"])
    ours = statistics.median(runs["tvcompat weights"])
    ratio = ours / base
    import torchvision  # only for the report

    print(
        f"python {sys.version.split()[0]}, torchvision {torchvision.__version__}, "
        f"{args.rounds} rounds, medians:"
    )
    print(
        f"  python -c 'import torchvision'   {base * 1000:8.1f} ms "
        f"(min {min(runs['import torchvision']) * 1000:.1f})"
    )
    print(
        f"  {' '.join(Path(a).name if a == tvc[0] else a for a in tvc):<32} "
        f"{ours * 1000:8.1f} ms (min {min(runs['tvcompat weights']) * 1000:.1f})"
    )
    verdict = "ok" if ratio <= args.limit else "TOO SLOW"
    print(f"  ratio {ratio:.3f} (limit {args.limit}): {verdict}")
    return 0 if ratio <= args.limit else 1


if __name__ == "__main__":
    raise SystemExit(main())
