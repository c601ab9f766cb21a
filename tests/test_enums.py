"""Weights enum names on every torchvision: the real enum where it exists, a stand-in with
the same members elsewhere; and the catalog agrees with the installed release."""

from __future__ import annotations

import enum

import pytest
import torch

import tvcompat
from tvcompat import _catalog
from tvcompat._versions import capabilities
from tvcompat._weights import WeightsEnum, enum_class
from tvcompat.errors import UnknownWeightsError, WeightsMismatchError

ENUMS = _catalog.enum_names()


def _real(name: str) -> type[enum.Enum] | None:
    if not capabilities().weights_api:
        return None
    info = _catalog.enum(name)
    if not _catalog.is_available(info["added"]):
        return None  # e.g. 0.13 has no torchvision.models.video.s3d
    module = __import__(info["module"], fromlist=["_"])
    return getattr(module, name)


@pytest.mark.parametrize("name", ENUMS)
def test_enum_names_exist_everywhere(name: str) -> None:
    info = _catalog.enum(name)
    cls = enum_class(name)
    real = _real(name)
    if real is not None:
        assert cls is real
        assert [m.name for m in real] == list(info["members"])
        assert real.DEFAULT.name == info["default"]
        for member in real:  # the catalog names the installed release's URL
            assert tvcompat._weights.Entry(name, member.name).url == member.url
    else:
        assert issubclass(cls, WeightsEnum)
        assert [m.name for m in cls] == list(info["members"])
        assert cls.DEFAULT is cls[info["default"]]
        for member in cls:
            assert member.url.startswith("https://download.pytorch.org/models/")
            meta = member.meta
            if "num_categories" in info["members"][member.name]["meta"]:
                assert (
                    len(meta["categories"])
                    == info["members"][member.name]["meta"]["num_categories"]
                )
            assert callable(member.transforms)
    family = info["family"]
    namespace = tvcompat if family == "classification" else getattr(tvcompat, family)
    assert getattr(namespace, name) is cls


def test_stand_in_presets_and_verify() -> None:
    from tvcompat._weights import _stand_in

    cls = _stand_in("ResNet50_Weights")
    out = cls.IMAGENET1K_V2.transforms()(torch.rand(3, 300, 260))
    assert out.shape == (3, 224, 224)
    assert cls.verify(None) is None
    assert cls.verify("IMAGENET1K_V1") is cls.IMAGENET1K_V1
    assert cls.verify("ResNet50_Weights.DEFAULT") is cls.IMAGENET1K_V2
    assert cls.verify(cls.IMAGENET1K_V1) is cls.IMAGENET1K_V1
    with pytest.raises(UnknownWeightsError, match="IMAGENET1K_V2"):
        cls.verify("imagenet1k_v2")
    with pytest.raises(WeightsMismatchError, match="expected ResNet50_Weights"):
        cls.verify(_stand_in("ResNet18_Weights").DEFAULT)
    assert repr(cls.DEFAULT) == "ResNet50_Weights.IMAGENET1K_V2"
    video = _stand_in("R3D_18_Weights").DEFAULT.transforms()(
        torch.randint(0, 255, (4, 3, 128, 171), dtype=torch.uint8)
    )
    assert video.shape == (3, 4, 112, 112)
    seg = _stand_in("FCN_ResNet50_Weights").DEFAULT.transforms()(torch.rand(3, 600, 500))
    assert seg.shape[0] == 3
    a, b = _stand_in("Raft_Small_Weights").DEFAULT.transforms()(
        torch.rand(3, 8, 8), torch.rand(3, 8, 8)
    )
    assert a.min() >= -1
    assert b.max() <= 1
    det = _stand_in("FasterRCNN_ResNet50_FPN_Weights").DEFAULT.transforms()(
        torch.randint(0, 255, (3, 8, 8), dtype=torch.uint8)
    )
    assert det.dtype == torch.float32


def test_seed_metrics() -> None:
    """The catalog's figures for the ResNet-50 example."""
    v1 = tvcompat.ResNet50_Weights.IMAGENET1K_V1.meta
    v2 = tvcompat.ResNet50_Weights.IMAGENET1K_V2.meta
    metrics = "_metrics" if "_metrics" in v1 else "metrics"
    assert v1[metrics]["ImageNet-1K"]["acc@1"] == pytest.approx(76.13)
    assert v2[metrics]["ImageNet-1K"]["acc@1"] == pytest.approx(80.858)
