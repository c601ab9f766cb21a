"""Bad input gets a clear error naming the fix, before anything is built or downloaded."""

from __future__ import annotations

import pytest

import tvcompat
from tvcompat import _catalog
from tvcompat.errors import (
    BuilderNotAvailableError,
    ConflictingArgumentsError,
    NoPretrainedWeightsError,
    TvcompatError,
    UnknownModelError,
    UnknownWeightsError,
    WeightsMismatchError,
)


def _available(name: str) -> bool:
    info = _catalog.builder(name)
    return _catalog.builder_available(info)


def test_unknown_model_with_close_matches() -> None:
    with pytest.raises(UnknownModelError, match="Did you mean resnet50"):
        tvcompat.resolve("resnet05")
    with pytest.raises(UnknownModelError, match="efficientnet_b0"):
        tvcompat.get_model("efficientnet-b0")


def test_unknown_weights_name_case_insensitive_hint() -> None:
    with pytest.raises(UnknownWeightsError, match="Did you mean 'IMAGENET1K_V2'"):
        tvcompat.resolve("resnet50", weights="imagenet1k_v2")
    with pytest.raises(UnknownWeightsError, match="IMAGENET1K_V1"):
        tvcompat.resolve("resnet50", weights="IMAGENET_V1")
    with pytest.raises(UnknownWeightsError, match="no weights enum named 'Resnet50_Weights'"):
        tvcompat.resolve("resnet50", weights="Resnet50_Weights.IMAGENET1K_V1")


def test_weights_of_another_model() -> None:
    with pytest.raises(WeightsMismatchError, match="takes ResNet50_Weights"):
        tvcompat.resolve("resnet50", weights=tvcompat.ResNet18_Weights.DEFAULT)
    with pytest.raises(WeightsMismatchError, match="another model"):
        tvcompat.resolve("resnet50", weights="ResNet18_Weights.IMAGENET1K_V1")
    with pytest.raises(WeightsMismatchError):
        tvcompat.resolve("resnet50", weights=3)
    with pytest.raises(WeightsMismatchError, match="weights_backbone"):
        tvcompat.resolve("fasterrcnn_resnet50_fpn", weights_backbone=tvcompat.VGG16_Weights.DEFAULT)


@pytest.mark.parametrize("name", ["vit_h_14", "regnet_y_128gf"])
def test_pretrained_without_legacy_weights(name: str) -> None:
    if not _available(name):
        with pytest.raises(BuilderNotAvailableError, match=r">= 0\.1"):
            tvcompat.resolve(name, pretrained=True)
        return
    with pytest.raises(NoPretrainedWeightsError, match="SWAG_E2E_V1"):
        tvcompat.resolve(name, pretrained=True)
    assert tvcompat.resolve(name, pretrained=False).weights is None


def test_conflicting_pretrained_and_weights() -> None:
    with pytest.raises(ConflictingArgumentsError, match="disagree"):
        tvcompat.resolve("resnet50", pretrained=True, weights=None)
    with pytest.raises(ConflictingArgumentsError, match="disagree"):
        tvcompat.resolve("resnet50", pretrained=False, weights="DEFAULT")
    with pytest.raises(ConflictingArgumentsError):
        tvcompat.resolve("resnet50", pretrained=True, weights="IMAGENET1K_V2")
    with pytest.raises(ConflictingArgumentsError):
        tvcompat.resolve(
            "fasterrcnn_resnet50_fpn", pretrained_backbone=False, weights_backbone="DEFAULT"
        )
    # agreeing values are fine
    assert (
        str(tvcompat.resolve("resnet50", pretrained=True, weights="IMAGENET1K_V1").weights)
        == "ResNet50_Weights.IMAGENET1K_V1"
    )
    assert tvcompat.resolve("resnet50", pretrained=False, weights=None).weights is None


def test_quantized_weights_need_quantize() -> None:
    with pytest.raises(WeightsMismatchError, match="quantize=True"):
        tvcompat.resolve("quantized_resnet50", weights="IMAGENET1K_FBGEMM_V1")
    with pytest.raises(WeightsMismatchError, match="quantize=True"):
        tvcompat.quantization.resnet50(
            weights=tvcompat.quantization.ResNet50_QuantizedWeights.DEFAULT
        )
    with pytest.raises(WeightsMismatchError, match="quantize=False"):
        tvcompat.resolve("quantized_resnet50", weights="IMAGENET1K_V1", quantize=True)


def test_builder_newer_than_installed() -> None:
    for name, added in (("swin_v2_t", "0.14"), ("swin3d_t", "0.15"), ("swin_t", "0.13")):
        builder = getattr(tvcompat, name, None) or getattr(tvcompat.video, name)
        if _available(name if name != "swin3d_t" else "video.swin3d_t"):
            continue
        with pytest.raises(BuilderNotAvailableError, match=f"torchvision >= {added}"):
            builder()


def test_num_classes_with_weights_says_what_to_do() -> None:
    with pytest.raises(ConflictingArgumentsError, match="replace it"):
        tvcompat.resolve("resnet50", pretrained=True, num_classes=10)
    with pytest.raises(ConflictingArgumentsError, match="1000 classes"):
        tvcompat.resolve("resnet50", weights="DEFAULT", num_classes=10)
    with pytest.raises(ConflictingArgumentsError, match="91 classes"):
        tvcompat.resolve("fasterrcnn_resnet50_fpn", weights="DEFAULT", num_classes=2)
    assert tvcompat.resolve("resnet50", weights=None, num_classes=10).weights is None
    assert tvcompat.resolve("fasterrcnn_resnet50_fpn", weights="DEFAULT", num_classes=91)
    with pytest.raises(ConflictingArgumentsError, match="keypoint"):
        tvcompat.resolve("keypointrcnn_resnet50_fpn", pretrained=True, num_keypoints=5)


def test_argument_shape_errors() -> None:
    with pytest.raises(TypeError, match="at most 2 positional"):
        tvcompat.resolve("resnet50", True, True, True)
    with pytest.raises(TypeError, match="multiple values"):
        tvcompat.resolve("resnet50", True, pretrained=True)
    with pytest.raises(TypeError, match="takes True or False"):
        tvcompat.resolve("resnet50", pretrained="yes")
    with pytest.raises(TypeError, match="unexpected keyword argument 'pretrained_backbone'"):
        tvcompat.resolve("resnet50", pretrained_backbone=True)
    with pytest.raises(UnknownModelError):
        tvcompat.resolve("resnet_fpn_backbone", backbone_name="resnet5", pretrained=True)


def test_errors_are_builtin_subclasses() -> None:
    assert issubclass(UnknownModelError, ValueError)
    assert issubclass(WeightsMismatchError, TypeError)
    assert issubclass(ConflictingArgumentsError, ValueError)
    assert issubclass(ConflictingArgumentsError, TypeError)
    assert all(
        issubclass(e, TvcompatError)
        for e in (UnknownModelError, UnknownWeightsError, NoPretrainedWeightsError)
    )


def test_refused_calls_download_nothing(hub_dir: object) -> None:
    """The builders resolve first: a refused call never reaches the downloader (the session
    fixture refuses any non-loopback connection, so an attempt would fail differently)."""
    with pytest.raises(ConflictingArgumentsError):
        tvcompat.resnet18(pretrained=True, num_classes=3)
    with pytest.raises(UnknownWeightsError):
        tvcompat.resnet18(weights="imagenet")


def test_backbone_utils_weights_name_the_built_backbone() -> None:
    res = tvcompat.resolve(
        "mobilenet_backbone", backbone_name="mobilenet_v3_large", fpn=True, weights="DEFAULT"
    )
    assert str(res.weights) == "MobileNet_V3_Large_Weights.IMAGENET1K_V2"
    with pytest.raises(WeightsMismatchError, match="MobileNet_V3_Large_Weights"):
        tvcompat.resolve(
            "mobilenet_backbone",
            backbone_name="mobilenet_v3_large",
            fpn=True,
            weights="MobileNet_V2_Weights.IMAGENET1K_V1",
        )
