"""Argument values for the rewrite: literals read from the CST, the arguments of a call
mapped to its legacy signature, and the CST expressions built from them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

import libcst as cst


class _NonLiteral:
    """Marker: the value is only known at run time."""


NONLITERAL = _NonLiteral()
LiteralValue = Union[bool, int, str, None, _NonLiteral]


def _literal(node: cst.BaseExpression) -> LiteralValue:
    """The value of a literal True/False/None/0/1/string, else :data:`NONLITERAL`."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer) and node.value in ("0", "1"):
        return int(node.value)
    if isinstance(node, cst.SimpleString) and not node.prefix.lower().strip("ru"):
        value = node.evaluated_value
        return value if isinstance(value, str) else NONLITERAL
    return NONLITERAL


def _is_legacy_weights_value(value: LiteralValue) -> bool:
    """A ``weights=`` value torchvision treats as the legacy argument (bool, 0/1, "legacy")."""
    return isinstance(value, (bool, int)) or value == "legacy"


_WEIGHTS_LIKE = re.compile(r"weight", re.IGNORECASE)


def _looks_like_weights(node: cst.BaseExpression) -> bool:
    """A positional value whose spelling says it is a weights enum, not a flag."""
    if isinstance(node, (cst.Name, cst.Attribute)):
        return bool(_WEIGHTS_LIKE.search(cst.Module([]).code_for_node(node)))
    return False


def _parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` parenthesised where it would otherwise bind wrongly inside ``a if node else b``."""
    if isinstance(node, (cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield)) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _ifexp(
    test: cst.BaseExpression, body: cst.BaseExpression, orelse: cst.BaseExpression
) -> cst.IfExp:
    return cst.IfExp(test=_parens(test), body=_parens(body), orelse=orelse)


def _none() -> cst.Name:
    return cst.Name("None")


def _code(node: cst.CSTNode) -> str:
    return " ".join(cst.Module([]).code_for_node(node).split())


def _compact(call: cst.Call, limit: int = 200) -> str:
    """``func(a, k=v)`` on one line, without the call's comments and layout."""
    args = []
    for arg in call.args:
        prefix = arg.star + (f"{arg.keyword.value}=" if arg.keyword is not None else "")
        args.append(prefix + _code(arg.value))
    text = f"{_code(call.func)}({', '.join(args)})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Skip(Exception):
    """This call cannot be rewritten faithfully; the message says why."""


@dataclass
class _Bound:
    """One argument of the call, after mapping positionals to the legacy signature."""

    index: int
    name: str | None  # None: **kwargs
    value: cst.BaseExpression
    positional: bool


def _legacy_slots(bound: dict[str, _Bound]) -> dict[str, _Bound]:
    """``{"pretrained": ..., "pretrained_backbone": ...}``: the arguments that use the legacy
    interface (under their legacy or their new name)."""
    slots: dict[str, _Bound] = {}
    for legacy, new in (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone")):
        old_arg, new_arg = bound.get(legacy), bound.get(new)
        if old_arg is not None and new_arg is not None:
            raise _Skip(
                f"both {legacy} and {new} are given (torchvision raises TypeError): keep only {new}"
            )
        if old_arg is not None:
            if old_arg.positional and _looks_like_weights(old_arg.value):
                continue  # a weights enum passed positionally: only made a keyword
            slots[legacy] = old_arg
        elif new_arg is not None and _is_legacy_weights_value(_literal(new_arg.value)):
            slots[legacy] = new_arg
    return slots


def _keyword_arg(arg: cst.Arg, name: str, value: cst.BaseExpression) -> cst.Arg:
    equal = (
        arg.equal
        if arg.keyword is not None
        else cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        )
    )
    return arg.with_changes(keyword=cst.Name(name), equal=equal, value=value)
