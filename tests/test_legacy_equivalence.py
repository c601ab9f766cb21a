"""For every builder of the installed torchvision: each legacy call form through tvcompat
loads exactly the file torchvision's own legacy path loads, asks tvcompat's downloader for
exactly that file, and emits no warning.

Where the installed torchvision itself cannot serve the legacy form (0.13's undecorated
builders, checkpoints 0.10-0.12 lacked), tvcompat loads what the newest torchvision loads.
"""

from __future__ import annotations

from typing import Any

import pytest

from _intercept import intercept, outcome
from tvcompat import _catalog
from tvcompat._models import registry as _registry
from tvcompat._models.build import torchvision_builder
from tvcompat._models.resolve import _legacy_entry
from tvcompat._models.resolve import resolve as resolve_key
from tvcompat.errors import NoPretrainedWeightsError

AVAILABLE = [
    key for key in _catalog.builder_keys() if _catalog.builder_available(_catalog.builder(key))
]


def legacy_forms(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    family = info["family"]
    if family == "backbone_utils":
        extra = {"fpn": True} if info["name"] == "mobilenet_backbone" else {}
        forms = []
        for form in info["legacy"]:
            arch = _catalog.builder(form.partition("=")[2])
            if _catalog.builder_available(arch):
                forms.append((form, {"backbone_name": arch["name"], "pretrained": True, **extra}))
        return forms
    main = {"pretrained_backbone": False} if family in ("detection", "segmentation") else {}
    forms = [("pretrained=True", {"pretrained": True, **main})]
    if family == "quantization":
        forms.append(("pretrained=True,quantize=True", {"pretrained": True, "quantize": True}))
    if "pretrained=legacy" in info["legacy"]:
        forms.append(("pretrained=legacy", {"pretrained": "legacy", **main}))
    if family in ("detection", "segmentation"):
        forms.append(
            ("pretrained_backbone=True", {"pretrained": False, "pretrained_backbone": True})
        )
    return forms


def test_every_installed_builder_is_covered() -> None:
    """The catalog knows every builder the installed torchvision has (no silent gaps)."""
    import inspect

    from tvcompat._catalog import FAMILY_MODULES

    installed = set()
    for family, module_name in FAMILY_MODULES.items():
        if family == "backbone_utils":
            continue
        try:
            module = __import__(module_name, fromlist=["_"])
        except ImportError:
            continue
        for name in dir(module):
            fn = getattr(module, name)
            if name.startswith("_") or not inspect.isfunction(fn):
                continue
            params = inspect.signature(fn).parameters
            if ("pretrained" in params or "weights" in params) and not name.startswith("get_"):
                installed.add(name if family == "classification" else f"{family}.{name}")
    assert installed
    assert installed <= set(AVAILABLE)


# Warnings torch/torchvision emit while *building* these models, on the releases that have
# them; not the weights/pretrained deprecations under test: torch >= 2.9 deprecates
# torch.ao.quantization; 0.12's SSD calls max_pool2d positionally (torch 1.11 warns); 0.10-0.12's
# quantized inception_v3 leaves init_weights unset in its legacy path.
@pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Note that order of the arguments:UserWarning")
@pytest.mark.filterwarnings(
    "ignore:The default weight initialization of inception_v3:FutureWarning"
)
@pytest.mark.parametrize("key", AVAILABLE)
def test_legacy_forms_load_what_torchvision_loads(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = _catalog.builder(key)
    theirs_fn = torchvision_builder(info["family"], info["name"])
    ours_fn = _registry.builder(info["family"], info["name"])
    with intercept(monkeypatch) as fetched:
        for form, kwargs in legacy_forms(info):
            theirs = outcome(theirs_fn, quiet=True, **kwargs)
            fetched.clear()
            ours = outcome(ours_fn, **kwargs)
            # the catalog records each form under the label legacy_forms gives it, the
            # backbone form too; what sets that form apart is where the entry goes: the
            # backbone slot (and no full weights), not the weights slot
            expected = _legacy_entry(key, form)
            slot, other = (
                ("weights_backbone", "weights")
                if form == "pretrained_backbone=True"
                else ("weights", "weights_backbone")
            )
            if expected is not None:
                resolution = resolve_key(key, (), kwargs)
                assert getattr(resolution, slot) == expected, (form, resolution)
                assert getattr(resolution, other) is None, (form, resolution)
            if isinstance(theirs, str):
                assert ours == theirs, (form, ours)
                assert fetched == [theirs], form
                assert expected is not None, form
                assert expected.url == theirs, (form, expected)
                continue
            if isinstance(theirs, ModuleNotFoundError):
                # this release needs an optional dependency for it (0.10's quantized
                # inception_v3 imports scipy): tvcompat fails the same way
                ours = outcome(ours_fn, quiet=True, **kwargs)  # (its FutureWarning first)
                assert type(ours) is type(theirs), (form, ours)
            elif expected is None:
                assert isinstance(ours, NoPretrainedWeightsError), (form, theirs, ours)
            else:
                assert ours == expected.url, (form, theirs, ours)
