"""Compat builders build the same models as torchvision, load the weights the rules name,
and never warn.

Weights that must really load come from the torch hub cache, seeded with state dicts of
randomly initialised torchvision models under the official file names: the official bytes
cannot exist here, and a cached file is exactly what torchvision loads without network.
"""

from __future__ import annotations

import posixpath
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

import tvcompat
from tvcompat._versions import capabilities
from tvcompat.errors import TorchvisionTooOldError


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def seed(hub_dir: Path, url: str, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Put ``model``'s state dict in the cache under ``url``'s file name."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    folder = hub_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / posixpath.basename(url))
    return state


def assert_loaded(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    for key, value in got.items():  # (FrozenBatchNorm2d drops num_batches_tracked on load)
        assert torch.equal(value, state[key]), key


def test_random_init_builds_like_torchvision() -> None:
    for call in (
        lambda: tvcompat.resnet18(pretrained=False),
        lambda: tvcompat.resnet18(False),
        lambda: tvcompat.resnet18(weights=None),
        tvcompat.resnet18,
        lambda: tvcompat.resnet18(False, False),
        lambda: tvcompat.get_model("resnet18"),
    ):
        model = call()
        assert type(model) is torchvision.models.ResNet
        assert model.fc.out_features == 1000
    model = tvcompat.resnet18(weights=None, num_classes=7)
    assert model.fc.out_features == 7


def test_detection_without_downloads() -> None:
    model = tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        pretrained=False, pretrained_backbone=False, num_classes=3
    )
    assert model.roi_heads.box_predictor.cls_score.out_features == 3
    model = tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None
    )
    assert model.roi_heads.box_predictor.cls_score.out_features == 91


def test_pretrained_loads_the_legacy_entry(hub_dir: Path) -> None:
    entry = tvcompat.resolve("resnet18", pretrained=True).weights
    assert str(entry) == "ResNet18_Weights.IMAGENET1K_V1"
    state = seed(hub_dir, entry.url, torchvision.models.resnet18())
    for call in (
        lambda: tvcompat.resnet18(pretrained=True),
        lambda: tvcompat.resnet18(True),
        lambda: tvcompat.resnet18(weights="IMAGENET1K_V1"),
        lambda: tvcompat.resnet18(weights="DEFAULT"),
        lambda: tvcompat.resnet18(weights=tvcompat.ResNet18_Weights.IMAGENET1K_V1),
        lambda: tvcompat.resnet18(pretrained=True, weights="IMAGENET1K_V1"),
    ):
        assert_loaded(call(), state)


def test_newer_entry_on_any_release(hub_dir: Path) -> None:
    """MobileNet-V2 IMAGENET1K_V2 came with 0.13; on older releases the architecture exists,
    so tvcompat builds it and loads that entry's file."""
    v1 = tvcompat.MobileNet_V2_Weights.IMAGENET1K_V1
    v2 = tvcompat.MobileNet_V2_Weights.IMAGENET1K_V2
    s1 = seed(hub_dir, v1.url, torchvision.models.mobilenet_v2())
    s2 = seed(hub_dir, v2.url, torchvision.models.mobilenet_v2())
    assert_loaded(tvcompat.mobilenet_v2(pretrained=True), s1)
    assert_loaded(tvcompat.mobilenet_v2(weights="IMAGENET1K_V2"), s2)
    assert_loaded(tvcompat.mobilenet_v2(weights=v2), s2)
    tvcompat.set_pretrained_policy("default")
    try:
        assert_loaded(tvcompat.mobilenet_v2(pretrained=True), s2)
    finally:
        tvcompat.set_pretrained_policy(None)


def test_policy_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVCOMPAT_PRETRAINED", "default")
    assert (
        str(tvcompat.resolve("resnet50", pretrained=True).weights)
        == "ResNet50_Weights.IMAGENET1K_V2"
    )
    assert (
        str(tvcompat.resolve("keypointrcnn_resnet50_fpn", pretrained="legacy").weights)
        == "KeypointRCNN_ResNet50_FPN_Weights.COCO_LEGACY"
    )
    monkeypatch.setenv("TVCOMPAT_PRETRAINED", "legacy")
    assert (
        str(tvcompat.resolve("resnet50", pretrained=True).weights)
        == "ResNet50_Weights.IMAGENET1K_V1"
    )
    monkeypatch.setenv("TVCOMPAT_PRETRAINED", "newest")
    with pytest.raises(ValueError, match="TVCOMPAT_PRETRAINED"):
        tvcompat.resolve("resnet50", pretrained=True)


def test_aux_logits_false_keeps_working(hub_dir: Path) -> None:
    """0.12 loaded the weights, then dropped the auxiliary heads; 0.13+ raises."""
    entry = tvcompat.resolve("googlenet", pretrained=True).weights
    state = seed(
        hub_dir,
        entry.url,
        _quiet(torchvision.models.googlenet, init_weights=False, aux_logits=True),
    )
    model = tvcompat.googlenet(pretrained=True, aux_logits=False)
    assert model.aux1 is None
    assert model.aux2 is None
    assert model.aux_logits is False
    kept = {k: v for k, v in state.items() if not k.startswith(("aux1", "aux2"))}
    assert_loaded(model, kept)


def test_segmentation_aux_loss_false_keeps_working(hub_dir: Path) -> None:
    """0.12 forced aux_loss=True with pretrained weights; 0.13+ raises."""
    entry = tvcompat.resolve("lraspp_mobilenet_v3_large", pretrained=True).weights
    state = seed(
        hub_dir,
        entry.url,
        torchvision.models.segmentation.lraspp_mobilenet_v3_large(pretrained_backbone=False)
        if not capabilities().weights_api
        else torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights_backbone=None),
    )
    model = tvcompat.segmentation.lraspp_mobilenet_v3_large(pretrained=True, aux_loss=False)
    assert_loaded(model, state)


def test_detection_weights_and_backbone(hub_dir: Path) -> None:
    res = tvcompat.resolve(
        "fasterrcnn_mobilenet_v3_large_320_fpn", pretrained=True, pretrained_backbone=True
    )
    assert res.weights_backbone is None  # the full weights include the backbone
    kwargs = (
        {"weights_backbone": None} if capabilities().weights_api else {"pretrained_backbone": False}
    )
    state = seed(
        hub_dir,
        res.weights.url,
        torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(**kwargs),
    )
    model = tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(True)
    assert_loaded(model, state)
    backbone = tvcompat.resolve(
        "fasterrcnn_mobilenet_v3_large_320_fpn", pretrained_backbone=True
    ).weights_backbone
    assert str(backbone) == "MobileNet_V3_Large_Weights.IMAGENET1K_V1"
    seed(hub_dir, backbone.url, torchvision.models.mobilenet_v3_large())
    tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(pretrained_backbone=True)


def test_non_legacy_backbone_entry() -> None:
    """0.13+ loads any backbone entry; 0.10-0.12 only the legacy one, so tvcompat refuses
    there (before downloading anything) and names the version needed."""
    call = {"weights_backbone": "IMAGENET1K_V2"}
    res = tvcompat.resolve("fasterrcnn_mobilenet_v3_large_320_fpn", **call)
    assert str(res.weights_backbone) == "MobileNet_V3_Large_Weights.IMAGENET1K_V2"
    if not capabilities().weights_api:
        with pytest.raises(TorchvisionTooOldError, match=r">= 0\.13"):
            tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(**call)


def test_quantized_resolution() -> None:
    res = tvcompat.resolve("quantized_resnet50", pretrained=True, quantize=True)
    assert str(res.weights) == "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1"
    res = tvcompat.resolve("quantized_resnet50", pretrained=True)
    assert str(res.weights) == "ResNet50_Weights.IMAGENET1K_V1"
    res = tvcompat.resolve("quantized_resnet50", weights="DEFAULT", quantize=True)
    assert str(res.weights) == "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V2"
    model = tvcompat.quantization.mobilenet_v2(pretrained=False)
    assert isinstance(model, torch.nn.Module)


def test_resolution_explains_itself(hub_dir: Path) -> None:
    res = tvcompat.resolve("resnet50", pretrained=True)
    text = str(res)
    assert "ResNet50_Weights.IMAGENET1K_V1" in text
    assert "not cached" in text
    assert res.urls == ("https://download.pytorch.org/models/resnet50-0676ba61.pth",)
    assert res.cached == (False,)
