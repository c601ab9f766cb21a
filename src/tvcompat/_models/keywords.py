"""The keyword arguments of a builder call, checked before anything is built or downloaded:
keywords the installed torchvision's builder does not take, counts that are not positive
ints, values the weights fix."""

from __future__ import annotations

import ast
import difflib
import numbers
import reprlib
from typing import TYPE_CHECKING, Any, Union

from tvcompat import _catalog
from tvcompat._models.ast_tools import _evaluate
from tvcompat._versions import capabilities, torchvision_version
from tvcompat._weights import Entry
from tvcompat.errors import (
    ConflictingArgumentsError,
    InvalidArgumentError,
    InvalidValueError,
)

if TYPE_CHECKING:
    from tvcompat._models.trace import _Keywords

# --------------------------------------------------------------------------------------------
# The keyword arguments the installed torchvision's builder takes
# --------------------------------------------------------------------------------------------

#: the keywords :func:`~tvcompat._models.resolve.resolve` handles itself
_OWN = frozenset({"progress", "pretrained", "weights", "pretrained_backbone", "weights_backbone"})
_MISSING: Any = object()
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


def short(value: Any) -> str:
    """``repr(value)``, shortened for an error message."""
    return _REPR.repr(value)


#: keyword arguments that count something: a positive int
_COUNTS = ("num_classes", "num_keypoints")


def _check_keywords(key: str, info: _catalog.BuilderRecord, kw: dict[str, Any]) -> _Keywords | None:
    """Refuse the keywords the installed builder does not take, and counts that cannot work.

    Keywords of both the legacy and the newest signature (``num_classes`` of a detection
    builder, ``quantize``) need no look at torchvision; any other is checked against
    :func:`_keywords`. Returns what that found (``None`` if it was not needed or not sure).
    """
    name = info["name"]
    known = set(info["positional"]) & set(info["params"])
    others = [k for k in kw if k not in _OWN]
    keywords: _Keywords | None = None
    if (
        info["family"] == "backbone_utils"  # the only builders with required arguments
        or any(k not in known for k in others)
        or any(kw.get(c, 0) is None for c in _COUNTS)
    ):
        from tvcompat._models.trace import _keywords  # noqa: PLC0415 - only where needed

        keywords = _keywords(key)
    if keywords is not None:
        unknown = [k for k in others if k not in keywords.accepts]
        if unknown:
            raise InvalidArgumentError(_unexpected_message(info, unknown, keywords))
        missing = sorted(keywords.required - _OWN - set(kw))
        if missing:
            raise InvalidArgumentError(
                f"{name}() missing required argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing)}."
            )
        for param, message in keywords.refused_truthy:
            value = kw.get(param)
            if isinstance(value, (bool, int, str)) and value:
                raise InvalidValueError(
                    f"{name}({param}={value!r}): torchvision refuses it for this model "
                    f"({message or 'not supported'}). Leave {param} out."
                )
    for param in _COUNTS:
        if param in kw:
            kw[param] = _check_count(name, param, kw[param], keywords, kw)
    return keywords


def _unexpected_message(
    info: _catalog.BuilderRecord, unknown: list[str], keywords: _Keywords
) -> str:
    name = info["name"]
    takes = list(dict.fromkeys([*info["weights_params"], "progress", *info["positional"]]))
    if not capabilities().weights_api:
        takes = [p for p in takes if p not in info["weights_params"]] + [
            p for p in takes if p in info["weights_params"]
        ]
    accepts = keywords.accepts
    if not accepts.open:
        takes += sorted(accepts.names - set(takes) - {"pretrained", "pretrained_backbone"})
    takes = [p for p in takes if p != "pretrained_backbone" or p in info["legacy_params"]]
    which = (
        f"an unexpected keyword argument {unknown[0]!r}"
        if len(unknown) == 1
        else f"unexpected keyword arguments {', '.join(repr(k) for k in unknown)}"
    )
    close = difflib.get_close_matches(unknown[0], takes, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    more = "" if not accepts.open else " and other keywords"
    return (
        f"{name}() got {which}.{hint} On torchvision {torchvision_version()} it takes "
        f"{', '.join(takes)}{more}."
    )


def _check_count(
    name: str, param: str, value: Any, keywords: _Keywords | None, kw: dict[str, Any]
) -> Any:
    """``value`` of ``num_classes``/``num_keypoints`` if it can work (as an ``int``)."""
    what = "the number of output classes" if param == "num_classes" else "keypoints per object"
    if value is None:
        default = _MISSING if keywords is None else keywords.defaults.get(param, _MISSING)
        # None means "the default" where torchvision says so, or with a custom predictor
        custom = any(k.endswith(("predictor", "head")) for k in kw)
        if default is _MISSING or default is None or custom:
            return value
        raise InvalidArgumentError(
            f"{name}({param}=None): {param} takes a positive int, {what} (default "
            f"{default!r}); leave it out for the default."
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fix = ""
        digits = isinstance(value, str) and value.strip().isdigit()
        if digits or (isinstance(value, float) and value.is_integer() and value > 0):
            fix = f" Pass {param}={int(value)}."
        raise InvalidArgumentError(
            f"{name}({param}={short(value)}): {param} takes a positive int, {what}, not "
            f"{type(value).__name__}.{fix}"
        )
    if value < 1:
        raise InvalidValueError(f"{name}({param}={value}): {param} must be a positive int, {what}.")
    return int(value)


def _check_fixed(name: str, keywords: _Keywords, kw: dict[str, Any], weights: Entry | None) -> None:
    """Refuse values torchvision overrides with an error (``_ovewrite_named_param``): a
    constant (``groups=32`` of ``resnext50_32x4d``) or one the weights fix (``image_size``)."""
    obj: Any = None
    for fixed in keywords.fixed:
        if fixed.param not in kw:
            continue
        value = kw[fixed.param]
        try:
            if weights is not None and obj is None:
                obj = weights.obj
            scope = {"weights": obj}
            if not all(bool(_evaluate(test, scope)) is want for test, want in fixed.conditions):
                continue
            expected = _evaluate(fixed.value, scope)
        except Exception:  # not evaluable here: torchvision decides
            continue
        if not (_plain(value) and _plain(expected)) or value == expected:
            continue
        if not fixed.conditions:
            raise InvalidValueError(
                f"{name}({fixed.param}={value!r}): {name} always has {fixed.param}="
                f"{expected!r} (torchvision refuses any other value). Leave {fixed.param} out."
            )
        raise ConflictingArgumentsError(
            f"{name}({fixed.param}={value!r}) conflicts with {weights}, which need "
            f"{fixed.param}={expected!r}. Leave {fixed.param} out, or build without weights "
            "and load them yourself."
        )


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


_Node = Union[ast.expr, ast.stmt]
