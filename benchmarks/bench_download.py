"""Benchmark: tvcompat's downloader vs ``torch.hub.download_url_to_file``.

Both download the same file from a loopback HTTPS server (``tests/https_server.py``, run in a
subprocess so it does not share the GIL), with the same certificate scope and the same
sha256-prefix check; tvcompat goes through the weights mirror setting, as ``prefetch`` and
the builders do. Rounds are interleaved (the order alternates) and medians are reported.

Memory: the Python-allocation peak (tracemalloc) and the peak-RSS growth of one download,
for two file sizes; neither may grow with the file size.

    python benchmarks/bench_download.py [--size-mb 100] [--rounds 7]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def make_file(folder: Path, stem: str, size: int) -> tuple[str, str]:
    """A random file named ``<stem>-<sha256[:8]>.pth`` under ``folder/models``; its name and
    hash prefix."""
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    raw = models / f"{stem}.tmp"
    with raw.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    prefix = digest.hexdigest()[:8]
    name = f"{stem}-{prefix}.pth"
    raw.replace(models / name)
    return name, prefix


def start_server(folder: Path) -> tuple[subprocess.Popen[str], int, str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "https_server.py"), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port, ca_file = server.stdout.readline().split()
    return server, int(port), ca_file


def rss_peak_reset() -> bool:
    """Reset the kernel's peak-RSS mark (Linux); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def timed(fn: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--small-mb", type=int, default=25, help="second size for memory")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()

    import torch.hub

    from tvcompat import _settings
    from tvcompat.downloads import cafile_downloads, ensure_cached

    with tempfile.TemporaryDirectory(prefix="tvcompat-bench-") as tmp:
        tmp_path = Path(tmp)
        served = tmp_path / "served"
        big, big_prefix = make_file(served, "big", options.size_mb << 20)
        small, small_prefix = make_file(served, "small", options.small_mb << 20)
        server, port, ca_file = start_server(served)
        hub = tmp_path / "hub"
        torch.hub.set_dir(str(hub))
        checkpoints = hub / "checkpoints"
        checkpoints.mkdir(parents=True)
        base = f"https://127.0.0.1:{port}"
        _settings.set_mirror(base)
        official = "https://download.pytorch.org/models/{}"
        try:
            with cafile_downloads(cafile=ca_file):

                def run_torch(name: str, prefix: str) -> None:
                    dst = tmp_path / name
                    torch.hub.download_url_to_file(
                        f"{base}/models/{name}", str(dst), prefix, progress=False
                    )
                    dst.unlink()

                def run_tvcompat(name: str, prefix: str) -> None:
                    path = ensure_cached(official.format(name), progress=False)
                    path.unlink()

                contenders = {"torch.hub": run_torch, "tvcompat": run_tvcompat}
                for fn in contenders.values():  # warm up: imports, TLS, page cache
                    fn(small, small_prefix)
                seconds: dict[str, list[float]] = {k: [] for k in contenders}
                for i in range(options.rounds):
                    order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
                    for key in order:
                        seconds[key].append(timed(lambda k=key: contenders[k](big, big_prefix)))

                size_mb = options.size_mb * 1.048576  # MB (10^6) per MiB
                print(f"file: {options.size_mb} MiB over loopback HTTPS, {options.rounds} rounds")
                medians = {}
                for key, values in seconds.items():
                    medians[key] = statistics.median(values)
                    runs = ", ".join(f"{size_mb / v:.0f}" for v in values)
                    print(
                        f"  {key:10s} median {size_mb / medians[key]:7.1f} MB/s (runs: {runs} MB/s)"
                    )
                ratio = medians["torch.hub"] / medians["tvcompat"]
                print(f"  throughput ratio tvcompat / torch.hub: {ratio:.3f} (target >= 0.95)")

                print("memory per download (tracemalloc peak | peak RSS growth):")
                for key, fn in contenders.items():
                    row = []
                    for name, prefix, mib in (
                        (small, small_prefix, options.small_mb),
                        (big, big_prefix, options.size_mb),
                    ):
                        gc.collect()
                        resettable = rss_peak_reset()
                        before = rss_kib("VmRSS")
                        tracemalloc.start()
                        fn(name, prefix)
                        peak = tracemalloc.get_traced_memory()[1]
                        tracemalloc.stop()
                        growth = rss_kib("VmHWM") - before if resettable else float("nan")
                        row.append(f"{mib} MiB: {peak / 1024:7.0f} KiB | {growth / 1024:5.1f} MiB")
                    print(f"  {key:10s} " + "   ".join(row))
        finally:
            _settings.set_mirror(None)
            assert server.stdin is not None
            server.stdin.close()
            server.wait(10)


if __name__ == "__main__":
    main()
