"""Pretrained builds with the weights file cached: ``tvcompat.X(pretrained=True)`` (the fast
path, the default) vs ``torchvision.models.X(weights=<the same entry>)``.

Each measurement is a fresh interpreter that imports torch, torchvision and tvcompat, then
builds the model once; the two sides alternate (interleaved, in the same run) and the
medians of the repeats are compared. Measured in the child: the wall time of the build call
alone, and peak RSS (``VmHWM``):

* *build*: the peak of the build with every weight resident (each parameter and buffer read
  once after it: a mapped file's pages count), minus the RSS before the build; the build's
  own memory, what the RSS target is checked on;
* *(weights not yet read)*: the same right after the build (a mapped file not read yet);
* *process*: the whole process's peak right after the build, imports included; the imports
  alone (``import torch, torchvision, tvcompat``, the same on both sides) are printed with
  their share of torchvision's process peak: no build can bring the process below that.

The weights files are generated (random-init state dicts under the official file names in a
temporary torch hub cache): nothing is downloaded. ``torch.set_num_threads(1)`` on both
sides; tvcompat's bytecode is written first, as an installed package has it, and each child
collects garbage before it builds (with torch loaded a full collection takes ~0.2 s: where
one falls due depends on what the process allocated before, and it would land in one side's
build and not the other's).

Targets on the default pair: wall <= 0.3x and build peak RSS <= 0.6x torchvision for
resnet50 and vit_b_16; no model slower than torchvision.

Run: ``python benchmarks/bench_build.py [--repeats N] [--models resnet50,vit_b_16,...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

#: name -> (tvcompat call, extra keyword arguments of both sides)
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "resnet50": ("resnet50", {}),
    "vit_b_16": ("vit_b_16", {}),
    "fasterrcnn_resnet50_fpn": ("detection.fasterrcnn_resnet50_fpn", {}),
    "efficientnet_b0": ("efficientnet_b0", {}),
    "quantized_resnet50": ("quantization.resnet50", {"quantize": True}),
}

_CHILD = r"""
import gc, json, sys, time, warnings
warnings.simplefilter("ignore")

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

import torch, torchvision, tvcompat
torch.set_num_threads(1)
side, call, entry, kwargs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if side == "torchvision":
    family, _, name = call.rpartition(".")
    module = torchvision.models
    for part in filter(None, family.split(".")):
        module = getattr(module, part)
    fn = getattr(module, name)
    weights = torchvision.models.get_weight(entry)
    build = lambda: fn(weights=weights, **kwargs)
else:
    fn = tvcompat
    for part in call.split("."):
        fn = getattr(fn, part)
    build = lambda: fn(pretrained=True, **kwargs)
gc.collect()  # a full collection falling due (~0.2 s with torch loaded) lands in neither build
before = status_kib("VmRSS")
start = time.perf_counter()
model = build()
wall = time.perf_counter() - start
peak = status_kib("VmHWM")  # (not ru_maxrss: Linux carries the parent's across exec)
with torch.no_grad():  # every weight resident: a mapped file's pages are read in
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point() and tensor.numel():
            tensor.sum()
resident = status_kib("VmHWM")
from tvcompat._models import fastload
print(json.dumps({"wall": wall, "peak_kib": peak, "build_kib": peak - before,
                  "resident_kib": resident - before, "imports_kib": before,
                  "outcome": fastload.last_outcome() if side == "tvcompat" else ""}))
"""


def _child(side: str, call: str, entry: str, kwargs: dict[str, Any], env: dict[str, str]) -> Any:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, side, call, entry, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{side} {call}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _generate(call: str, kwargs: dict[str, Any], hub: Path) -> str:
    """Write a random-init state dict under the file name ``tvcompat.<call>(pretrained=True)``
    loads; return the entry's name (``ResNet50_Weights.IMAGENET1K_V1``)."""
    import torch
    import torchvision

    import tvcompat

    family, _, name = call.rpartition(".")
    res = tvcompat.resolve(f"{family}.{name}" if family else name, pretrained=True, **kwargs)
    module = torchvision.models
    for part in filter(None, family.split(".")):
        module = getattr(module, part)
    extra = {"weights_backbone": None} if family == "detection" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(module, name)(weights=None, **extra, **kwargs)
    folder = hub / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / posixpath.basename(res.weights.url))
    return str(res.weights)


def _compile_tvcompat() -> None:
    """Write tvcompat's bytecode, as ``pip install`` does (torch and torchvision come with
    theirs): a source checkout under ``PYTHONDONTWRITEBYTECODE`` would otherwise compile
    tvcompat's modules afresh in every child (~50 ms charged to its side)."""
    import compileall

    import tvcompat

    compileall.compile_dir(str(Path(tvcompat.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:  # (a child: the parent's RSS stays small)
        call, kwargs, hub = args.generate
        print(_generate(call, json.loads(kwargs), Path(hub)))
        return
    names = [n for n in args.models.split(",") if n]
    _compile_tvcompat()
    with tempfile.TemporaryDirectory(prefix="tvcompat-bench-") as home:
        hub = Path(home) / "hub"
        env = {**os.environ, "TORCH_HOME": home, "TVCOMPAT_OFFLINE": "1"}
        env.pop("TVCOMPAT_FAST_PRETRAINED", None)
        rows = []
        for name in names:
            call, kwargs = MODELS[name]
            entry = subprocess.run(
                [sys.executable, __file__, "--generate", call, json.dumps(kwargs), str(hub)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
            for side in ("torchvision", "tvcompat"):  # warm the page cache and imports
                _child(side, call, entry, kwargs, env)
            runs: dict[str, list[Any]] = {"torchvision": [], "tvcompat": []}
            for i in range(args.repeats):  # alternate the order: drift hits both alike
                order = ("torchvision", "tvcompat") if i % 2 == 0 else ("tvcompat", "torchvision")
                for side in order:
                    runs[side].append(_child(side, call, entry, kwargs, env))
            rows.append(_row(name, runs))
            print(_format(rows[-1]), flush=True)
    print(
        "\nmodel | tv wall s | tvc wall s | wall ratio | tv build MiB | tvc build MiB | "
        "build ratio | (weights not yet read) | tv process MiB | tvc process MiB | "
        "process ratio | imports MiB (x tv process) | tvcompat path"
    )
    for row in rows:
        print(_format(row))


def _med(runs: list[Any], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _row(name: str, runs: dict[str, list[Any]]) -> dict[str, Any]:
    tv, ours = runs["torchvision"], runs["tvcompat"]
    return {
        "model": name,
        "tv_wall": _med(tv, "wall"),
        "wall": _med(ours, "wall"),
        "tv_peak": _med(tv, "peak_kib") / 1024,
        "peak": _med(ours, "peak_kib") / 1024,
        "tv_build": _med(tv, "build_kib") / 1024,
        "build": _med(ours, "build_kib") / 1024,
        "tv_resident": _med(tv, "resident_kib") / 1024,
        "resident": _med(ours, "resident_kib") / 1024,
        "imports": _med(tv + ours, "imports_kib") / 1024,
        "outcome": sorted({r["outcome"] for r in ours}),
    }


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 else float("nan")


def _format(row: dict[str, Any]) -> str:
    return (
        f"{row['model']} | {row['tv_wall']:.3f} | {row['wall']:.3f} | "
        f"{_ratio(row['wall'], row['tv_wall']):.2f} | {row['tv_resident']:.0f} | "
        f"{row['resident']:.0f} | {_ratio(row['resident'], row['tv_resident']):.2f} | "
        f"{_ratio(row['build'], row['tv_build']):.2f} | {row['tv_peak']:.0f} | "
        f"{row['peak']:.0f} | {_ratio(row['peak'], row['tv_peak']):.2f} | "
        f"{row['imports']:.0f} ({_ratio(row['imports'], row['tv_peak']):.2f}) | "
        f"{', '.join(row['outcome'])}"
    )


if __name__ == "__main__":
    main()
