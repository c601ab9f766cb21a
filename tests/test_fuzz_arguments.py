"""Arguments are checked before anything is built or downloaded.

Fuzz: random argument mixes through the real builders (downloads and loads intercepted).

Every call either succeeds (builds the model, or reaches the weights load, which the
intercept captures) or raises a :class:`~tvcompat.errors.TvcompatError` whose message is
tvcompat's own, not a torch, torchvision or numpy internal, and a refused call has asked the
downloader for nothing. The calls mix junk values for ``num_classes``, ``pretrained``,
``weights``, ``progress`` and ``quantize``, unknown keywords, typos of real keywords, real
keywords (values valid wherever the keyword exists) and backbone names.

Seeded: ``TVCOMPAT_FUZZ_CALLS`` (default 150) calls, seed ``TVCOMPAT_FUZZ_SEED`` (default 0).
The unclear outcomes are collected and reported together. A property test does the same
through resolution only, over every builder; the rest checks the rules one by one, and that
no keyword the installed torchvision takes is refused.
"""

from __future__ import annotations

import inspect
import os
import random
import re
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

import tvcompat
import tvcompat.detection.backbone_utils
from _intercept import Captured, intercept
from tvcompat import _catalog
from tvcompat._models.build import torchvision_builder
from tvcompat._models.registry import builder as family_builder
from tvcompat._models.registry import model_key
from tvcompat._versions import capabilities, torchvision_version
from tvcompat._weights import enum_class
from tvcompat.errors import (
    ConflictingArgumentsError,
    InvalidArgumentError,
    InvalidValueError,
    TvcompatError,
    UnknownModelError,
)

np: Any
try:
    import numpy as np
except ImportError:  # pragma: no cover - torch wheels bring numpy
    np = None

CALLS = int(os.environ.get("TVCOMPAT_FUZZ_CALLS", "150"))
SEED = int(os.environ.get("TVCOMPAT_FUZZ_SEED", "0"))

#: small builders of every family (catalog keys); those the installed release lacks must
#: raise BuilderNotAvailableError
BUILDERS = [
    "resnet18",
    "resnext50_32x4d",
    "squeezenet1_1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "shufflenet_v2_x0_5",
    "mnasnet0_5",
    "googlenet",
    "inception_v3",
    "efficientnet_b0",
    "regnet_x_400mf",
    "convnext_tiny",
    "swin_t",
    "maxvit_t",
    "vit_b_32",
    "densenet121",
    "alexnet",
    "video.r3d_18",
    "video.s3d",
    "video.mvit_v2_s",
    "optical_flow.raft_small",
    "quantization.resnet18",
    "quantization.mobilenet_v2",
    "quantization.mobilenet_v3_large",
    "quantization.shufflenet_v2_x0_5",
    "quantization.googlenet",
    "segmentation.lraspp_mobilenet_v3_large",
    "segmentation.deeplabv3_mobilenet_v3_large",
    "segmentation.fcn_resnet50",
    "detection.fasterrcnn_mobilenet_v3_large_320_fpn",
    "detection.ssdlite320_mobilenet_v3_large",
    "detection.retinanet_resnet50_fpn",
    "detection.fcos_resnet50_fpn",
    "detection.keypointrcnn_resnet50_fpn",
    "detection.maskrcnn_resnet50_fpn",
    "detection.ssd300_vgg16",
    "backbone_utils.resnet_fpn_backbone",
    "backbone_utils.mobilenet_backbone",
]

#: real keywords, with values that are valid wherever the keyword exists
REAL: dict[str, list[Any]] = {
    "zero_init_residual": [True, False],
    "dropout": [0.0, 0.2],
    "aux_logits": [True, False],
    "aux_loss": [True, False, None],
    "transform_input": [True, False],
    "init_weights": [True, False],
    "groups": [1, 8, 32],
    "width_per_group": [4, 64],
    "trainable_backbone_layers": [None, 3],
    "num_keypoints": [17, 5],
    "min_size": [320],
    "image_mean": [[0.5, 0.5, 0.5]],
    "fpn": [True, False],
    "trainable_layers": [0, 3],
    "stochastic_depth_prob": [0.1],
    "memory_efficient": [True],
    "box_score_thresh": [0.1],
    "quantize": [True, False],
}
#: not keywords of any builder
UNKNOWN = [
    "foo",
    "zzz",
    "num_class",
    "numclasses",
    "aux_logit",
    "weight",
    "pretrain",
    "progres",
    "quantise",
    "backbone",
    "dropout_rate",
    "in_channels",
    "classes",
]


def _junk() -> list[Any]:
    out: list[Any] = ["10", "yes", 2.5, [1, 0], (1,), {"a": 1}, b"x", object()]
    if np is not None:
        out += [np.array([1, 0]), np.array(1), np.float64(0.5)]
    import torch

    out += [torch.tensor([1.0, 0.0]), torch.tensor(1)]
    return out


def _record(key: str) -> _catalog.BuilderRecord:
    info = _catalog.builder(key)
    assert info is not None, key
    return info


def _members(name: str) -> list[str]:
    info = _catalog.enum(name)
    assert info is not None, name
    return list(info["members"])


def _values(rng: random.Random, key: str, source: _catalog.BuilderRecord) -> dict[str, Any]:
    """One random argument mix for builder ``key`` (``source``: where its enums come from):
    half the time only values that can work, else with junk, unknown and foreign keywords."""
    info = _record(key)
    clean = rng.random() < 0.5
    junk = [] if clean else _junk()
    kw: dict[str, Any] = {}
    bools: list[Any] = [True, False, 0, 1, None]
    if np is not None:
        bools += [np.bool_(True), np.int64(0)]
    if rng.random() < 0.5:
        kw["pretrained"] = rng.choice([*bools, "legacy", *([] if clean else [2, -1, *junk])])
    if rng.random() < 0.4:
        members: list[Any] = [None, "DEFAULT"]
        if not clean:
            members += ["imagenet", "VGG11_Weights.IMAGENET1K_V1", 3, True, *junk]
        for name in source["enums"].get("weights", []):
            members += [f"{name}.{m}" for m in _members(name)]
            if rng.random() < 0.3:
                members += list(enum_class(name))
        kw["weights"] = rng.choice(members)
    if "weights_backbone" in info["weights_params"] and rng.random() < 0.3:
        kw[rng.choice(["pretrained_backbone", "weights_backbone"])] = rng.choice(
            [True, False, None, *junk[:3]]
        )
    if rng.random() < 0.5:
        counts: list[Any] = [2, 10, 91, 21, 1000]
        if not clean:
            counts += [None, "10", True, False, -1, 0, 2.5, 10.0, [10], *junk[-2:]]
        kw["num_classes"] = rng.choice(counts)
    if rng.random() < 0.25:
        kw["progress"] = rng.choice(
            [True, False, None, 0, *([] if clean else ["no", 2.5, *junk[-3:]])]
        )
    if info["family"] == "quantization" and rng.random() < 0.5:
        kw["quantize"] = rng.choice([True, False, True, *junk[:2]])
    if clean:  # the installed builder's own keywords, at their defaults
        if rng.random() < 0.4:
            kw.update(_own_keywords(rng, key))
        return kw
    for _ in range(rng.choice([0, 1, 1, 2])):
        name = rng.choice(list(REAL))
        kw[name] = rng.choice(REAL[name])
    if rng.random() < 0.4:
        kw[rng.choice(UNKNOWN)] = rng.choice([1, None, True, "x"])
    return kw


def _own_keywords(rng: random.Random, key: str) -> dict[str, Any]:
    """One or two of the keyword parameters of the installed torchvision's builder function
    itself (not those its ``**kwargs`` reach), with their default values."""
    info = _record(key)
    if not _catalog.builder_available(info):
        return {}
    params = inspect.signature(torchvision_builder(info["family"], info["name"])).parameters
    own = {"weights", "weights_backbone", "pretrained", "pretrained_backbone", "progress"}
    pool = [
        p
        for p in params.values()
        if p.default is not p.empty and p.kind is not p.VAR_KEYWORD and p.name not in own
    ]
    return {p.name: p.default for p in rng.sample(pool, min(len(pool), rng.randint(1, 2)))}


def _call(rng: random.Random) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    key = rng.choice(BUILDERS)
    info = _catalog.builder(key)
    assert info is not None
    source = info
    args: tuple[Any, ...] = ()
    if info["family"] == "backbone_utils":
        names = [
            f.partition("=")[2]
            for key2 in BUILDERS
            if key2.startswith("backbone_utils")
            for f in _record(key2)["legacy"]
        ]
        name = rng.choice([*names, *names, "resnet5", "vgg16", 5, None])
        arch = _catalog.builder(name) if isinstance(name, str) else None
        if arch is not None:
            source = arch
        kw = _values(rng, key, source)
        kw.pop("num_classes", None)
        if rng.random() < 0.2:
            args = (name,)
        elif name is not None or rng.random() < 0.5:
            kw["backbone_name"] = name
        return key, args, kw
    kw = _values(rng, key, source)
    if rng.random() < 0.1:
        args = tuple(rng.choice([True, False, 1]) for _ in range(rng.randint(1, 3)))
    return key, args, kw


#: markers of a message that is not tvcompat's own
INTERNAL = re.compile(
    r"truth value of an? |invalid combination of arguments|object is not callable"
    r"|not supported between instances|unexpected keyword argument .* __init__|"
    r"object cannot be interpreted|must be real number|^'|Traceback|elementwise"
)


def _builder(key: str) -> Callable[..., Any]:
    info = _catalog.builder(key)
    assert info is not None
    return family_builder(info["family"], info["name"])


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's own warnings are not under test
        try:
            fn(*args, **kw)
        except Captured as captured:
            return captured
        except Exception as exc:  # every outcome is judged below
            return exc
    return None


def _judge(outcome: Any, fetched: list[str]) -> str | None:
    """Why the outcome is unclear, or ``None`` when it is fine."""
    if outcome is None or isinstance(outcome, Captured):
        return None
    if isinstance(outcome, ImportError) and not isinstance(outcome, TvcompatError):
        # torchvision <= 0.12 initialises inception/googlenet with scipy: an optional
        # dependency missing, whatever the arguments
        return None if "scipy" in str(outcome) else f"import error: {outcome}"
    if not isinstance(outcome, TvcompatError):
        return f"not a tvcompat error: {type(outcome).__name__}: {str(outcome)[:200]}"
    if fetched:
        return f"refused after a download ({fetched}): {type(outcome).__name__}: {outcome}"
    if INTERNAL.search(str(outcome)) or not str(outcome).strip():
        return f"internal message: {type(outcome).__name__}: {outcome}"
    return None


def fuzz(
    monkeypatch: pytest.MonkeyPatch, calls: int, seed: int
) -> tuple[list[str], dict[str, int]]:
    """The unclear outcomes of ``calls`` random calls, and how many calls built a model,
    reached the weights load, or were refused."""
    rng = random.Random(seed)
    problems: list[str] = []
    counts = {"built": 0, "loaded": 0, "refused": 0}
    with intercept(monkeypatch) as fetched:
        for _ in range(calls):
            key, args, kw = _call(rng)
            fetched.clear()
            outcome = _run(_builder(key), args, kw)
            kind = {type(None): "built", Captured: "loaded"}.get(type(outcome), "refused")
            counts[kind] += 1
            why = _judge(outcome, fetched)
            if why is not None:
                problems.append(f"{key}{args}{ {k: _short(v) for k, v in kw.items()} }: {why}")
    return problems, counts


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, Enum) else f"{type(value).__name__}.{value.name}"
    return text if len(text) < 40 else text[:37] + "..."


@pytest.mark.slow
def test_random_calls_succeed_or_raise_clear_errors_before_downloading(
    monkeypatch: pytest.MonkeyPatch, hub_dir: Path
) -> None:
    problems, counts = fuzz(monkeypatch, CALLS, SEED)
    assert not problems, f"{len(problems)} unclear outcomes of {CALLS}:\n" + "\n".join(problems)
    # the mix reaches all three outcomes (a fuzz refusing everything would pass too)
    assert min(counts.values()) >= CALLS // 20, counts


# --------------------------------------------------------------------------------------------
# The same through resolution only, over every builder of the installed release
# --------------------------------------------------------------------------------------------

AVAILABLE = [k for k in _catalog.builder_keys() if _catalog.builder_available(_record(k))]


def _model_name(key: str) -> str:
    info = _catalog.builder(key)
    assert info is not None
    if info["family"] == "quantization":
        return "quantized_" + info["name"]
    return str(info["name"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(AVAILABLE), st.integers(0, 2**32))
def test_random_resolutions_give_clear_errors(key: str, seed: int) -> None:
    rng = random.Random(seed)
    info = _catalog.builder(key)
    assert info is not None
    source = info
    if info["family"] == "backbone_utils":
        name = rng.choice([f.partition("=")[2] for f in info["legacy"]] + ["resnet5", "vgg16", 5])
        kw = _values(rng, key, source)
        kw["backbone_name"] = name
    else:
        kw = _values(rng, key, source)
    message = _refusal(lambda: tvcompat.resolve(_model_name(key), **kw))
    assert message is None or not INTERNAL.search(message), (key, kw, message)


def _refusal(call: Callable[[], Any]) -> str | None:
    """The message of the tvcompat error ``call()`` raises (``None``: none); any other
    exception propagates."""
    try:
        call()
    except TvcompatError as exc:
        return str(exc)
    return None


def _quiet(fn: Callable[..., Any], **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**kwargs)


# --------------------------------------------------------------------------------------------
# The rules, one by one
# --------------------------------------------------------------------------------------------

WEIGHTS_API = capabilities().weights_api


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch, hub_dir: Path) -> Any:
    with intercept(monkeypatch) as urls:
        yield urls


def test_unknown_keyword_refused_before_any_download(fetched: list[str]) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"resnet18\(\) got an unexpected keyword argument 'foo'"
    ) as info:
        tvcompat.resnet18(pretrained=True, foo=1)
    assert "num_classes" in str(info.value)  # what it takes
    assert f"torchvision {torchvision_version()}" in str(info.value)
    assert fetched == []
    with pytest.raises(TypeError, match="Did you mean 'num_classes'"):
        tvcompat.resnet18(weights="DEFAULT", num_class=10)
    with pytest.raises(TypeError, match="unexpected keyword arguments 'foo', 'bar'"):
        tvcompat.resnet18(pretrained=True, foo=1, bar=2)
    assert fetched == []


def test_offline_mode_does_not_hide_the_typo(
    monkeypatch: pytest.MonkeyPatch, hub_dir: Path
) -> None:
    monkeypatch.setenv("TVCOMPAT_OFFLINE", "1")
    with pytest.raises(InvalidArgumentError, match="unexpected keyword argument 'foo'"):
        tvcompat.resnet18(pretrained=True, foo=1)


def test_keyword_of_another_model_refused(fetched: list[str]) -> None:
    if _catalog.builder_available(_record("optical_flow.raft_small")):
        with pytest.raises(InvalidArgumentError, match="'num_classes'"):
            tvcompat.optical_flow.raft_small(pretrained=True, num_classes=10)
    with pytest.raises(InvalidArgumentError, match="'num_keypoints'"):
        tvcompat.video.r3d_18(pretrained=True, num_keypoints=10)
    with pytest.raises(InvalidArgumentError, match="'aux_logits'"):
        tvcompat.resnet18(pretrained=True, aux_logits=False)
    with pytest.raises(InvalidArgumentError, match="'groups'"):
        tvcompat.detection.backbone_utils.resnet_fpn_backbone(
            backbone_name="resnet18", pretrained=True, groups=8
        )
    assert fetched == []


def test_aux_logits_false_with_weights_is_still_the_legacy_rule() -> None:
    res = tvcompat.resolve("inception_v3", pretrained=True, aux_logits=False)
    assert res.strip_aux
    assert "aux_logits" not in res.kwargs
    res = tvcompat.resolve("googlenet", weights="DEFAULT", aux_logits=False)
    assert res.strip_aux


def test_keywords_torchvision_takes_are_accepted() -> None:
    """Keywords of the model class the builder forwards ``**kwargs`` to."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("resnet18", {"zero_init_residual": True, "groups": 1, "norm_layer": None}),
        ("resnet50", {"replace_stride_with_dilation": [False, True, True]}),
        ("googlenet", {"transform_input": True, "init_weights": False, "aux_logits": True}),
        ("inception_v3", {"pretrained": True, "aux_logits": False}),
        ("fasterrcnn_resnet50_fpn", {"min_size": 320, "box_score_thresh": 0.1}),
        ("maskrcnn_resnet50_fpn", {"rpn_pre_nms_top_n_test": 100, "image_mean": [0.5] * 3}),
        ("retinanet_resnet50_fpn", {"score_thresh": 0.2, "topk_candidates": 10}),
        ("ssdlite320_mobilenet_v3_large", {"score_thresh": 0.1, "norm_layer": None}),
        ("keypointrcnn_resnet50_fpn", {"num_keypoints": 17, "box_nms_thresh": 0.4}),
        ("r3d_18", {"zero_init_residual": True}),
        ("quantized_resnet18", {"quantize": False, "zero_init_residual": True}),
        ("mobilenet_v2", {"width_mult": 0.5, "round_nearest": 4}),
        ("densenet121", {"memory_efficient": True, "drop_rate": 0.1}),
        ("deeplabv3_resnet50", {"aux_loss": True}),
    ]
    for model, kw in calls:
        res = tvcompat.resolve(model, **kw)
        own = {"pretrained", "weights", "progress"}
        assert {k: v for k, v in kw.items() if k not in own} == res.kwargs or res.strip_aux


@pytest.mark.parametrize(
    ("model", "names"),
    [
        ("resnet18", ["foo", "num_class", "aux_logits", "dropout", "min_size", "block"]),
        ("mobilenet_v2", ["foo", "groups", "aux_loss", "layers"]),
        ("squeezenet1_1", ["foo", "init_weights", "zero_init_residual", "version"]),
        ("googlenet", ["foo", "inception_blocks", "groups"]),
        ("r3d_18", ["foo", "block", "stem", "layers", "aux_logits"]),
        ("quantized_resnet18", ["foo", "block", "dropout"]),
        ("raft_small", ["foo", "num_classes", "feature_encoder_layers"]),
        ("resnet_fpn_backbone", ["foo", "groups", "fpn", "progress_bar"]),
        ("ssd300_vgg16", ["size", "backbone", "anchor_generator"]),
    ],
)
def test_refused_keywords_are_those_torchvision_refuses(
    fetched: list[str], model: str, names: list[str]
) -> None:
    """Each keyword tvcompat refuses makes the installed torchvision raise ``TypeError``
    naming it (built without weights: nothing to download)."""
    key = model_key(model)
    info = _catalog.builder(key)
    assert info is not None
    if not _catalog.builder_available(info):
        pytest.skip(f"{model} is not in torchvision {torchvision_version()}")
    fn = torchvision_builder(info["family"], info["name"])
    base: dict[str, Any] = {}
    if info["family"] == "backbone_utils":
        base["backbone_name"] = "resnet18"
    base["weights" if WEIGHTS_API else "pretrained"] = None if WEIGHTS_API else False
    if info["family"] in ("detection", "segmentation"):
        base["weights_backbone" if WEIGHTS_API else "pretrained_backbone"] = (
            None if WEIGHTS_API else False
        )
    for name in names:
        message = _refusal(lambda: tvcompat.resolve(model, **base, **{name: None}))  # noqa: B023
        if message is None or "unexpected keyword" not in message:
            continue  # accepted here: torchvision takes it
        assert repr(name) in message
        expected = rf"(unexpected keyword argument|multiple values).*'{name}'"
        with pytest.raises(TypeError, match=expected):
            _quiet(fn, **base, **{name: None})


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("10", InvalidArgumentError, r"num_classes takes a positive int.* Pass num_classes=10"),
        (True, InvalidArgumentError, "num_classes takes a positive int"),
        (-1, InvalidValueError, "must be a positive int"),
        (0, InvalidValueError, "must be a positive int"),
        (2.5, InvalidArgumentError, "not float"),
        (10.0, InvalidArgumentError, "Pass num_classes=10"),
        ([10], InvalidArgumentError, "not list"),
        (None, InvalidArgumentError, r"leave it out for the default"),
    ],
)
def test_num_classes_must_be_a_positive_int(
    fetched: list[str], value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        tvcompat.resnet18(num_classes=value)
    with pytest.raises(error, match=match):
        tvcompat.resnet18(pretrained=True, num_classes=value)
    assert fetched == []


def test_num_classes_that_works() -> None:
    assert tvcompat.resolve("resnet18", num_classes=7).kwargs == {"num_classes": 7}
    if np is not None:
        kwargs = tvcompat.resolve("resnet18", num_classes=np.int64(7)).kwargs
        assert type(kwargs["num_classes"]) is int
    if WEIGHTS_API:  # None: the weights' (or 91) classes
        assert tvcompat.resolve("fasterrcnn_resnet50_fpn", num_classes=None).weights is None
    with pytest.raises(InvalidValueError, match="num_keypoints"):
        tvcompat.resolve("keypointrcnn_resnet50_fpn", num_keypoints=0)


def _not_flags() -> list[Any]:
    import torch

    out: list[Any] = [torch.tensor([1.0, 0.0]), torch.tensor(1), [1, 0], "yes", 0.5, 2]
    if np is not None:
        out += [np.array([1, 0]), np.array(1)]
    return out


@pytest.mark.parametrize("value", _not_flags(), ids=lambda v: type(v).__name__)
def test_pretrained_takes_flags_only(fetched: list[str], value: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"pretrained takes True or False"):
        tvcompat.resnet18(pretrained=value)
    if not isinstance(value, (int, str)):  # (those disagree with weights=True: a conflict)
        with pytest.raises(InvalidArgumentError, match=r"pretrained takes True or False"):
            tvcompat.resnet18(pretrained=value, weights=True)
    with pytest.raises(InvalidArgumentError, match=r"pretrained_backbone takes True or False"):
        tvcompat.detection.fasterrcnn_resnet50_fpn(pretrained_backbone=value)
    if not isinstance(value, int):
        with pytest.raises(InvalidArgumentError, match=r"progress takes True or False"):
            tvcompat.resnet18(pretrained=True, progress=value)
        with pytest.raises(InvalidArgumentError, match=r"quantize takes True or False"):
            tvcompat.quantization.resnet18(quantize=value)
    assert fetched == []


def test_numpy_flags_are_flags() -> None:
    if np is None:
        pytest.skip("no numpy")
    assert tvcompat.resolve("resnet18", pretrained=np.bool_(True)).weights is not None
    assert tvcompat.resolve("resnet18", pretrained=np.int64(0)).weights is None
    assert tvcompat.resolve("resnet18", progress=np.bool_(False)).progress is False


def test_backbone_names_the_util_takes(fetched: list[str]) -> None:
    utils = tvcompat.detection.backbone_utils
    with pytest.raises(InvalidValueError, match=r"resnet18.*resnet50") as info:
        utils.resnet_fpn_backbone(backbone_name="mobilenet_v3_large", pretrained=True)
    assert "mobilenet_backbone(backbone_name='mobilenet_v3_large')" in str(info.value)
    with pytest.raises(InvalidValueError, match=r"'mobilenet_v2' \| 'mobilenet_v3_large'"):
        utils.mobilenet_backbone(backbone_name="resnet50", fpn=True, weights=None)
    with pytest.raises(UnknownModelError, match="Did you mean resnet50"):
        utils.resnet_fpn_backbone(backbone_name="resnet5", pretrained=True)
    with pytest.raises(InvalidArgumentError, match="backbone_name takes a model name"):
        utils.resnet_fpn_backbone(backbone_name=5)
    with pytest.raises(InvalidArgumentError, match="missing required argument 'backbone_name'"):
        utils.resnet_fpn_backbone(pretrained=True)
    with pytest.raises(InvalidArgumentError, match="missing required argument 'fpn'"):
        utils.mobilenet_backbone(backbone_name="mobilenet_v2", pretrained=True)
    assert fetched == []


def test_values_torchvision_fixes(fetched: list[str]) -> None:
    if not WEIGHTS_API:  # <= 0.12 overrides these silently
        assert tvcompat.resolve("resnext50_32x4d", groups=8).kwargs == {"groups": 8}
        return
    with pytest.raises(InvalidValueError, match="always has groups=32"):
        tvcompat.resnext50_32x4d(groups=8)
    assert tvcompat.resolve("resnext50_32x4d", groups=32).kwargs == {"groups": 32}
    with pytest.raises(ConflictingArgumentsError, match="image_size=224"):
        tvcompat.vit_b_32(weights="IMAGENET1K_V1", image_size=384)
    assert tvcompat.resolve("vit_b_32", weights=None, image_size=384).kwargs == {"image_size": 384}
    with pytest.raises(ConflictingArgumentsError, match="init_weights=False"):
        tvcompat.inception_v3(weights="DEFAULT", init_weights=True)
    with pytest.raises(InvalidValueError, match="auxiliary loss"):
        tvcompat.segmentation.lraspp_mobilenet_v3_large(pretrained=True, aux_loss=True)
    assert fetched == []


def test_the_issue_examples_through_the_builders(fetched: list[str]) -> None:
    for call in (
        lambda: tvcompat.resnet18(pretrained=True, foo=1),
        lambda: tvcompat.resnet18(pretrained=True, aux_logits=False),
        lambda: tvcompat.resnet18(pretrained=True, num_classes="10"),
        lambda: tvcompat.resnet18(pretrained=[1, 0]),
        lambda: tvcompat.detection.backbone_utils.resnet_fpn_backbone(
            backbone_name="mobilenet_v3_large", pretrained=True
        ),
    ):
        with pytest.raises(TvcompatError):
            call()
    assert fetched == []
    with pytest.raises(Captured):  # a call that is fine gets to the load
        tvcompat.inception_v3(pretrained=True, aux_logits=False)
    assert len(fetched) == 1
