"""Small readers of Python source (``ast``) for :mod:`tvcompat._models.trace`: names,
constants, control flow, and the few expressions builders compute from their weights."""

from __future__ import annotations

import ast
from typing import Any


class _Unsure(Exception):
    """What a callable accepts cannot be told for certain."""


_MAX_DEPTH = 12
_BRANCHING = (
    ast.If,
    ast.IfExp,
    ast.BoolOp,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.Lambda,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _is_name(node: ast.AST | None, name: str | None) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _string(node: ast.AST | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise _Unsure("not a string constant")


def _init_of(cls: type, start: int = 0) -> tuple[Any, type]:
    """``cls.__init__`` as found from ``cls.__mro__[start]`` on, and the class defining it."""
    for owner in cls.__mro__[start:]:
        if "__init__" in vars(owner):
            return vars(owner)["__init__"], owner
    raise _Unsure("no __init__")


def _takes_nothing(owner: type) -> bool:
    """``object`` and ``torch.nn.Module`` take no keyword arguments."""
    return owner is object or (
        owner.__name__ == "Module" and owner.__module__.startswith("torch.nn.modules")
    )


def _exits(nodes: list[ast.stmt]) -> bool:
    return any(
        isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom))
        for node in nodes
        for n in ast.walk(node)
    )


def _straight(node: ast.AST, wanted: set[int]) -> bool:
    """Whether evaluating ``node`` always makes a call in ``wanted``."""
    if id(node) in wanted:
        return True
    if isinstance(node, _BRANCHING):
        return False
    return any(_straight(child, wanted) for child in ast.iter_child_nodes(node))


def _covers(body: list[ast.stmt], wanted: set[int]) -> bool:
    """Whether every path through ``body`` makes a call in ``wanted``, or raises."""
    for stmt in body:
        if isinstance(stmt, ast.Raise):
            return True
        if isinstance(stmt, ast.If):
            then, other = _covers(stmt.body, wanted), _covers(stmt.orelse, wanted)
            if then and other:
                return True
            if (not then and _exits(stmt.body)) or (not other and _exits(stmt.orelse)):
                return False
            continue
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            if _covers(stmt.body, wanted):
                return True
            if _exits(stmt.body):
                return False
            continue
        if isinstance(stmt, (*_BRANCHING, ast.Try, ast.While)):
            if _exits([stmt]):
                return False
            continue
        if _straight(stmt, wanted):
            return True
        if _exits([stmt]):
            return False
    return False


def _evaluate(node: ast.AST, scope: dict[str, Any]) -> Any:
    """A small expression of torchvision's (``weights.meta["min_size"][0]``, ``weights is not
    None``, ``64 * 2``) with the names in ``scope``; anything else raises :class:`_Unsure`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in scope:
        return scope[node.id]
    if isinstance(node, ast.Attribute) and node.attr == "meta":
        return _evaluate(node.value, scope).meta
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, scope)[_evaluate(node.slice, scope)]
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_evaluate(e, scope) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Call) and _is_name(node.func, "len") and len(node.args) == 1:
        return len(_evaluate(node.args[0], scope))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, scope)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _evaluate(node.left, scope), _evaluate(node.right, scope)
        if isinstance(node.op, ast.Add):
            return left + right
        return left - right if isinstance(node.op, ast.Sub) else left * right
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _evaluate(node.left, scope), _evaluate(node.comparators[0], scope)
        op = node.ops[0]
        if isinstance(op, ast.Is):
            return left is right
        if isinstance(op, ast.IsNot):
            return left is not right
        if isinstance(op, ast.In):
            return left in right
        if isinstance(op, ast.NotIn):
            return left not in right
    raise _Unsure("expression")
