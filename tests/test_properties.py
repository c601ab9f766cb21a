"""Property-based: random argument mixes on every builder give exactly the outcome an oracle
computed from the catalog data predicts: the weights and backbone entries loaded (and the
keyword arguments passed on), or the documented error class; never another exception.
Nothing is built or downloaded (resolution only)."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from packaging.version import Version

import tvcompat
from tvcompat import _catalog
from tvcompat._settings import set_pretrained_policy
from tvcompat._weights import enum_class
from tvcompat.errors import (
    BuilderNotAvailableError,
    ConflictingArgumentsError,
    InvalidValueError,
    NoPretrainedWeightsError,
    TvcompatError,
    UnknownModelError,
    UnknownWeightsError,
    WeightsMismatchError,
)

# Every builder the catalog knows, including those the installed torchvision lacks (their
# calls must raise BuilderNotAvailableError, whatever the arguments; drawn less often).
KEYS = _catalog.builder_keys()
AVAILABLE = [k for k in KEYS if _catalog.builder_available(_catalog.builder(k))]
UNAVAILABLE = [k for k in KEYS if k not in AVAILABLE]
ABSENT: Any = object()
OTHER_MEMBER = "VGG11_Weights.IMAGENET1K_V1"
#: positional parameters that take a bool
FLAGS = ("progress", "quantize", "fpn")
PAIRS = (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone"))
#: the specific error classes, most specific first (several also subclass TypeError)
ERRORS: tuple[type[Exception], ...] = (
    BuilderNotAvailableError,
    ConflictingArgumentsError,
    WeightsMismatchError,
    UnknownWeightsError,
    NoPretrainedWeightsError,
    UnknownModelError,
    InvalidValueError,  # documented, but no call drawn here should raise it
)
#: Python's own kind of argument-shape mistake: unexpected keyword, too many positionals,
#: a value a legacy flag does not take (tvcompat may raise a TypeError subclass for it, but
#: none of ``ERRORS``)
TYPE_ERROR = "TypeError"


# --------------------------------------------------------------------------------------------
# The oracle: the rules of docs/mapping.md, from the catalog data (not from the resolver)
# --------------------------------------------------------------------------------------------


def _installed() -> Version:
    release = Version(importlib.metadata.version("torchvision")).release
    return Version(f"{release[0]}.{release[1]}")


INSTALLED = _installed()
WEIGHTS_API = Version("0.13") <= INSTALLED


def _pick(ranges: list[list[Any]]) -> Any:
    """The value of a catalog range list in force on the installed torchvision."""
    value = None
    for start, item in ranges:
        if (Version("0") if start.startswith("<=") else Version(start)) <= INSTALLED:
            value = item
    return value


def _present(info: dict[str, Any]) -> bool:
    return bool(_pick(info["present"]))


def _legacy(info: dict[str, Any], form: str) -> str | None:
    """The entry a legacy form loads: the installed release's, else the newest one named."""
    ranges = info["legacy"].get(form) or []
    value = _pick(ranges) if ranges else None
    if isinstance(value, str):
        return value
    named = [v for _, v in ranges if isinstance(v, str)]
    return named[-1] if named else None


@dataclass(frozen=True)
class Loads:
    weights: str | None
    backbone: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    strip_aux: bool = False


class Raises(Exception):
    """The oracle's way out: the call raises ``kind`` (an error class or ``TYPE_ERROR``)."""

    def __init__(self, kind: type[Exception] | str, why: str) -> None:
        super().__init__(kind, why)
        self.kind = kind
        self.why = why


Outcome = Union[Loads, Raises]


def _allowed(info: dict[str, Any], param: str, kw: dict[str, Any]) -> list[str]:
    """The enums ``param`` takes, in look-up order."""
    if info["family"] == "backbone_utils":  # the enums of the backbone it builds
        info = _catalog.builder(kw["backbone_name"])
    names = list(info["enums"].get(param) or [])
    if info["family"] == "quantization" and param == "weights":
        first = [n for n in names if ("Quantized" in n) == bool(kw.get("quantize"))]
        names = first + [n for n in names if n not in first]
    return names


def _lookup(value: Any, allowed: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        name = type(value).__name__
        if _catalog.enum(name) is None or name not in allowed:
            raise Raises(WeightsMismatchError, f"enum {name} not in {allowed}")
        return f"{name}.{value.name}"
    if not isinstance(value, str):
        raise Raises(WeightsMismatchError, f"{value!r} is no weights name")
    prefix, dot, member = value.rpartition(".")
    if dot:
        name = prefix.rpartition(".")[2]
        if name not in allowed:
            kind = UnknownWeightsError if _catalog.enum(name) is None else WeightsMismatchError
            raise Raises(kind, f"{name} not in {allowed}")
        candidates = [name]
    else:
        candidates = allowed
    for name in candidates:
        info = _catalog.enum(name)
        if member == "DEFAULT" and info["default"] is not None:
            return f"{name}.{info['default']}"
        if member in info["members"]:
            return f"{name}.{member}"
    raise Raises(UnknownWeightsError, f"no member {member!r} in {candidates}")


def _flag(value: Any) -> bool | str:
    if value is None or (isinstance(value, (bool, int)) and value in (0, 1)):
        return bool(value)
    if value == "legacy":
        return "legacy"
    raise Raises(TYPE_ERROR, f"legacy flag {value!r}")


def _form(info: dict[str, Any], kw: dict[str, Any], param: str, flag: bool | str) -> str:
    if param == "weights_backbone":
        return "pretrained_backbone=True"
    if info["family"] == "backbone_utils":
        return f"backbone_name={kw['backbone_name']}"
    if flag == "legacy" and "pretrained=legacy" in info["legacy"]:
        return "pretrained=legacy"
    if info["family"] == "quantization" and kw.get("quantize"):
        return "pretrained=True,quantize=True"
    return "pretrained=True"


def oracle(key: str, args: tuple[Any, ...], kwargs: dict[str, Any], policy: str) -> Outcome:
    """What ``key``'s builder called with ``args``/``kwargs`` loads, or the error it raises."""
    try:
        return _oracle(key, args, kwargs, policy)
    except Raises as exc:
        return exc


def _oracle(key: str, args: tuple[Any, ...], kwargs: dict[str, Any], policy: str) -> Loads:
    info = _catalog.builder(key)
    if not _present(info):
        raise Raises(BuilderNotAvailableError, f"{key} is not in {INSTALLED}")
    kw = dict(kwargs)
    positional = info["positional"]
    if len(args) > len(positional):
        raise Raises(TYPE_ERROR, f"{len(args)} positionals for {positional}")
    for name, value in zip(positional, args):
        if name in kw:
            raise Raises(TYPE_ERROR, f"{name} given twice")
        kw[name] = value
    if info["family"] == "backbone_utils":
        arch = _catalog.builder(kw["backbone_name"])
        if arch is None:
            raise Raises(UnknownModelError, kw["backbone_name"])
        if not _present(arch):
            raise Raises(BuilderNotAvailableError, f"{kw['backbone_name']} not in {INSTALLED}")
    progress = bool(kw.pop("progress", True))
    entries: dict[str, str | None] = {}
    explicit: dict[str, bool] = {}
    for legacy, new in PAIRS:
        legacy_given = legacy in kw
        legacy_value = kw.pop(legacy, None)
        new_value = kw.pop(new, ABSENT)
        if new_value is not ABSENT and (isinstance(new_value, bool) or new_value == "legacy"):
            # a bool (or "legacy") passed as the new argument is the legacy argument
            if legacy_given and legacy_value != new_value:
                raise Raises(ConflictingArgumentsError, f"{legacy}={legacy_value!r} vs {new}")
            legacy_given, legacy_value, new_value = True, new_value, ABSENT
        if new not in info["weights_params"]:
            if legacy_given or new_value is not ABSENT:
                raise Raises(TYPE_ERROR, f"{key} takes no {new}")
            continue
        explicit[new] = legacy_given or new_value is not ABSENT
        wanted = None
        if legacy_given:
            flag = _flag(legacy_value)
            if flag:
                form = _form(info, kw, new, flag)
                wanted = _legacy(info, form)
                if wanted is None:
                    raise Raises(NoPretrainedWeightsError, f"{key}: nothing for {form}")
                enum_info = _catalog.enum(wanted.partition(".")[0])
                if policy == "default" and form != "pretrained=legacy" and enum_info["default"]:
                    wanted = f"{wanted.partition('.')[0]}.{enum_info['default']}"
        if new_value is not ABSENT:
            entry = _lookup(new_value, _allowed(info, new, kw))
            if legacy_given and entry != wanted:
                raise Raises(ConflictingArgumentsError, f"{legacy} means {wanted}, {new} {entry}")
            wanted = entry
        entries[new] = wanted
    weights = entries.get("weights")
    quantize = bool(kw.get("quantize", False))
    if info["family"] == "quantization" and weights and ("Quantized" in weights) != quantize:
        raise Raises(WeightsMismatchError, f"{weights} with quantize={quantize}")
    backbone = entries.get("weights_backbone")
    if "weights_backbone" in info["weights_params"]:
        if weights is not None:
            backbone = None
        elif not explicit["weights_backbone"]:
            form = "weights_backbone=default" if WEIGHTS_API else "pretrained_backbone=default"
            value = _pick(info["legacy"].get(form) or [])
            backbone = value if isinstance(value, str) else None
    strip_aux = False
    if weights is not None:
        enum_name, _, member = weights.partition(".")
        meta = _catalog.enum(enum_name)["members"][member]["meta"]
        categories = meta.get("num_categories")
        num_classes = kw.get("num_classes")
        if num_classes is not None and categories is not None and num_classes != categories:
            raise Raises(ConflictingArgumentsError, f"num_classes={num_classes} vs {weights}")
        keypoints = meta.get("keypoint_names")
        num_keypoints = kw.get("num_keypoints")
        if keypoints and num_keypoints is not None and num_keypoints != len(keypoints):
            raise Raises(ConflictingArgumentsError, f"num_keypoints={num_keypoints} vs {weights}")
        if info["family"] == "segmentation" and kw.get("aux_loss") is False:
            del kw["aux_loss"]
        if info["name"] in ("inception_v3", "googlenet") and kw.get("aux_logits") is False:
            del kw["aux_logits"]
            strip_aux = True
    return Loads(weights, backbone, kw, progress, strip_aux)


# --------------------------------------------------------------------------------------------
# Random calls
# --------------------------------------------------------------------------------------------


def _members(enums: list[str]) -> list[str]:
    out = []
    for name in enums:
        info = _catalog.enum(name)
        out += [*info["members"], *(f"{name}.{m}" for m in info["members"])]
    return out


def _enum_members(enums: list[str]) -> list[Enum]:
    return [enum_class(name)[m] for name in enums for m in _catalog.enum(name)["members"]]


COUNTS = st.sampled_from([2, 10, 21, 91, 1000])
LEGACY_VALUES = st.sampled_from([True, False, 1, 0, None, "legacy", "yes"])


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    rare = UNAVAILABLE and draw(st.integers(0, 7)) == 0
    key = draw(st.sampled_from(UNAVAILABLE if rare else AVAILABLE))
    info = _catalog.builder(key)
    kwargs: dict[str, Any] = {}
    args: list[Any] = []
    source = info
    if info["family"] == "backbone_utils":
        backbone = draw(st.sampled_from(sorted(f.partition("=")[2] for f in info["legacy"])))
        source = _catalog.builder(backbone)
        if draw(st.booleans()):
            args.append(backbone)  # its first positional parameter
        else:
            kwargs["backbone_name"] = backbone
    values: dict[str, st.SearchStrategy[Any]] = {
        "pretrained": LEGACY_VALUES,
        "pretrained_backbone": LEGACY_VALUES,
        # counts only: what None means is torchvision's default, which the catalog lacks
        "num_classes": COUNTS,
        "num_keypoints": st.sampled_from([17, 2]),
        "aux_loss": st.sampled_from([None, True, False]),
    }
    for legacy, new in PAIRS:
        enums = source.get("enums", {}).get(new) or []
        names = _members(enums)
        new_values = st.sampled_from(
            [
                None,
                "DEFAULT",
                OTHER_MEMBER,
                "imagenet1k_v1",
                "NoSuch_Weights.IMAGENET1K_V1",
                True,
                False,
                "legacy",
                3,
                *names,
                *(f"torchvision.models.{n}" for n in names[-2:] if "." in n),
            ]
        )
        if enums and draw(st.integers(0, 9)) == 0:  # an enum member object
            new_values = st.sampled_from(_enum_members(enums) + _enum_members(["VGG11_Weights"]))
        values[new] = new_values
        # a pair the builder does not take (a TypeError): now and then, not half the time
        odds = 2 if new in info["weights_params"] else 8
        if draw(st.integers(1, odds)) == 1:
            kwargs[legacy] = draw(LEGACY_VALUES)
        if draw(st.integers(1, odds)) == 1:
            kwargs[new] = draw(new_values)
    if info["family"] == "quantization" and draw(st.booleans()):
        kwargs["quantize"] = draw(st.booleans())
    if info["family"] not in ("backbone_utils", "optical_flow") and draw(st.booleans()):
        kwargs["num_classes"] = draw(COUNTS)  # (flow models have no classes)
    if "aux_loss" in info["params"] and draw(st.booleans()):
        kwargs["aux_loss"] = draw(values["aux_loss"])
    if info["name"] in ("inception_v3", "googlenet") and draw(st.booleans()):
        kwargs["aux_logits"] = draw(st.booleans())
    if draw(st.integers(0, 4)) == 0:
        kwargs["progress"] = draw(st.booleans())
    if draw(st.booleans()):
        # positional arguments, each a value for the parameter the catalog puts there (the
        # flags bools, the rest None), up to one more than the builder takes
        positional = info["positional"]
        count = draw(st.sampled_from(sorted({1, 2, 3, len(positional) + 1})))
        for name in positional[len(args) : count]:
            args.append(draw(values.get(name, st.booleans() if name in FLAGS else st.none())))
        args += [draw(st.booleans()) for _ in range(count - max(len(args), len(positional)))]
    if "fpn" in info["positional"] and len(args) <= info["positional"].index("fpn"):
        kwargs["fpn"] = draw(st.booleans())  # mobilenet_backbone's fpn has no default
    return key, tuple(args), kwargs


def _kind(exc: BaseException) -> type[Exception] | str:
    for cls in ERRORS:
        if isinstance(exc, cls):
            return cls
    if isinstance(exc, TypeError):
        return TYPE_ERROR
    raise exc  # not a documented error: a bug


def _model(key: str) -> str:
    info = _catalog.builder(key)
    if info["family"] == "backbone_utils":
        return key
    if info["family"] == "quantization":
        return "quantized_" + info["name"]
    return str(info["name"])


#: calls whose rules random draws rarely reach, checked against the oracle on every run
EXAMPLES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("inception_v3", (), {"pretrained": True, "aux_logits": False}),
    ("googlenet", (True,), {"aux_logits": False, "num_classes": 1000}),
    ("quantization.googlenet", (), {"weights": "DEFAULT", "quantize": True, "aux_logits": False}),
    ("quantization.resnet50", (True, True, True), {}),
    ("quantization.resnet50", (), {"pretrained": True, "quantize": True}),
    ("quantization.resnet50", (), {"weights": "IMAGENET1K_V1", "quantize": True}),
    ("segmentation.fcn_resnet50", (True,), {"aux_loss": False}),
    ("segmentation.fcn_resnet50", (), {"pretrained_backbone": True, "aux_loss": False}),
    ("detection.keypointrcnn_resnet50_fpn", (), {"pretrained": "legacy"}),
    ("detection.keypointrcnn_resnet50_fpn", (), {"weights": "legacy", "pretrained": True}),
    ("detection.ssdlite320_mobilenet_v3_large", (), {"num_classes": 2}),
    ("detection.fasterrcnn_resnet50_fpn", (True, False, 91), {}),
    ("detection.fasterrcnn_resnet50_fpn_v2", (True,), {"weights_backbone": None}),
    ("backbone_utils.resnet_fpn_backbone", ("resnext101_64x4d", True), {}),
    (
        "backbone_utils.mobilenet_backbone",
        ("mobilenet_v3_small",),
        {"weights": "DEFAULT", "fpn": False},
    ),
    (
        "backbone_utils.resnet_fpn_backbone",
        (),
        {"backbone_name": "resnet18", "weights": OTHER_MEMBER},
    ),
    ("optical_flow.raft_large", (True,), {"pretrained": False}),
    ("regnet_y_128gf", (), {"pretrained": True}),
    ("vit_h_14", (True,), {}),
    ("resnet50", (), {"weights": "torchvision.models.ResNet50_Weights.IMAGENET1K_V2"}),
    ("resnet50", (), {"weights": "NoSuch_Weights.DEFAULT"}),
    ("resnet50", (True, True, True), {}),
    ("resnet50", (False,), {"pretrained": False}),
    ("resnet50", (), {"weights_backbone": None}),
    ("resnet50", (), {"pretrained": None, "weights": False}),
    ("resnet50", (), {"pretrained": None}),  # falsy, as on every torchvision: no weights
    ("detection.fasterrcnn_resnet50_fpn", (None, True, 2), {"pretrained_backbone": None}),
    ("detection.keypointrcnn_resnet50_fpn", (True, True, 2, 17), {}),
    ("detection.keypointrcnn_resnet50_fpn", (), {"pretrained": True, "num_keypoints": 2}),
]


def _check(
    key: str, args: tuple[Any, ...], kwargs: dict[str, Any], policy: str, note: Any = None
) -> None:
    """The call through ``tvcompat.resolve`` has exactly the outcome the oracle predicts
    (``note``: hypothesis' ``event``, to show what the random calls reached)."""
    note = note or (lambda _: None)
    expected = oracle(key, args, kwargs, policy)
    call = (key, args, kwargs, policy)
    set_pretrained_policy(policy)  # type: ignore[arg-type]
    try:
        outcome: Any
        try:
            outcome = tvcompat.resolve(_model(key), *args, **kwargs)
        except (TvcompatError, TypeError) as exc:
            outcome = exc
    finally:
        set_pretrained_policy(None)
    if isinstance(outcome, BaseException):
        note(f"raises {getattr(_kind(outcome), '__name__', TYPE_ERROR)}")
        assert isinstance(expected, Raises), (*call, repr(outcome), expected)
        assert _kind(outcome) == expected.kind, (*call, repr(outcome), expected.why)
        return
    res = outcome
    note("loads weights" if res.weights else "loads no weights")
    assert isinstance(expected, Loads), (*call, str(res), expected.why)
    got = str(res.weights) if res.weights else None
    assert got == expected.weights, (*call, got, expected)
    if res.weights is not None:
        assert res.weights_backbone is None
    backbone = str(res.weights_backbone) if res.weights_backbone else None
    assert backbone == expected.backbone, (*call, backbone, expected)
    assert res.model == key
    assert res.kwargs == expected.kwargs, (*call, res.kwargs, expected)
    assert res.progress is expected.progress, (*call, expected)
    assert res.strip_aux is expected.strip_aux, (*call, expected)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.sampled_from(["legacy", "legacy", "default"]))
def test_random_calls_follow_the_rules(
    call: tuple[str, tuple[Any, ...], dict[str, Any]], policy: str
) -> None:
    _check(*call, policy, event)


@pytest.mark.parametrize("policy", ["legacy", "default"])
@pytest.mark.parametrize(("key", "args", "kwargs"), EXAMPLES)
def test_rare_calls_follow_the_rules(
    key: str, args: tuple[Any, ...], kwargs: dict[str, Any], policy: str
) -> None:
    _check(key, args, kwargs, policy)


@pytest.mark.parametrize(
    ("key", "args", "kwargs", "expected"),
    [
        ("resnet50", (True,), {}, "ResNet50_Weights.IMAGENET1K_V1"),
        ("resnet50", (True, False), {"weights": None}, ConflictingArgumentsError),
        ("resnet50", (True, True, True), {}, TYPE_ERROR),
        ("resnet50", (True,), {"pretrained": True}, TYPE_ERROR),
        ("resnet50", (), {"pretrained_backbone": True}, TYPE_ERROR),
        ("resnet50", (), {"weights": OTHER_MEMBER}, WeightsMismatchError),
        ("resnet50", (), {"weights": "IMAGENET1K_V9"}, UnknownWeightsError),
        ("resnet50", (), {"pretrained": "yes"}, TYPE_ERROR),
        (
            "resnet50",
            (),
            {"weights": "IMAGENET1K_V1", "num_classes": 10},
            ConflictingArgumentsError,
        ),
        (
            "quantization.resnet50",
            (),
            {"weights": "ResNet50_Weights.IMAGENET1K_V1", "quantize": True},
            WeightsMismatchError,
        ),
        (
            "detection.fasterrcnn_resnet50_fpn",
            (),
            {"pretrained": True, "weights": "COCO_V1"},
            "FasterRCNN_ResNet50_FPN_Weights.COCO_V1",
        ),
        (
            "backbone_utils.resnet_fpn_backbone",
            ("resnet18", True),
            {},
            "ResNet18_Weights.IMAGENET1K_V1",
        ),
        (
            "backbone_utils.resnet_fpn_backbone",
            ("resnet18",),
            {"backbone_name": "resnet18"},
            TYPE_ERROR,
        ),
    ],
)
def test_the_oracle_itself(
    key: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    """The oracle's answers for calls whose outcome is known (so it cannot drift into
    agreeing with a wrong resolver: both would have to be wrong the same way)."""
    got = oracle(key, args, kwargs, "legacy")
    if isinstance(expected, str) and expected != TYPE_ERROR:
        assert isinstance(got, Loads), got
        assert got.weights == expected
    else:
        assert isinstance(got, Raises), got
        assert got.kind == expected
