"""get_model & friends on every release, with torchvision's semantics where it has them."""

from __future__ import annotations

import pytest
import torch
import torchvision

import tvcompat
from tvcompat._versions import capabilities
from tvcompat.errors import UnknownModelError, UnknownWeightsError

FAMILY_MODULES = ["", "detection", "segmentation", "video", "optical_flow", "quantization"]


def _module(tv: bool, family: str) -> object:
    base = torchvision.models if tv else tvcompat
    return getattr(base, family) if family else base


@pytest.mark.skipif(
    not capabilities().registration_api,
    reason="compared with torchvision's "
    "own list_models, which exists from 0.14 (tested below without it)",
)
@pytest.mark.parametrize("family", FAMILY_MODULES)
def test_list_models_equals_torchvision(family: str) -> None:
    ours = tvcompat.list_models(module=_module(False, family)) if family else None
    if family:
        assert ours == torchvision.models.list_models(module=_module(True, family))
        # torchvision's module objects are accepted too
        assert tvcompat.list_models(module=_module(True, family)) == ours
    assert tvcompat.list_models() == torchvision.models.list_models()
    for name in tvcompat.list_models():
        assert tvcompat.get_model_weights(name) is torchvision.models.get_model_weights(name)


@pytest.mark.skipif(
    not capabilities().list_models_filters,
    reason="torchvision's include/exclude exist from 0.16 (tested below without it)",
)
def test_list_models_filters_equal_torchvision() -> None:
    for include, exclude in [("resnet*", None), (["vit_*", "swin*"], "*_b*"), (None, "*")]:
        assert tvcompat.list_models(
            include=include, exclude=exclude
        ) == torchvision.models.list_models(include=include, exclude=exclude)


def test_list_models_on_every_release() -> None:
    names = tvcompat.list_models()
    assert names == sorted(names)
    assert {"resnet50", "fasterrcnn_resnet50_fpn", "quantized_resnet50", "r3d_18"} <= set(names)
    assert tvcompat.list_models(include="resnet1*") == ["resnet101", "resnet152", "resnet18"]
    assert tvcompat.list_models(module=tvcompat.video, exclude="r*") == [
        n for n in tvcompat.list_models(module=tvcompat.video) if not n.startswith("r")
    ]
    assert all(
        n.startswith("quantized_") for n in tvcompat.list_models(module=tvcompat.quantization)
    )


def test_get_model_and_builder() -> None:
    model = tvcompat.get_model("ResNet18", weights=None, num_classes=10)
    assert isinstance(model, torch.nn.Module)
    assert model.fc.out_features == 10
    model = tvcompat.get_model("resnet18", pretrained=False)
    assert tvcompat.get_model_builder("resnet18") is tvcompat.resnet18
    assert tvcompat.get_model_builder("quantized_resnet18") is tvcompat.quantization.resnet18
    assert tvcompat.get_model_weights("resnet50") is tvcompat.ResNet50_Weights
    assert tvcompat.get_model_weights(tvcompat.resnet50) is tvcompat.ResNet50_Weights
    assert (
        tvcompat.get_model_weights("quantized_resnet50")
        is tvcompat.quantization.ResNet50_QuantizedWeights
    )
    assert tvcompat.get_weight("ResNet50_Weights.DEFAULT") is tvcompat.ResNet50_Weights.DEFAULT


def test_registry_errors() -> None:
    with pytest.raises(UnknownModelError, match="Did you mean resnet50"):
        tvcompat.get_model("resnet5")
    with pytest.raises(UnknownWeightsError, match=r"ResNet50_Weights\.IMAGENET1K_V1"):
        tvcompat.get_weight("IMAGENET1K_V1")
    with pytest.raises(UnknownWeightsError, match="IMAGENET1K_V2"):
        tvcompat.get_weight("ResNet50_Weights.imagenet1k_v2")
    with pytest.raises(UnknownWeightsError, match="ResNet50_Weights"):
        tvcompat.get_weight("ResNet5O_Weights.DEFAULT")
    with pytest.raises(AttributeError):
        _ = tvcompat.resnet5
