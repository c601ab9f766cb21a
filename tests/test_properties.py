"""Property-based: random argument mixes on every builder give a resolution that follows the
rules, or one of the documented errors; never another exception. Nothing is built or
downloaded (resolution only)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvcompat
from tvcompat import _catalog
from tvcompat._settings import set_pretrained_policy
from tvcompat.errors import TvcompatError

KEYS = [k for k in _catalog.builder_keys() if _catalog.builder_available(_catalog.builder(k))]
ABSENT: Any = object()
OTHER_MEMBER = "VGG11_Weights.IMAGENET1K_V1"


def _members(enums: list[str]) -> list[str]:
    out = []
    for name in enums:
        info = _catalog.enum(name)
        out += [*info["members"], *(f"{name}.{m}" for m in info["members"])]
    return out


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    key = draw(st.sampled_from(KEYS))
    info = _catalog.builder(key)
    kwargs: dict[str, Any] = {}
    legacy_values = st.sampled_from([True, False, 1, 0, None, "legacy", "yes"])
    for legacy, new in (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone")):
        names = _members(info.get("enums", {}).get(new, []))
        new_values = st.sampled_from(
            [None, "DEFAULT", OTHER_MEMBER, "imagenet1k_v1", True, False, 3, *names[:8]]
        )
        if draw(st.booleans()):
            kwargs[legacy] = draw(legacy_values)
        if draw(st.booleans()):
            kwargs[new] = draw(new_values)
    if info["family"] == "quantization" and draw(st.booleans()):
        kwargs["quantize"] = draw(st.booleans())
    if info["family"] == "backbone_utils":
        kwargs["backbone_name"] = draw(
            st.sampled_from(sorted(f.partition("=")[2] for f in info["legacy"]))
        )
    if info["family"] != "backbone_utils" and draw(st.booleans()):
        kwargs["num_classes"] = draw(st.sampled_from([None, 2, 10, 21, 91, 1000]))
    args = tuple(draw(st.lists(st.booleans(), max_size=2)))
    return key, args, kwargs


def oracle(key: str, kwargs: dict[str, Any]) -> str | None:
    """The weights the rules name, computed from the catalog data directly."""
    info = _catalog.builder(key)
    given_weights = kwargs.get("weights", ABSENT)
    if given_weights not in (ABSENT, True, False, "legacy") and given_weights is not None:
        name = str(given_weights).rpartition(".")[2]
        if info["family"] == "backbone_utils":  # the enum of the backbone it builds
            info = _catalog.builder(kwargs["backbone_name"])
        for enum_name in info["enums"]["weights"] or []:
            enum = _catalog.enum(enum_name)
            if name == "DEFAULT":
                quantized = bool(kwargs.get("quantize"))
                if ("Quantized" in enum_name) == quantized or len(info["enums"]["weights"]) == 1:
                    return f"{enum_name}.{enum['default']}"
            elif name in enum["members"]:
                return f"{enum_name}.{name}"
    flag = kwargs.get(
        "pretrained",
        given_weights if isinstance(given_weights, bool) or given_weights == "legacy" else None,
    )
    if not flag:
        return None
    if info["family"] == "backbone_utils":
        form = f"backbone_name={kwargs['backbone_name']}"
    elif flag == "legacy" and "pretrained=legacy" in info["legacy"]:
        form = "pretrained=legacy"
    elif kwargs.get("quantize"):
        form = "pretrained=True,quantize=True"
    else:
        form = "pretrained=True"
    named = [v for _, v in info["legacy"][form] if isinstance(v, str)]
    return named[-1] if named else None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_random_calls_follow_the_rules(call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
    key, args, kwargs = call
    set_pretrained_policy("legacy")
    try:
        info = _catalog.builder(key)
        model = (
            key
            if info["family"] == "backbone_utils"
            else ("quantized_" + info["name"])
            if info["family"] == "quantization"
            else info["name"]
        )
        try:
            res = tvcompat.resolve(model, *args, **kwargs)
        except (TvcompatError, TypeError):
            return  # documented errors (TypeError: argument-shape mistakes, as Python's own)
        if args:
            return  # positional mapping is covered by the example-based tests
        expected = oracle(key, kwargs)
        got = str(res.weights) if res.weights else None
        assert got == expected, (key, kwargs, got, expected)
        if res.weights is not None:
            assert res.weights_backbone is None
    finally:
        set_pretrained_policy(None)
