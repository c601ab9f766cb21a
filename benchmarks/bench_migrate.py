"""``tvcompat migrate`` against TorchFix (``torchfix --select TOR201``), both in the same run.

Inputs, built here:

* a real tree: the ``.py`` sources of 8 third-party packages (pinned below), fetched with
  ``pip download --no-deps`` into ``~/.cache/tvcompat/bench/`` (``--cache``) and unpacked;
* generated files of 2,500 / 5,000 / 10,000 / 20,000 lines, one legacy call every 5 lines,
  in functions and at module level.

Each tool runs in a fresh process, in report-only mode on both sides (``tvcompat migrate
--check`` and ``torchfix`` without ``--fix``; TorchFix with ``-j 1``, since tvcompat uses one
process), interleaved, ``--repeats`` times; medians are reported. Targets:

* real tree (>= 300 files): tvcompat <= 0.1 x TorchFix's time
* 5,000-line file: tvcompat <= 0.5 x TorchFix's time
* time linear in the file size: seconds per line at 20,000 lines <= 1.5 x that at 2,500
* memory flat in the number of files: peak RSS for all files <= 1.5 x that for 100 files
* the pre-pass never skips a rewrite: on every file of the tree, the pruned passes give the
  output and findings of the full ones (``--no-proof`` skips this check)

TorchFix is not a dependency of tvcompat. Install a pinned release in a separate venv (it
needs libcst < 1.6, so keep it away from tvcompat's)::

    python -m venv /tmp/torchfix && /tmp/torchfix/bin/pip install torchfix==0.7.0

then run ``python benchmarks/bench_migrate.py --torchfix /tmp/torchfix/bin/torchfix`` (or set
``TORCHFIX``) with the python of a venv that has tvcompat and libcst. Exit code 1 when a
target fails, 2 when TorchFix is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

PACKAGES = (
    "basicsr==1.4.2",
    "facenet-pytorch==2.6.0",
    "lpips==0.1.4",
    "piq==0.8.0",
    "pretrainedmodels==0.7.4",
    "pytorch-fid==0.3.0",
    "segmentation-models-pytorch==0.5.0",
    "torchmetrics==1.8.2",
)
SIZES = (2_500, 5_000, 10_000, 20_000)
_CALLS = (
    "models.resnet18(pretrained=True)",
    "resnet50(pretrained=flag)",
    "tvm.vgg16(True)",
    "torchvision.models.densenet121(pretrained=False)",
    "vgg16(pretrained=True, progress=False)",
)
_PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-build-isolation")
_TVCOMPAT = "import sys; from tvcompat.cli import main; sys.exit(main(sys.argv[1:]))"


def build_tree(cache: Path) -> Path:
    """The unpacked ``.py`` sources of :data:`PACKAGES` (downloaded once)."""
    downloads, tree = cache / "dl", cache / "tree"
    marker = tree / ".complete"
    if marker.is_file() and marker.read_text() == "\n".join(PACKAGES):
        return tree
    downloads.mkdir(parents=True, exist_ok=True)
    for spec in PACKAGES:
        subprocess.run(
            [*_PIP_DOWNLOAD, "-d", str(downloads), spec],
            check=True,
        )
    shutil.rmtree(tree, ignore_errors=True)
    wanted = {s.split("==")[0].replace("-", "_").lower(): s for s in PACKAGES}
    for archive in sorted(downloads.iterdir()):
        name = archive.name.split("-")[0].replace("-", "_").lower()
        if name not in wanted or wanted[name].split("==")[1] not in archive.name:
            continue
        dest = tree / name
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    if member.endswith(".py"):
                        (dest / member).parent.mkdir(parents=True, exist_ok=True)
                        (dest / member).write_bytes(z.read(member))
        else:
            with tarfile.open(archive) as t:
                for info in t.getmembers():
                    data = t.extractfile(info) if info.isfile() else None
                    if data is not None and info.name.endswith(".py"):
                        (dest / info.name).parent.mkdir(parents=True, exist_ok=True)
                        (dest / info.name).write_bytes(data.read())
    marker.write_text("\n".join(PACKAGES))
    return tree


def generate(lines: int) -> str:
    """``lines`` lines with a legacy call every 5 lines: functions and module-level code."""
    out = [
        "import torch",
        "import torchvision",
        "from torchvision import models",
        "from torchvision.models import resnet50, vgg16",
        "import torchvision.models as tvm",
        "",
    ]
    i = 0
    while len(out) < lines:
        call = _CALLS[i % len(_CALLS)]
        if i % 2:
            out += [
                f"def build_{i}(flag, x):",
                f"    y = x * {i}",
                f"    m = {call}",
                "    return m, y",
            ]
        else:
            out += [f"flag = {i} % 3 == 0", f"model = {call}", "features = model.features", ""]
        out.append("")
        i += 1
    return "\n".join(out[:lines]) + "\n"


def _timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of ``cmd`` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def tvcompat_cmd(paths: list[Path]) -> list[str]:
    return [sys.executable, "-c", _TVCOMPAT, "migrate", "--check", *map(str, paths)]


def torchfix_cmd(torchfix: str, paths: list[Path]) -> list[str]:
    return [torchfix, "--select", "TOR201", "-j", "1", *map(str, paths)]


def compare(torchfix: str, paths: list[Path], repeats: int) -> tuple[float, float]:
    """Median seconds of tvcompat and TorchFix on ``paths``, interleaved."""
    ours, theirs = [], []
    for i in range(repeats):
        order = (
            ((ours, tvcompat_cmd), (theirs, None))
            if i % 2 == 0
            else ((theirs, None), (ours, tvcompat_cmd))
        )
        for out, cmd in order:
            argv = cmd(paths) if cmd is not None else torchfix_cmd(torchfix, paths)
            out.append(_timed(argv)[0])
    return statistics.median(ours), statistics.median(theirs)


def prove(files: list[Path]) -> tuple[int, int]:
    """(files checked, files that differ): the pruned passes against the full ones."""
    import libcst as cst
    from libcst.codemod import CodemodContext

    from tvcompat._migrate.codemod import _Migrator

    differ = checked = 0
    for path in files:
        data = path.read_bytes()
        if b"torchvision" not in data:
            continue
        try:
            module = cst.parse_module(data)
        except Exception:  # not parsable: migrate leaves it alone as well
            continue
        results = []
        for prune in (True, False):
            migrator = _Migrator(CodemodContext(), "shim")
            migrator.prune = prune
            new = migrator.transform_module(module)
            results.append((new.code, sorted(migrator.findings, key=lambda f: (f.line, f.column))))
        checked += 1
        if results[0] != results[1]:
            differ += 1
            print(f"  pre-pass changed the result of {path}")
    return checked, differ


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--torchfix", default=os.environ.get("TORCHFIX", "torchfix"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/tvcompat/bench")
    parser.add_argument("--no-proof", action="store_true")
    args = parser.parse_args()
    torchfix = shutil.which(args.torchfix)
    if torchfix is None:
        print(
            f"TorchFix not found ({args.torchfix!r}): install it in its own venv "
            "(python -m venv /tmp/torchfix && /tmp/torchfix/bin/pip install torchfix==0.7.0) "
            "and pass --torchfix /tmp/torchfix/bin/torchfix or set TORCHFIX",
            file=sys.stderr,
        )
        raise SystemExit(2)
    tree = build_tree(args.cache)
    files = sorted(tree.rglob("*.py"))
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    print(f"python {sys.version.split()[0]}; {torchfix}; repeats {args.repeats}, medians")
    print(f"real tree: {len(files)} files, {lines} lines ({', '.join(PACKAGES)})")
    results: list[tuple[str, bool]] = []

    ours, theirs = compare(torchfix, [tree], args.repeats)
    ratio = ours / theirs
    print(f"  tvcompat {ours:.2f} s, TorchFix {theirs:.2f} s, ratio {ratio:.3f} (target <= 0.1)")
    results.append(("real tree <= 0.1 x TorchFix", len(files) >= 300 and ratio <= 0.1))

    with tempfile.TemporaryDirectory() as tmp:
        per_line = {}
        for size in SIZES:
            path = Path(tmp) / f"generated_{size}.py"
            path.write_text(generate(size), "utf-8")
            if size == 5_000:
                ours, theirs = compare(torchfix, [path], args.repeats)
                ratio = ours / theirs
                print(
                    f"5,000-line file (1,000 legacy calls): tvcompat {ours:.2f} s, TorchFix "
                    f"{theirs:.2f} s, ratio {ratio:.3f} (target <= 0.5)"
                )
                results.append(("5,000 lines <= 0.5 x TorchFix", ratio <= 0.5))
            else:
                ours = statistics.median(
                    _timed(tvcompat_cmd([path]))[0] for _ in range(args.repeats)
                )
            per_line[size] = ours / size
        for size, seconds in per_line.items():
            print(
                f"  {size:>6} lines: tvcompat {seconds * size:.2f} s, {seconds * 1e6:.0f} us/line"
            )
        growth = per_line[SIZES[-1]] / per_line[SIZES[0]]
        print(f"  time per line, {SIZES[-1]} vs {SIZES[0]} lines: x{growth:.2f} (target <= 1.5)")
        results.append(("time linear in file size", growth <= 1.5))

    few = statistics.median(_timed(tvcompat_cmd(files[:100]))[1] for _ in range(args.repeats))
    many = statistics.median(_timed(tvcompat_cmd(files))[1] for _ in range(args.repeats))
    print(f"peak RSS: 100 files {few / 1024:.0f} MiB, {len(files)} files {many / 1024:.0f} MiB")
    results.append(("memory flat in the number of files", many <= 1.5 * few))

    if not args.no_proof:
        checked, differ = prove(files)
        print(f"pre-pass proof: {checked} files with torchvision, {differ} differ")
        results.append(("pre-pass never skips a rewrite", differ == 0))

    for name, ok in results:
        print(f"{_verdict(ok)}  {name}")
    raise SystemExit(0 if all(ok for _, ok in results) else 1)


if __name__ == "__main__":
    main()
