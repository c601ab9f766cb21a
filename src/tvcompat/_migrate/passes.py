"""The passes of ``tvcompat migrate`` over one module: the rewrite, then libcst's
``AddImportsVisitor`` for the imports it needs, then ``RemoveImportsVisitor`` for those it
left unused, then the fallback imports that became pointless; each on the top-level
statements it needs (:mod:`~tvcompat._migrate.prepass`), all of them in full mode."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from tvcompat._migrate import prepass
from tvcompat._migrate.moves import DropUnusedFallbacks

__all__ = ["keep_header_spacing", "rewrite_and_tidy"]

_Removal = tuple[str, "str | None", "str | None"]


def _groups(removals: list[_Removal]) -> list[list[_Removal]]:
    """libcst's RemoveImportsVisitor keys whole-module imports by module name, so ``import
    torchvision.models`` and ``import torchvision.models as tvm`` scheduled together would
    shadow each other: they go to separate passes."""
    groups: list[list[_Removal]] = []
    for item in dict.fromkeys(removals):
        for group in groups:
            if item[1] is not None or all(g[0] != item[0] or g[1] is not None for g in group):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


def _drop_unused_fallbacks(
    module: cst.Module, statements: prepass.Statements, full: bool
) -> cst.Module:
    """:class:`~tvcompat._migrate.moves.DropUnusedFallbacks` on the statements that can hold
    a fallback import (``except ImportError``); on the whole module in full mode."""
    if full:
        return module.visit(DropUnusedFallbacks())
    body: list[prepass.Stmt] = []
    changed = False
    for statement in module.body:
        if "ImportError" not in statements.code(module, statement):
            body.append(statement)
            continue
        changed = True
        new = statement.visit(DropUnusedFallbacks())
        if isinstance(new, cst.FlattenSentinel):
            body.extend(new)
        elif isinstance(new, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            body.append(new)
    return module.with_changes(body=body) if changed else module


def rewrite_and_tidy(
    tree: cst.Module,
    statements: prepass.Statements,
    context: CodemodContext,
    words: frozenset[str] | None,
    rewrite: Callable[[cst.Module], cst.Module],
) -> cst.Module:
    """``rewrite`` (which schedules imports in ``context``) and the import passes after it,
    each on the statements that can matter to it given ``words`` (``None``: all)."""
    full = words is None
    new = prepass.run_reduced(tree, statements, prepass.keep_test(words), rewrite, nested=True)
    if AddImportsVisitor.CONTEXT_KEY in context.scratch:
        # it reads the first statement and the import block at the top
        new = prepass.run_reduced(
            new,
            statements,
            prepass.keep_test(None if full else ()),
            AddImportsVisitor(context).transform_module,
        )
    groups = _groups(context.scratch.pop(RemoveImportsVisitor.CONTEXT_KEY, []))
    for group in groups:
        # an import is in use where its names are (code, ``__all__``, string annotations)
        names = {part for item in group for n in item if n for part in n.split(".")}
        new = prepass.run_reduced(
            new,
            statements,
            prepass.keep_test(None if full else names),
            RemoveImportsVisitor(CodemodContext(), group).transform_module,
        )
    if groups:
        new = _drop_unused_fallbacks(new, statements, full)
    return new


def _code_start(module: cst.Module) -> int:
    """Index of the first statement after the module docstring."""
    body = module.body
    if (
        body
        and isinstance(body[0], cst.SimpleStatementLine)
        and body[0].body
        and isinstance(body[0].body[0], cst.Expr)
        and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        return 1
    return 0


def keep_header_spacing(before: cst.Module, after: cst.Module) -> cst.Module:
    """Keep the blank lines after the docstring when the import below it was replaced."""
    i, j = _code_start(before), _code_start(after)
    if i >= len(before.body) or j >= len(after.body):
        return after
    old, new = before.body[i], after.body[j]
    if old.deep_equals(new) or new.leading_lines or not old.leading_lines:
        return after
    body = list(after.body)
    body[j] = new.with_changes(leading_lines=old.leading_lines)
    return after.with_changes(body=body)
