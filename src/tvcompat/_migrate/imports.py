"""The codemod's base: its findings, the imports later torchvision releases removed, and the
bookkeeping of the imports a rewrite adds and leaves unused."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import Codemod, CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import Assignment, PositionProvider, QualifiedNameProvider, ScopeProvider

from tvcompat._migrate.results import Finding
from tvcompat._migrate.values import _code


class _ImportRewriter(VisitorBasedCodemodCommand):
    """Findings, removed imports and import bookkeeping; the call rewrite is
    :class:`~tvcompat._migrate.codemod._Migrator`'s."""

    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider, ScopeProvider)

    def __init__(self, context: CodemodContext, target: str) -> None:
        super().__init__(context)
        self.target = target
        self.findings: list[Finding] = []

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """The rewrite, then the imports it needs, then the imports it left unused.

        libcst's RemoveImportsVisitor keys whole-module imports by module name, so ``import
        torchvision.models`` and ``import torchvision.models as tvm`` scheduled together would
        shadow each other: they go to separate passes.
        """
        new = Codemod.transform_module(self, tree)
        if AddImportsVisitor.CONTEXT_KEY in self.context.scratch:
            new = AddImportsVisitor(self.context).transform_module(new)
        removals = self.context.scratch.pop(RemoveImportsVisitor.CONTEXT_KEY, [])
        groups: list[list[tuple[str, str | None, str | None]]] = []
        for item in dict.fromkeys(removals):
            for group in groups:  # whole-module imports of one module need separate passes
                if item[1] is not None or all(g[0] != item[0] or g[1] is not None for g in group):
                    group.append(item)
                    break
            else:
                groups.append([item])
        for group in groups:
            new = RemoveImportsVisitor(CodemodContext(), group).transform_module(new)
        return _keep_header_spacing(tree, new)

    # -- reporting ----------------------------------------------------------------------------

    def _report(self, node: cst.CSTNode, rewritten: bool, message: str) -> None:
        pos = self.get_metadata(PositionProvider, node).start
        self.findings.append(Finding(pos.line, pos.column + 1, rewritten, message))

    def _qualified(self, node: cst.CSTNode) -> set[str]:
        names = self.get_metadata(QualifiedNameProvider, node, set())
        return {q.name for q in names}

    # -- imports that later releases removed ----------------------------------------------------

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if updated_node.relative or updated_node.module is None:
            return updated_node
        module = cst.Module([]).code_for_node(updated_node.module)
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        names = [a.evaluated_name for a in updated_node.names]
        if module == "torchvision.models.utils":
            if names == ["load_state_dict_from_url"]:
                self._report(
                    original_node, True, "torchvision.models.utils (removed in 0.11) -> torch.hub"
                )
                return updated_node.with_changes(module=cst.parse_expression("torch.hub"))
            self._report(
                original_node,
                False,
                "torchvision.models.utils was removed in "
                "torchvision 0.11: import load_state_dict_from_url from torch.hub",
            )
            return updated_node
        if module.startswith("torchvision.models.") and (
            "model_urls" in names or "quant_model_urls" in names
        ):
            if self.target == "native" or any(
                n not in ("model_urls", "quant_model_urls") for n in names
            ):
                self._report(
                    original_node,
                    False,
                    f"{module}.model_urls was removed in torchvision 0.15 (video's "
                    "is deprecated): use the weights enums' .url, or --target shim "
                    "for tvcompat.legacy.model_urls",
                )
                return updated_node
            self._report(
                original_node,
                True,
                f"{module} model URL tables (removed in 0.15) -> tvcompat.legacy",
            )
            return updated_node.with_changes(module=cst.parse_expression("tvcompat.legacy"))
        return updated_node

    # -- imports a rewrite leaves unused ------------------------------------------------------

    def _drop_import_of(self, func: cst.BaseExpression) -> None:
        """Schedule the import that binds ``func``'s name for removal (done only if nothing
        else uses it). libcst's ``remove_unused_import_by_node`` does the same, slower."""
        full = get_full_name_for_node(func)
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if full is None or not isinstance(root, cst.Name):
            return
        try:
            scope = self.get_metadata(ScopeProvider, func)
        except KeyError:  # pragma: no cover - every expression has a scope
            return
        while scope is not None:
            for assignment in scope.assignments[root.value]:
                node = assignment.node if isinstance(assignment, Assignment) else None
                if isinstance(node, cst.Import):
                    for alias in node.names:
                        prefix = alias.evaluated_alias or alias.evaluated_name
                        if full == prefix or full.startswith(prefix + "."):
                            self.remove_unused_import(
                                alias.evaluated_name, asname=alias.evaluated_alias
                            )
                elif (
                    isinstance(node, cst.ImportFrom)
                    and not node.relative
                    and node.module is not None
                    and not isinstance(node.names, cst.ImportStar)
                ):
                    module = _code(node.module)
                    for alias in node.names:
                        prefix = alias.evaluated_alias or alias.evaluated_name
                        if full == prefix or full.startswith(prefix + "."):
                            self.remove_unused_import(
                                module, alias.evaluated_name, alias.evaluated_alias
                            )
            if scope is scope.parent:
                break
            scope = scope.parent


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


def _keep_header_spacing(before: cst.Module, after: cst.Module) -> cst.Module:
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
