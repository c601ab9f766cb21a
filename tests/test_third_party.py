"""Real third-party packages from the package registry, unmodified, on real releases.

nox installs them (``noxfile.THIRD_PARTY``, with ``--no-deps`` so torch is never replaced)
on the pairs listed there; on every other pair these tests skip. Each check runs in a fresh
interpreter (a failed import in this process would poison ``sys.modules``, and ``install()``
must come before the package's first import), with ``-W error`` like the suite's
``filterwarnings = error``, ``TORCH_HOME`` at a hub cache seeded with a randomly initialised
torchvision state dict under the official file name, and proxies that refuse connections,
so an accidental download fails fast. Nothing may be added to the cache either.

- **lpips 0.1.4** calls ``torchvision.models.alexnet(pretrained=True)``: on 0.13+ that warns
  (``pretrained`` and its positional form are deprecated); with tvcompat installed it must
  not warn at all and load the same file plain torchvision loads.
- **torchmetrics 1.9** imports ``VGG16_Weights`` from ``torchvision.models`` and looks up
  ``SqueezeNet1_1_Weights`` & co there: on 0.12 it fails at ``import torchmetrics`` (checked);
  with tvcompat installed it imports, builds its LPIPS metric and loads the file plain
  torchvision loads for that entry.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

from test_builders import seed
from tvcompat._versions import torchvision_version

NOXFILE = Path(__file__).resolve().parents[1] / "noxfile.py"
#: seconds one child may take (cold torch + package import on a busy 2-core machine)
TIMEOUT = 300
REFUSING_PROXY = "http://127.0.0.1:9"  # discard port: nothing listens, connections fail

#: LPIPS trunk name → (torchvision builder, weights enum, module holding 0.12's model_urls)
TRUNKS = {
    "alex": ("alexnet", "AlexNet_Weights", "alexnet"),
    "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights", "squeezenet"),
    "vgg": ("vgg16", "VGG16_Weights", "vgg"),
}

CHILD = r"""
import json
import sys
import warnings

cfg = json.loads(sys.argv[1])
# torch 1.10-1.11's own warning on every ceil_mode max-pool call (SqueezeNet's), whoever calls
warnings.filterwarnings(
    "ignore", "Note that order of the arguments: ceil_mode", UserWarning, "torch.nn.functional"
)

import torch


def build_and_score():
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    if cfg["package"] == "lpips":
        import lpips

        model = lpips.LPIPS(net=cfg["net"], verbose=False)
        backbone = model.net
        with torch.no_grad():
            score, same = model(x, y), model(x, x)
        assert score.shape == (2, 1, 1, 1), score.shape
        return backbone, score.mean().item(), same.abs().max().item(), lpips.__name__
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    metric = LearnedPerceptualImagePatchSimilarity(net_type=cfg["net"])
    backbone = metric.net.net
    score, same = metric(x, y), metric(x, x)
    assert metric.compute().ndim == 0
    return backbone, score.item(), same.abs().item(), "torchmetrics"


def run():
    if not cfg["record"]:  # -W error: any warning fails the child
        return build_and_score(), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build_and_score()
    return result, [f"{w.category.__name__}: {w.message}" for w in caught]


if cfg["install"]:
    import tvcompat

    with tvcompat.installed():
        (backbone, score, same, _), caught = run()
else:
    (backbone, score, same, _), caught = run()

# The trunk's tensors are the seeded file's `features.*` (the packages keep torchvision's
# layer indices: sliceK.I.* / slices.K.I.* is features.I.*).
seeded = torch.load(cfg["seeded"], map_location="cpu")
checked = set()
for key, value in backbone.state_dict().items():
    parts = key.split(".")
    name = "features." + ".".join(parts[2:] if parts[0] == "slices" else parts[1:])
    assert torch.equal(value, seeded[name]), key
    checked.add(name)
missing = sorted({k for k in seeded if k.startswith("features.")} - checked)
assert not missing, missing

import torchvision
import tvcompat

print("REPORT " + json.dumps({
    "torchvision": torchvision.__version__,
    "installed_at_end": tvcompat.is_installed(),
    "checked": len(checked),
    "score": score,
    "same": same,
    "warnings": caught,
}), flush=True)
"""


# --------------------------------------------------------------------------------------------
# Which pairs have which package
# --------------------------------------------------------------------------------------------


def _third_party() -> dict[str, list[str]]:
    """``THIRD_PARTY`` from the noxfile (read, not imported: nox is not in the test venvs)."""
    if not NOXFILE.exists():  # pragma: no cover - tests run from a clone
        return {}
    for node in ast.parse(NOXFILE.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "THIRD_PARTY" and node.value:
            value: dict[str, list[str]] = ast.literal_eval(node.value)
            return value
    return {}


def require(dist: str, module: str) -> None:
    """Skip unless ``dist`` is installed here. In a venv that nox made (its marker file names
    the pin), the package must be there, at the pinned version."""
    pins = {
        tv: pin
        for tv, pins in _third_party().items()
        for pin in pins
        if pin.startswith(dist + "==")
    }
    marker = Path(sys.prefix) / ".tvcompat-pair"
    nox_pin = next(
        (pin for pin in pins.values() if marker.exists() and pin in marker.read_text().split()),
        None,
    )
    if importlib.util.find_spec(module) is None:  # finds it without importing it
        if nox_pin is not None:
            pytest.fail(f"{marker} records {nox_pin}, but {module} is not installed")
        pairs = ", ".join(f"tv{tv}" for tv in pins) or "none"
        pytest.skip(f"{dist}: installed for pair {pairs} only (noxfile THIRD_PARTY)")
    if nox_pin is not None:
        assert f"{dist}=={metadata.version(dist)}" == nox_pin


# --------------------------------------------------------------------------------------------
# Running a child
# --------------------------------------------------------------------------------------------


def plain_url(trunk: str) -> str:
    """The file plain torchvision loads for the trunk's ``pretrained=True`` / ``IMAGENET1K_V1``
    (the only entry these three architectures have), read from torchvision itself."""
    builder, enum, module = TRUNKS[trunk]
    if torchvision_version().release < (0, 13):
        url: str = importlib.import_module(f"torchvision.models.{module}").model_urls[builder]
    else:
        url = getattr(torchvision.models, enum).IMAGENET1K_V1.url
    return url


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def _env(torch_home: Path) -> dict[str, str]:
    """This environment without tvcompat run or warning settings, TORCH_HOME at the seeded
    folder, and proxies that refuse every connection."""
    drop = ("TVCOMPAT_RUN", "PYTHONWARNINGS", "PYTHONPATH", "NO_PROXY", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["TORCH_HOME"] = str(torch_home)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        env[name] = REFUSING_PROXY
    return env


def run_child(
    hub_dir: Path,
    package: str,
    trunk: str,
    *,
    install: bool,
    record: bool = False,
    prefix: tuple[str, ...] = (),
    fails_with: str | None = None,
) -> dict[str, Any]:
    """Seed the cache with the trunk's file, run :data:`CHILD` (after ``prefix``, e.g.
    ``tvcompat run``) and return its report, having checked that nothing was downloaded."""
    builder = getattr(torchvision.models, TRUNKS[trunk][0])
    torch.manual_seed(0)
    url = plain_url(trunk)
    seed(hub_dir, url, builder())
    seeded = hub_dir / "checkpoints" / url.rsplit("/", 1)[-1]
    before = _snapshot(hub_dir)
    cfg = {
        "package": package,
        "net": trunk,
        "install": install,
        "record": record,
        "seeded": str(seeded),
    }
    argv = [*prefix, sys.executable, "-W", "error", "-c", CHILD, json.dumps(cfg)]
    done = subprocess.run(
        argv,
        env=_env(hub_dir.parent),  # TORCH_HOME/hub is `hub_dir`
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    if fails_with is not None:  # the problem tvcompat fixes, shown without it
        assert done.returncode != 0, output
        assert fails_with in done.stderr, output
        assert _snapshot(hub_dir) == before, output
        return {}
    assert done.returncode == 0, output
    assert _snapshot(hub_dir) == before, f"the child changed the cache (a download?)\n{output}"
    reports = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert len(reports) == 1, output
    report: dict[str, Any] = json.loads(reports[0][len("REPORT ") :])
    assert report["torchvision"] == torchvision.__version__
    assert report["checked"] > 0
    assert report["score"] > 0, report  # two random images differ...
    assert report["same"] < 1e-6, report  # ...and an image is like itself
    return report


# --------------------------------------------------------------------------------------------
# lpips
# --------------------------------------------------------------------------------------------


def test_lpips_plain_shows_the_problem(hub_dir: Path) -> None:
    """Without tvcompat, lpips warns on 0.13+ (``pretrained=True``); it loads the same file."""
    require("lpips", "lpips")
    report = run_child(hub_dir, "lpips", "alex", install=False, record=True)
    if torchvision_version().release >= (0, 13):
        warned = report["warnings"]  # `pretrained`, then `weights=True`, deprecated
        assert len(warned) == 2, report
        assert all("deprecated since 0.13" in w for w in warned), report
    else:
        assert report["warnings"] == [], report


def test_lpips_with_tvcompat_installed(hub_dir: Path) -> None:
    """``lpips.LPIPS(net="alex")`` with tvcompat installed: not one warning (``-W error``), the
    file plain torchvision loads for ``alexnet(pretrained=True)``, a forward pass."""
    require("lpips", "lpips")
    report = run_child(hub_dir, "lpips", "alex", install=True)
    assert report["warnings"] == []
    assert not report["installed_at_end"]  # installed() took it back


# --------------------------------------------------------------------------------------------
# torchmetrics
# --------------------------------------------------------------------------------------------


def test_torchmetrics_plain_fails_before_0_13(hub_dir: Path) -> None:
    """Without tvcompat, torchmetrics 1.9 cannot even be imported on torchvision < 0.13 (its
    DISTS module imports ``VGG16_Weights``); on 0.13+ its LPIPS metric works as it is."""
    require("torchmetrics", "torchmetrics")
    if torchvision_version().release < (0, 13):
        run_child(
            hub_dir,
            "torchmetrics",
            "squeeze",
            install=False,
            fails_with="cannot import name 'VGG16_Weights' from 'torchvision.models'",
        )
    else:
        report = run_child(hub_dir, "torchmetrics", "squeeze", install=False)
        assert report["warnings"] == []


def test_torchmetrics_lpips_squeeze_with_tvcompat_installed(hub_dir: Path) -> None:
    """The LPIPS metric (``getattr(torchvision.models, "SqueezeNet1_1_Weights").DEFAULT``)
    imports, builds, computes and loads plain torchvision's file with tvcompat installed."""
    require("torchmetrics", "torchmetrics")
    report = run_child(hub_dir, "torchmetrics", "squeeze", install=True)
    assert report["warnings"] == []


def test_torchmetrics_lpips_vgg_with_tvcompat_installed(hub_dir: Path) -> None:
    """``net_type="vgg"`` (the module naming ``VGG16_Weights``), with tvcompat installed."""
    require("torchmetrics", "torchmetrics")
    report = run_child(hub_dir, "torchmetrics", "vgg", install=True)
    assert report["warnings"] == []


def test_torchmetrics_under_tvcompat_run(hub_dir: Path) -> None:
    """``tvcompat run python -c ...``: the command's process gets tvcompat installed when it
    imports torchvision, and the metric works there."""
    require("torchmetrics", "torchmetrics")
    report = run_child(
        hub_dir,
        "torchmetrics",
        "squeeze",
        install=False,
        prefix=(sys.executable, "-m", "tvcompat", "run"),
    )
    assert report["installed_at_end"]
    assert report["warnings"] == []
