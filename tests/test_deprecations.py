"""torchvision's weights/pretrained deprecation warnings off on request, for any caller."""

from __future__ import annotations

import warnings

import torchvision

import tvcompat
from tvcompat._versions import capabilities

# the exact texts of torchvision 0.13 (first) and 0.14+ (second), from its _utils.py
TEXTS = [
    "The parameter 'pretrained' is deprecated since 0.13 and will be removed in 0.15, please "
    "use 'weights' instead.",
    "The parameter 'pretrained_backbone' is deprecated since 0.13 and may be removed in the "
    "future, please use 'weights_backbone' instead.",
    "Arguments other than a weight enum or `None` for 'weights' are deprecated since 0.13 and "
    "may be removed in the future. The current behavior is equivalent to passing "
    "`weights=ResNet50_Weights.IMAGENET1K_V1`.",
    "Using 'backbone_name' and 'weights' as positional parameter(s) is deprecated since 0.13 "
    "and may be removed in the future. Please use keyword parameter(s) instead.",
    "Accessing the model URLs via the internal dictionary of the module is deprecated since "
    "0.13 and may be removed in the future. Please access them via the appropriate Weights "
    "Enum instead.",
]


def _third_party_code() -> None:
    """What a library that calls torchvision directly does (warns on 0.13+)."""
    torchvision.models.resnet18(pretrained=False)
    torchvision.models.resnet18(False)


def _record(fn: object) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()  # type: ignore[operator]
    return [str(w.message) for w in caught]


def _emit_all() -> None:
    for text in TEXTS:
        warnings.warn(text, UserWarning, stacklevel=1)


def test_scoped_silences_every_wording_and_nothing_else() -> None:
    def inside() -> None:
        with tvcompat.silence_deprecations():
            _emit_all()
            _third_party_code()
            warnings.warn("an unrelated warning", UserWarning, stacklevel=1)

    assert _record(inside) == ["an unrelated warning"]
    assert len(_record(_emit_all)) == len(TEXTS)  # back on after the block


def test_real_torchvision_warnings() -> None:
    if not capabilities().weights_api:
        assert _record(_third_party_code) == []  # nothing to silence before 0.13
        return
    assert len(_record(_third_party_code)) >= 3

    @tvcompat.silence_deprecations()
    def decorated() -> None:
        _third_party_code()

    assert _record(decorated) == []


def test_process_wide_and_undoable() -> None:
    def run() -> None:
        tvcompat.silence_deprecations_globally()
        tvcompat.silence_deprecations_globally()  # idempotent
        try:
            _emit_all()
            warnings.warn("still shown", UserWarning, stacklevel=1)
        finally:
            tvcompat.restore_deprecations()
        _emit_all()  # restored: shown again

    assert _record(run) == ["still shown", *TEXTS]


def test_model_urls_access_warning() -> None:
    import torchvision.models.video.resnet as video

    mapping = video.model_urls  # kept there through 0.29 (0.10-0.12: a plain dict)

    def silenced() -> None:
        with tvcompat.silence_deprecations():
            assert mapping["r3d_18"].endswith(".pth")

    assert _record(silenced) == []
    warns = type(mapping) is not dict
    assert len(_record(lambda: mapping["r3d_18"])) == (1 if warns else 0)


def test_tvcompat_builders_never_warn() -> None:
    # pytest runs with filterwarnings=error: any warning here fails the test
    tvcompat.resnet18(pretrained=False)
    tvcompat.resnet18(False)
    tvcompat.resnet18(weights=None)
    tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        pretrained=False, pretrained_backbone=False
    )
