"""torchvision's own registration and weights API tests, ported to tvcompat (issue 10).

Source: pytorch/vision ``test/test_extended_models.py`` at commit
0b447801d52ba2a92da7dacc2bb446351f962c59 (the newest version the index stores; it has the
``include=""`` filters and the vit ``_ops`` FIXME of vision#7871). ``torchvision.models`` and its
family modules are replaced by ``tvcompat`` and ``tvcompat.detection`` etc.; every assertion is
kept. Where torchvision's test downloads weights or uses torchvision internals
(``handle_legacy_interface``, ``common_extended_utils``), the comment at the test says what
changed. The tests after ``# --- added by issue 10`` are not torchvision's: they check the
enum contract (copy/pickle/spawn round trips, ``__module__``/``__qualname__``, str/repr/hash,
``verify()``, ``meta["unquantized"]``) on every enum tvcompat offers.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import importlib
import importlib.util
import multiprocessing
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import tvcompat
from _tv_api import (
    _EXCLUDES,
    _FAMILY,
    _FILTERS,
    _INPUT_SHAPES,
    _MODEL_SHAPES,
    _MODULE_IDS,
    CAPS,
    MODULES,
    SIX,
    TV,
    _all_model_fns,
    _check_jit_scriptable,
    _child_round_trip,
    _entry,
    _enum_params,
    _jit_params,
    _need,
    _torchvision_module,
    get_models_from_module,
    skip_where_torchvision_cannot,
)
from tvcompat import detection, optical_flow, quantization, segmentation


def _pickle_round_trip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


# --------------------------------------------------------------------------------------------
# torchvision's tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model_class"),
    [
        ("resnet50", "ResNet"),
        ("retinanet_resnet50_fpn_v2", "detection.RetinaNet"),
        ("raft_large", "optical_flow.RAFT"),
        ("quantized_resnet50", "quantization.QuantizableResNet"),
        ("lraspp_mobilenet_v3_large", "segmentation.LRASPP"),
        ("mvit_v1_b", "video.MViT"),
    ],
)
def test_get_model(name: str, model_class: str) -> None:
    # tvcompat exports builders, not model classes: the class is torchvision's own.
    _need(name)
    module, _, cls = model_class.rpartition(".")
    owner = importlib.import_module("torchvision.models" + (f".{module}" if module else ""))
    # lraspp's default weights_backbone=IMAGENET1K_V1 would download: built without it.
    config = {"weights_backbone": None} if name.startswith("lraspp") else {}
    assert isinstance(tvcompat.get_model(name, **config), getattr(owner, cls))


@pytest.mark.parametrize(
    ("name", "model_fn"),
    [
        ("resnet50", "resnet50"),
        ("retinanet_resnet50_fpn_v2", "detection.retinanet_resnet50_fpn_v2"),
        ("raft_large", "optical_flow.raft_large"),
        ("quantized_resnet50", "quantization.resnet50"),
        ("lraspp_mobilenet_v3_large", "segmentation.lraspp_mobilenet_v3_large"),
        ("mvit_v1_b", "video.mvit_v1_b"),
    ],
)
def test_get_model_builder(name: str, model_fn: str) -> None:
    module, _, fn = model_fn.rpartition(".")
    owner = getattr(tvcompat, module) if module else tvcompat
    assert tvcompat.get_model_builder(name) == getattr(owner, fn)


@pytest.mark.parametrize(
    ("name", "weight"),
    [
        ("resnet50", "ResNet50_Weights"),
        ("retinanet_resnet50_fpn_v2", "detection.RetinaNet_ResNet50_FPN_V2_Weights"),
        ("raft_large", "optical_flow.Raft_Large_Weights"),
        ("quantized_resnet50", "quantization.ResNet50_QuantizedWeights"),
        ("lraspp_mobilenet_v3_large", "segmentation.LRASPP_MobileNet_V3_Large_Weights"),
        ("mvit_v1_b", "video.MViT_V1_B_Weights"),
    ],
)
def test_get_model_weights(name: str, weight: str) -> None:
    module, _, cls = weight.rpartition(".")
    owner = getattr(tvcompat, module) if module else tvcompat
    assert tvcompat.get_model_weights(name) == getattr(owner, cls)


@pytest.mark.parametrize("copy_fn", [copy.copy, copy.deepcopy])
@pytest.mark.parametrize("name", SIX)
def test_weights_copyable(copy_fn: Callable[[Any], Any], name: str) -> None:
    for weights in list(tvcompat.get_model_weights(name)):
        skip_where_torchvision_cannot(weights, copy_fn, copy_fn.__name__)
        # It is somewhat surprising that (deep-)copying is an identity operation here, but this
        # is the default behavior of enums (torchvision's comment).
        assert copy_fn(weights) is weights


@pytest.mark.parametrize("name", SIX)
def test_weights_deserializable(name: str) -> None:
    for weights in list(tvcompat.get_model_weights(name)):
        skip_where_torchvision_cannot(weights, _pickle_round_trip, "pickle")
        # It is somewhat surprising that deserialization is an identity operation here, but
        # this is the default behavior of enums (torchvision's comment).
        assert pickle.loads(pickle.dumps(weights)) is weights


@pytest.mark.parametrize("module", MODULES, ids=_MODULE_IDS)
def test_list_models(module: Any) -> None:
    if module is optical_flow:
        _torchvision_module(module)  # skips where torchvision has no optical_flow family
    a = set(get_models_from_module(module))
    b = {x.replace("quantized_", "") for x in tvcompat.list_models(module)}

    assert len(b) > 0
    assert a == b


@pytest.mark.parametrize("include_filters", _FILTERS, ids=[repr(f) for f in _FILTERS])
@pytest.mark.parametrize("exclude_filters", _EXCLUDES, ids=[repr(f) for f in _EXCLUDES])
def test_list_models_filters(include_filters: Any, exclude_filters: Any) -> None:
    actual = set(tvcompat.list_models(tvcompat, include=include_filters, exclude=exclude_filters))
    classification_models = set(get_models_from_module(tvcompat))

    if isinstance(include_filters, str):
        include_filters = [include_filters]
    if isinstance(exclude_filters, str):
        exclude_filters = [exclude_filters]

    if include_filters:
        expected: set[str] = set()
        for include_f in include_filters:
            include_base = include_f.strip("*?")
            expected = expected | {x for x in classification_models if include_base in x}
    else:
        expected = classification_models

    if exclude_filters:
        for exclude_f in exclude_filters:
            exclude_base = exclude_f.strip("*?")
            if exclude_base != "":
                a_exclude = {x for x in classification_models if exclude_base in x}
                expected = expected - a_exclude

    assert expected == actual


@pytest.mark.parametrize("include", ["", "*resnet*", ("*resnet*", "*alexnet*")])
def test_list_models_matches_torchvision(include: Any) -> None:
    # Not in torchvision's file: where torchvision has the filters, tvcompat must agree.
    if not CAPS.list_models_filters:
        pytest.skip(f"torchvision {TV} has no list_models(include=, exclude=) (0.16)")
    import torchvision.models as tvm

    assert tvcompat.list_models(include=include) == tvm.list_models(include=include)
    assert tvcompat.list_models() == tvm.list_models()


@pytest.mark.parametrize(
    ("name", "weight"),
    [
        ("ResNet50_Weights.IMAGENET1K_V1", "ResNet50_Weights.IMAGENET1K_V1"),
        ("ResNet50_Weights.DEFAULT", "ResNet50_Weights.IMAGENET1K_V2"),
        (
            "ResNet50_QuantizedWeights.DEFAULT",
            "quantization.ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V2",
        ),
        (
            "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1",
            "quantization.ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1",
        ),
    ],
)
def test_get_weight(name: str, weight: str) -> None:
    obj: Any = tvcompat
    for part in weight.split("."):
        obj = getattr(obj, part)
    assert tvcompat.get_weight(name) == obj


@pytest.mark.parametrize("model_fn", _all_model_fns())
def test_naming_conventions(model_fn: Callable[..., Any]) -> None:
    weights_enum = tvcompat.get_model_weights(model_fn)
    assert weights_enum is not None
    assert len(weights_enum) == 0 or hasattr(weights_enum, "DEFAULT")


# Fields torchvision itself lacks before 0.15 (reference §4.3): skipped there, on its own enums.
_LATER_FIELDS = {"_ops", "_file_size"}


@pytest.mark.parametrize("model_fn", _all_model_fns())
def test_schema_meta_validation(model_fn: Callable[..., Any]) -> None:
    # Runs by default (torchvision gates it behind PYTORCH_TEST_WITH_EXTENDED because it
    # downloads every weights file). Adapted: the two checks that need the real weights bytes,
    # ``model_fn(weights=w)`` + parameter count + ``get_ops`` and ``get_file_size_mb(w)``
    # (which downloads the file), are left out - nothing here may download. The meta fields,
    # names and the quantized entries' num_params/_ops against ``unquantized`` are kept.
    if model_fn.__name__ == "maskrcnn_resnet50_fpn_v2":
        pytest.skip(reason="FIXME https://github.com/pytorch/vision/issues/7349")

    # list of all possible supported high-level fields for weights meta-data
    permitted_fields = {
        "backend",
        "categories",
        "keypoint_names",
        "license",
        "_metrics",
        "min_size",
        "min_temporal_size",
        "num_params",
        "recipe",
        "unquantized",
        "_docs",
        "_ops",
        "_file_size",
    }
    # mandatory fields for each computer vision task
    classification_fields = {
        "categories",
        ("_metrics", "ImageNet-1K", "acc@1"),
        ("_metrics", "ImageNet-1K", "acc@5"),
    }
    defaults: dict[str, set[Any]] = {
        "all": {"_metrics", "min_size", "num_params", "recipe", "_docs", "_file_size", "_ops"},
        "models": classification_fields,
        "detection": {"categories", ("_metrics", "COCO-val2017", "box_map")},
        "quantization": classification_fields | {"backend", "unquantized"},
        "segmentation": {
            "categories",
            ("_metrics", "COCO-val2017-VOC-labels", "miou"),
            ("_metrics", "COCO-val2017-VOC-labels", "pixel_acc"),
        },
        "video": {
            "categories",
            ("_metrics", "Kinetics-400", "acc@1"),
            ("_metrics", "Kinetics-400", "acc@5"),
        },
        "optical_flow": set(),
    }
    model_name = model_fn.__name__
    module_name = _FAMILY[model_fn.__module__]
    expected_fields = defaults["all"] | defaults[module_name]

    weights_enum = tvcompat.get_model_weights(model_fn)
    if len(weights_enum) == 0:
        pytest.skip(f"Model '{model_name}' doesn't have any pre-trained weights.")
    if weights_enum.__module__.startswith("torchvision.") and not CAPS.weights_picklable:
        # torchvision's own enums on 0.13/0.14 have no _ops/_file_size (added in 0.15)
        expected_fields -= _LATER_FIELDS

    problematic_weights = {}
    incorrect_meta = []
    bad_names = []
    for w in weights_enum:
        actual_fields = set(w.meta.keys())
        actual_fields |= {
            ("_metrics", dataset, metric_key)
            for dataset in w.meta.get("_metrics", {})
            for metric_key in w.meta.get("_metrics", {}).get(dataset, {})
        }
        missing_fields = expected_fields - actual_fields
        unsupported_fields = set(w.meta.keys()) - permitted_fields
        if missing_fields or unsupported_fields:
            problematic_weights[w] = {"missing": missing_fields, "unsupported": unsupported_fields}

        if (
            w == weights_enum.DEFAULT
            or any(
                w.meta.get(k) != weights_enum.DEFAULT.meta.get(k) for k in ["num_params", "_ops"]
            )
        ) and module_name == "quantization":
            # parameters() count doesn't work well with quantization, so we check against
            # the non-quantized
            unquantized_w = w.meta.get("unquantized")
            if unquantized_w is not None:
                if w.meta.get("num_params") != unquantized_w.meta.get("num_params"):
                    incorrect_meta.append((w, "num_params"))

                # the methodology for quantized ops count doesn't work as well, so we take
                # unquantized FLOPs instead
                if w.meta.get("_ops") != unquantized_w.meta.get("_ops"):
                    incorrect_meta.append((w, "_ops"))
            # else: torchvision loads the model with the weights (a download) here: left out.

        if not w.name.isupper():
            bad_names.append(w)
        # get_file_size_mb(w) downloads the file: left out.

    assert not problematic_weights
    assert not incorrect_meta
    assert not bad_names


@pytest.mark.parametrize("model_fn", _jit_params())
def test_transforms_jit(model_fn: Callable[..., Any]) -> None:
    model_name = model_fn.__name__
    weights_enum = tvcompat.get_model_weights(model_fn)
    if len(weights_enum) == 0:
        pytest.skip(f"Model '{model_name}' doesn't have any pre-trained weights.")
    module_name = _FAMILY[model_fn.__module__]
    input_shape = _MODEL_SHAPES.get(model_name, _INPUT_SHAPES[module_name])
    x = torch.rand(input_shape)
    if module_name == "optical_flow":
        args: tuple[Any, ...] = (x, x)
    else:
        if module_name == "video":
            x = x.permute(0, 2, 1, 3, 4)
        args = (x,)

    problematic_weights = []
    for w in weights_enum:
        transforms = w.transforms()
        try:
            _check_jit_scriptable(transforms, args)
        except Exception as exc:
            problematic_weights.append((w, repr(exc)[:200]))

    assert not problematic_weights


# --------------------------------------------------------------------------------------------
# TestHandleLegacyInterface: torchvision tests its private ``handle_legacy_interface``
# decorator on a stub builder. tvcompat's builders play that decorator's role, with one
# deliberate difference: they emit no deprecation warnings. So each test keeps torchvision's
# call and checks tvcompat's contract instead: no warning at all (``filterwarnings("error")``
# kept) and the weights torchvision's warning names (``weights=<Sentinel>``) are what
# ``tvcompat.resolve`` says the call loads. The stub ``ModelWeights.Sentinel`` becomes a real
# builder's legacy entry (resnet18: ResNet18_Weights.IMAGENET1K_V1).
# --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")
class TestHandleLegacyInterface:
    SENTINEL = "ResNet18_Weights.IMAGENET1K_V1"

    @pytest.fixture
    def cached_sentinel(self, official_urls: dict[str, str], served: Any, hub_dir: Path) -> None:
        """The Sentinel's file in the hub cache: a generated random-init resnet18 state dict
        (nothing is downloaded)."""
        target = hub_dir / "checkpoints" / served["resnet18"].name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(served["resnet18"].path, target)

    @pytest.mark.parametrize("kwargs", ["empty", "None", "Weights"])
    def test_no_warn(self, kwargs: str, cached_sentinel: None) -> None:
        call = {
            "empty": {},
            "None": {"weights": None},
            "Weights": {"weights": tvcompat.ResNet18_Weights.IMAGENET1K_V1},
        }[kwargs]
        tvcompat.resnet18(**call)

    @pytest.mark.parametrize("pretrained", [True, False])
    def test_pretrained_pos(self, pretrained: bool) -> None:
        # torchvision: warns "positional"; tvcompat: no warning, same weights as keyword.
        res = tvcompat.resolve("resnet18", pretrained)
        assert _entry(res.weights) == (self.SENTINEL if pretrained else None)

    @pytest.mark.parametrize("pretrained", [True, False])
    def test_pretrained_kw(self, pretrained: bool) -> None:
        res = tvcompat.resolve("resnet18", pretrained=pretrained)
        assert _entry(res.weights) == (self.SENTINEL if pretrained else None)

    @pytest.mark.parametrize("pretrained", [True, False])
    @pytest.mark.parametrize("positional", [True, False])
    def test_equivalent_behavior_weights(self, pretrained: bool, positional: bool) -> None:
        args, kwargs = ((pretrained,), {}) if positional else ((), {"pretrained": pretrained})
        expected = self.SENTINEL if pretrained else None
        assert _entry(tvcompat.resolve("resnet18", *args, **kwargs).weights) == expected
        weights = tvcompat.ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
        assert _entry(tvcompat.resolve("resnet18", weights=weights).weights) == expected

    def test_multi_params(self) -> None:
        # weights/weights_other -> a detection builder's weights/weights_backbone.
        res = tvcompat.resolve("fasterrcnn_resnet50_fpn", pretrained=True)
        assert _entry(res.weights) == "FasterRCNN_ResNet50_FPN_Weights.COCO_V1"
        res = tvcompat.resolve("fasterrcnn_resnet50_fpn", pretrained_backbone=True)
        assert _entry(res.weights_backbone) == "ResNet50_Weights.IMAGENET1K_V1"

    def test_default_callable(self) -> None:
        # torchvision: the legacy default depends on another argument (quantize=), and a
        # combination without weights raises ValueError mentioning "weights".
        res = tvcompat.resolve("quantized_resnet50", pretrained=True, quantize=True)
        assert _entry(res.weights) == "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1"
        res = tvcompat.resolve("quantized_resnet50", pretrained=True, quantize=False)
        assert _entry(res.weights) == "ResNet50_Weights.IMAGENET1K_V1"

    def test_default_callable_without_weights(self) -> None:
        # torchvision's ``builder(pretrained=True, flag=False)``: legacy default None -> raises.
        _need("regnet_y_128gf")
        with pytest.raises(ValueError, match="weights"):
            tvcompat.resolve("regnet_y_128gf", pretrained=True)

    @pytest.mark.parametrize(
        "model_fn",
        [p for p in _all_model_fns() if p.values[0].__name__ not in {"vit_h_14", "regnet_y_128gf"}]
        + [
            pytest.param("resnet_fpn_backbone", id="resnet_fpn_backbone"),
            pytest.param("mobilenet_backbone", id="mobilenet_backbone"),
        ],
    )
    def test_pretrained_deprecation(self, model_fn: Any) -> None:
        # torchvision: ``model_fn(pretrained=True)`` warns "deprecated" (and downloads).
        # tvcompat: resolving the same call names weights and emits no warning.
        if isinstance(model_fn, str):
            kwargs: dict[str, Any] = {"backbone_name": "resnet50"}
            if model_fn == "mobilenet_backbone":
                kwargs = {"backbone_name": "mobilenet_v2", "fpn": False}
            res = tvcompat.resolve(model_fn, pretrained=True, **kwargs)
        else:
            res = tvcompat.resolve(model_fn, pretrained=True)
        assert res.weights is not None


# --- added by issue 10 -----------------------------------------------------------------------


@pytest.mark.parametrize(("module", "name"), _enum_params())
def test_every_member_copy_pickle_round_trip(module: Any, name: str) -> None:
    cls = getattr(module, name)
    for member in list(cls.__members__.values()):
        skip_where_torchvision_cannot(member, copy.deepcopy, "deepcopy")
        skip_where_torchvision_cannot(member, _pickle_round_trip, "pickle")
        assert copy.copy(member) is member
        assert copy.deepcopy(member) is member
        assert pickle.loads(pickle.dumps(member)) is member
        holder = {"weights": member}
        assert copy.deepcopy(holder)["weights"] is member
        assert pickle.loads(pickle.dumps(holder))["weights"] is member


def test_spawn_round_trip() -> None:
    # One spawned child unpickles the members (importing tvcompat afresh) and pickles them back.
    members = [
        tvcompat.ResNet50_Weights.IMAGENET1K_V1,
        tvcompat.ResNet50_Weights.DEFAULT,
        detection.RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1,
        quantization.ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V2,
        segmentation.LRASPP_MobileNet_V3_Large_Weights.DEFAULT,
    ]
    for member in members:
        skip_where_torchvision_cannot(member, _pickle_round_trip, "pickle")
    data = pickle.dumps(members)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # bytes both ways: a failure in the child is raised here, no hang
        back = pickle.loads(pool.apply_async(_child_round_trip, (data,)).get(timeout=120))
    assert len(back) == len(members)
    for got, sent in zip(back, members):
        assert got is sent


@pytest.mark.parametrize(("module", "name"), _enum_params())
def test_enum_module_and_qualname_resolve(module: Any, name: str) -> None:
    cls = getattr(module, name)
    obj: Any = importlib.import_module(cls.__module__)
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part)
    assert obj is cls
    assert cls.__name__ == name


@pytest.mark.parametrize(("module", "name"), _enum_params())
def test_enum_behaves_like_weights_enum(module: Any, name: str) -> None:
    cls = getattr(module, name)
    assert issubclass(cls, enum.Enum)
    members = list(cls)
    assert members, f"{name} has no members"
    names = [m.name for m in members]
    assert "DEFAULT" not in names  # an alias, as in torchvision
    assert "DEFAULT" in cls.__members__
    assert cls.DEFAULT in members
    assert cls["DEFAULT"] is cls.DEFAULT
    for member in members:
        text = f"{name}.{member.name}"
        assert str(member) == text
        assert repr(member) == text
        assert member == cls[member.name]
        assert member is cls[member.name]
        assert hash(member) == hash(cls[member.name])
        assert member.name.isupper()
        assert [f.name for f in dataclasses.fields(member.value)] == ["url", "transforms", "meta"]
        assert member.value.url == member.url
        assert member.value.meta is member.meta
        assert member.url.startswith("https://")
        assert callable(member.transforms)
        assert cls(member.value) is member
    for a, b in zip(members, members[1:]):
        assert a != b


@pytest.mark.parametrize(("module", "name"), _enum_params())
def test_enum_matches_torchvision(module: Any, name: str) -> None:
    """Where the installed torchvision has the enum, tvcompat hands out torchvision's own, and
    str/repr/eq/hash/value agree with torchvision's ``WeightsEnum``."""
    tv_module = _torchvision_module(module)
    if not hasattr(tv_module, name):
        pytest.skip(f"torchvision {TV} has no {name} (stand-in; checked against the spec above)")
    tv_cls = getattr(tv_module, name)
    cls = getattr(module, name)
    assert cls is tv_cls
    member = tv_cls.DEFAULT
    assert str(member) == f"{name}.{member.name}"
    assert repr(cls[member.name]) == repr(member)
    assert hash(cls[member.name]) == hash(member)
    assert cls[member.name].value is member.value


@pytest.mark.parametrize(("module", "name"), _enum_params())
def test_verify(module: Any, name: str) -> None:
    cls = getattr(module, name)
    other = tvcompat.AlexNet_Weights if name != "AlexNet_Weights" else tvcompat.VGG11_Weights
    assert cls.verify(None) is None
    for member in cls:
        assert cls.verify(member) is member
        assert cls.verify(member.name) is member
        assert cls.verify(f"{name}.{member.name}") is member
    assert cls.verify("DEFAULT") is cls.DEFAULT
    with pytest.raises((KeyError, ValueError)):
        cls.verify("NOT_A_MEMBER")
    with pytest.raises(TypeError):
        cls.verify(other.DEFAULT)
    with pytest.raises(TypeError):
        cls.verify(3)


@pytest.mark.parametrize("name", [n for n in dir(quantization) if n.endswith("_QuantizedWeights")])
def test_unquantized_is_float_member(name: str) -> None:
    cls = getattr(quantization, name)
    float_enum = getattr(tvcompat, name.replace("_QuantizedWeights", "_Weights"))
    for member in cls:
        unquantized = member.meta["unquantized"]
        assert isinstance(unquantized, enum.Enum), f"{member}: {unquantized!r}"
        assert type(unquantized) is float_enum
        assert float_enum[unquantized.name] is unquantized
