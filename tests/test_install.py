"""``tvcompat.install()``: torchvision's own builders take legacy and new arguments, old
releases get the new-API names, and ``uninstall()`` restores every module attribute and
``sys.modules`` entry by identity. Real torchvision; only the weights fetch and load are
intercepted (the official files cannot exist here)."""

from __future__ import annotations

import inspect
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torchvision
import torchvision.models

import tvcompat
import tvcompat._install
from _intercept import intercept, outcome
from tvcompat import _catalog
from tvcompat._models.build import is_tvcompat_builder
from tvcompat._versions import capabilities

CAPS = capabilities()


def _snapshot() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """torchvision's entries of sys.modules, and every attribute of each."""
    modules = {k: v for k, v in sys.modules.items() if k.startswith("torchvision")}
    attrs = {
        name: {k: v for k, v in vars(m).items() if k != "__warningregistry__"}
        for name, m in modules.items()
        if name.startswith("torchvision") and m is not None
    }
    return modules, attrs


def _assert_same(before: tuple[dict[str, Any], dict[str, dict[str, Any]]]) -> None:
    modules, attrs = before
    now_modules, now_attrs = _snapshot()
    assert set(now_modules) == set(modules)
    assert all(now_modules[k] is v for k, v in modules.items())
    for name, values in attrs.items():
        now = now_attrs[name]
        assert set(now) == set(values), name
        changed = [k for k, v in values.items() if now[k] is not v]
        assert not changed, (name, changed)


@pytest.fixture
def installed() -> Iterator[tvcompat._install.InstallReport]:
    with tvcompat.installed() as report:
        yield report


def _available() -> list[tuple[str, str]]:
    out = []
    for key in _catalog.builder_keys():
        info = _catalog.builder(key)
        assert info is not None
        if _catalog.builder_available(info):
            out.append((info["family"], info["name"]))
    return out


def test_import_tvcompat_changes_nothing() -> None:
    before = _snapshot()
    import tvcompat.downloads

    _ = tvcompat.resnet18, tvcompat.list_models()
    assert not tvcompat.is_installed()
    _assert_same(before)
    assert not is_tvcompat_builder(torchvision.models.resnet18)


def test_install_then_uninstall_restores_everything_by_identity() -> None:
    before = _snapshot()
    report = tvcompat.install()
    try:
        assert tvcompat.is_installed()
        assert tvcompat.install() is report  # idempotent
        assert report.builders == len(_available())
        assert is_tvcompat_builder(torchvision.models.resnet18)
    finally:
        assert tvcompat.uninstall()
    assert not tvcompat.uninstall()
    assert not tvcompat.is_installed()
    _assert_same(before)


def test_installing_from_many_threads_installs_once() -> None:
    reports: list[Any] = []
    threads = [
        threading.Thread(target=lambda: reports.append(tvcompat.install())) for _ in range(8)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(r) for r in reports}) == 1
    finally:
        tvcompat.uninstall()


@pytest.mark.usefixtures("installed")
def test_every_builder_is_replaced_wherever_code_imports_it() -> None:
    for family, name in _available():
        module = sys.modules[_catalog.FAMILY_MODULES[family]]
        fn = getattr(module, name)
        assert is_tvcompat_builder(fn), (family, name)
        original = fn.__wrapped__
        assert not is_tvcompat_builder(original)
        assert fn.__name__ == original.__name__
        assert fn.__module__ == original.__module__
        assert (original.__doc__ or "") in (fn.__doc__ or "")
        params = inspect.signature(fn).parameters
        info = _catalog.builder(f"{family}.{name}" if family != "classification" else name)
        assert info is not None
        assert set(info["weights_params"]) <= set(params)
        assert set(info["legacy_params"]) <= set(params)
        defining = sys.modules[original.__module__]  # torchvision.models.resnet.resnet50
        if getattr(defining, name, None) is not None:
            assert getattr(defining, name) is fn
    if CAPS.registration_api:
        from torchvision.models import _api

        for fn in _api.BUILTIN_MODELS.values():
            assert is_tvcompat_builder(fn)


@pytest.mark.usefixtures("installed")
def test_legacy_and_new_calls_load_tvcompats_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import detection, quantization

    calls = [
        ("resnet50", torchvision.models.resnet50, {"pretrained": True}),
        ("resnet50", torchvision.models.resnet50, {"weights": "IMAGENET1K_V2"}),
        (
            "quantized_mobilenet_v2",
            quantization.mobilenet_v2,
            {"pretrained": True, "quantize": True},
        ),
        ("fasterrcnn_resnet50_fpn", detection.fasterrcnn_resnet50_fpn, {"pretrained": True}),
        ("fasterrcnn_resnet50_fpn", detection.faster_rcnn.fasterrcnn_resnet50_fpn, {}),
    ]
    with intercept(monkeypatch) as fetched, warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, fn, kwargs in calls:
            expected = tvcompat.resolve(name, **kwargs).urls
            fetched.clear()
            got = outcome(fn, **kwargs)
            if expected:
                assert got == expected[0], (name, kwargs)
                assert fetched == list(expected), (name, kwargs)
            else:
                assert got is None, (name, kwargs, got)
        got = outcome(torchvision.models.get_model, "resnet50", pretrained=True)
        assert got == tvcompat.resolve("resnet50", pretrained=True).urls[0]


@pytest.mark.usefixtures("installed")
def test_models_are_torchvisions_own_classes() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(pretrained=False)
    assert type(model) is torchvision.models.ResNet
    assert model.fc.out_features == 1000


@pytest.mark.usefixtures("installed")
def test_new_api_names_on_every_release(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import (  # type: ignore[attr-defined]
        ResNet50_Weights,
        WeightsEnum,
        get_model,
        get_model_weights,
        get_weight,
        list_models,
    )
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights
    from torchvision.models.resnet import ResNet50_Weights as same

    assert same is ResNet50_Weights
    assert issubclass(ResNet50_Weights, WeightsEnum)
    assert get_model_weights("resnet50") is ResNet50_Weights
    assert get_weight("ResNet50_Weights.IMAGENET1K_V1") is ResNet50_Weights.IMAGENET1K_V1
    assert "resnet50" in list_models()
    assert FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"][1] == "person"
    weights = ResNet50_Weights.IMAGENET1K_V1
    assert weights.meta["categories"][0] == "tench"
    image = torch.rand(3, 300, 400)
    with warnings.catch_warnings():  # 0.15/0.16's presets warn about antialias: not tested here
        warnings.simplefilter("ignore")
        assert tuple(weights.transforms()(image).shape) == (3, 224, 224)
    with intercept(monkeypatch):
        got = outcome(torchvision.models.resnet50, weights=weights)
        assert got == weights.url
        assert outcome(get_model, "resnet50", weights="DEFAULT") == (ResNet50_Weights.DEFAULT.url)


@pytest.mark.skipif(not CAPS.weights_api, reason="torchvision < 0.13 never warns")
def test_torchvisions_deprecation_warnings_are_silenced_only_while_installed() -> None:
    original = torchvision.models.resnet18
    with tvcompat.installed():  # the suite turns warnings into errors: none may escape
        original(pretrained=False)  # torchvision's own legacy path, which warns
    with pytest.warns(UserWarning, match="deprecated since 0.13"):
        original(pretrained=False)


def test_assigning_a_tvcompat_builder_into_torchvision_does_not_recurse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torchvision.models, "alexnet", tvcompat.alexnet)
    model = tvcompat.alexnet(pretrained=False)
    assert type(model) is torchvision.models.AlexNet
    model = torchvision.models.alexnet(pretrained=False)
    assert type(model) is torchvision.models.AlexNet


def test_a_failure_while_installing_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    from tvcompat._install import removed

    def broken(patcher: Any) -> int:
        raise RuntimeError("boom")

    before = _snapshot()
    monkeypatch.setattr(tvcompat._install, "restore_removed", broken)
    with pytest.raises(RuntimeError, match="boom"):
        tvcompat.install()
    assert not tvcompat.is_installed()
    _assert_same(before)
    assert removed.restore_removed is not broken
