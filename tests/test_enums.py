"""Weights enum names on every torchvision: the real enum where it exists, a stand-in with
the same members elsewhere; and the catalog agrees with the installed release."""

from __future__ import annotations

import enum
from typing import Any

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


# --------------------------------------------------------------------------------------------
# The stand-ins' presets do what torchvision's do
# --------------------------------------------------------------------------------------------

#: one member per preset kind (two for ImageClassification: bilinear and bicubic)
PRESET_MEMBERS = [
    ("ImageClassification", "ResNet50_Weights", "IMAGENET1K_V2"),
    ("ImageClassification", "EfficientNet_B3_Weights", "IMAGENET1K_V1"),
    ("ObjectDetection", "FasterRCNN_ResNet50_FPN_Weights", "COCO_V1"),
    ("SemanticSegmentation", "FCN_ResNet50_Weights", "COCO_WITH_VOC_LABELS_V1"),
    ("VideoClassification", "R3D_18_Weights", "KINETICS400_V1"),
    ("OpticalFlow", "Raft_Small_Weights", "C_T_V2"),
]
#: torchvision's preset defaults where the catalog's kwargs leave them out
DEFAULT_STATS = {
    "ImageClassification": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "SemanticSegmentation": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "VideoClassification": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
}
#: per-channel values of the constant images (a preset must keep a constant image constant)
LEVELS = (10, 128, 250)


def _spec(enum_name: str, member: str) -> dict[str, Any]:
    spec: dict[str, Any] = _catalog.enum(enum_name)["members"][member]["transforms"]
    return spec


def _inputs(kind: str, constant: bool) -> tuple[torch.Tensor, ...]:
    """uint8 inputs of a preset kind: random, or constant per channel (``LEVELS``); images
    smaller than the presets' sizes where they resize, so that a missing resize shows."""
    shapes = {
        "ImageClassification": [(3, 100, 120)],
        "ObjectDetection": [(3, 30, 20)],
        "SemanticSegmentation": [(3, 60, 50)],
        "VideoClassification": [(4, 3, 60, 80)],
        "OpticalFlow": [(3, 16, 24), (3, 16, 24)],
    }[kind]
    gen = torch.Generator().manual_seed(0)
    out = []
    for shape in shapes:
        if constant:
            levels = torch.tensor(LEVELS, dtype=torch.uint8).view(3, *([1] * (len(shape) - 1)))
            if len(shape) == 4:  # frames (T, C, H, W)
                levels = levels.view(1, 3, 1, 1)
            out.append(levels.expand(*shape).contiguous())
        else:
            out.append(torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen))
    return tuple(out)


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    difference = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert difference <= atol, f"values differ by up to {difference}"


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def test_preset_members_cover_every_preset_kind() -> None:
    kinds = {
        rec["transforms"]["name"]
        for name in ENUMS
        for rec in _catalog.enum(name)["members"].values()
    }
    assert kinds == {kind for kind, _, _ in PRESET_MEMBERS}
    for kind, enum_name, member in PRESET_MEMBERS:
        assert _spec(enum_name, member)["name"] == kind


@pytest.mark.parametrize(("kind", "enum_name", "member"), PRESET_MEMBERS)
def test_stand_in_presets_transform(kind: str, enum_name: str, member: str) -> None:
    """Shapes, dtypes and values that follow from the catalog's preset arguments (on every
    torchvision: below 0.13 there is no torchvision preset to compare with)."""
    from tvcompat._weights import _stand_in

    kwargs = _spec(enum_name, member)["kwargs"]
    transform = _stand_in(enum_name)[member].transforms()
    inputs = _inputs(kind, constant=False)
    out = _as_tuple(transform(*(x.clone() for x in inputs)))
    assert len(out) == len(inputs)
    assert all(o.dtype == torch.float32 for o in out)
    if kind == "ImageClassification":
        crop = kwargs["crop_size"]
        assert out[0].shape == (3, crop, crop)
    elif kind == "SemanticSegmentation":
        size = kwargs["resize_size"]  # the shorter side, aspect ratio kept
        h, w = inputs[0].shape[1:]
        assert out[0].shape == ((3, size * h // w, size) if w < h else (3, size, size * w // h))
    elif kind == "VideoClassification":
        frames = inputs[0].shape[0]
        assert out[0].shape == (3, frames, *kwargs["crop_size"])  # (C, T, H, W)
    elif kind == "ObjectDetection":  # scaled to [0, 1] only: models normalise themselves
        assert torch.equal(out[0], inputs[0].float() / 255)
    elif kind == "OpticalFlow":  # both frames scaled to [-1, 1]
        for o, x in zip(out, inputs):
            _assert_close(o, x.float() / 255 * 2 - 1, atol=1e-6)
            assert -1 <= o.min() < o.max() <= 1
    if kind in DEFAULT_STATS:
        # a constant image stays constant through resize and crop: every output value is
        # that constant scaled to [0, 1] and normalised by the preset's statistics
        mean, std = DEFAULT_STATS[kind]
        mean, std = kwargs.get("mean", mean), kwargs.get("std", std)
        (flat,) = _as_tuple(transform(_inputs(kind, constant=True)[0]))
        assert flat.shape == out[0].shape
        for channel, (level, m, s) in enumerate(zip(LEVELS, mean, std)):
            expected = torch.full_like(flat[channel], (level / 255 - m) / s)
            _assert_close(flat[channel], expected, atol=1e-5)


def _real_member(enum_name: str, member: str) -> Any:
    real = _real(enum_name)
    if real is None:
        pytest.skip("the installed torchvision has no weights enums (< 0.13)")
    return real[member]


@pytest.mark.parametrize(("kind", "enum_name", "member"), PRESET_MEMBERS)
def test_stand_in_presets_equal_torchvision_presets(kind: str, enum_name: str, member: str) -> None:
    """Where torchvision has the real enum (>= 0.13), the stand-in member's transforms give
    exactly what torchvision's own give, on the same input tensors and on the same PIL images.

    torchvision 0.13-0.16 resize tensor images without antialiasing by default (0.15/0.16
    warn that this changes in 0.17), and the stand-ins antialias as 0.17+ does: there, tensors
    are compared with ``antialias=True`` passed to both where both presets take the argument
    (0.15/0.16's ImageClassification and SemanticSegmentation), and not at all on 0.13/0.14.
    PIL images (always antialiased) are compared on every release, and so are ``repr()`` and
    ``describe()`` (the text torchvision's docs show) where torchvision's preset has them.
    """
    import inspect

    from PIL import Image

    from tvcompat._weights import _stand_in

    stand_in, real = _stand_in(enum_name)[member], _real_member(enum_name, member)
    ours, theirs = stand_in.transforms(), real.transforms()
    assert type(ours).__name__ == type(theirs).__name__ == kind
    if hasattr(theirs, "describe"):
        assert ours.describe() == theirs.describe()
        assert repr(ours) == repr(theirs)
    inputs = _inputs(kind, constant=False)
    compare_tensors = True
    resizes = kind in ("ImageClassification", "SemanticSegmentation")
    if resizes and getattr(theirs, "antialias", None) is not True:  # torchvision < 0.17
        presets = (type(ours), type(theirs))
        compare_tensors = all("antialias" in inspect.signature(t).parameters for t in presets)
        if compare_tensors:
            ours, theirs = stand_in.transforms(antialias=True), real.transforms(antialias=True)
    if compare_tensors:
        got = _as_tuple(ours(*(x.clone() for x in inputs)))
        want = _as_tuple(theirs(*(x.clone() for x in inputs)))
        assert len(got) == len(want) == len(inputs)
        for a, b in zip(got, want):
            _assert_close(a, b, atol=1e-6)
    if kind == "VideoClassification":
        return  # tensors only
    images = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in inputs]
    ours, theirs = stand_in.transforms(), real.transforms()
    got, want = _as_tuple(ours(*images)), _as_tuple(theirs(*images))
    assert len(got) == len(want) == len(inputs)
    for a, b in zip(got, want):
        _assert_close(a, b, atol=1e-6)


def test_seed_metrics() -> None:
    """The catalog's figures for the ResNet-50 example."""
    v1 = tvcompat.ResNet50_Weights.IMAGENET1K_V1.meta
    v2 = tvcompat.ResNet50_Weights.IMAGENET1K_V2.meta
    metrics = "_metrics" if "_metrics" in v1 else "metrics"
    assert v1[metrics]["ImageNet-1K"]["acc@1"] == pytest.approx(76.13)
    assert v2[metrics]["ImageNet-1K"]["acc@1"] == pytest.approx(80.858)
