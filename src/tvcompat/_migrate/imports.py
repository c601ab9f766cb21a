"""The codemod's base: its findings, the imports of names that moved (modules later
torchvision releases removed, from :mod:`tvcompat._removed`; for ``--target shim`` the
new-API names, to tvcompat), and the bookkeeping of the imports a rewrite adds and leaves
unused."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import Assignment, MetadataWrapper, ScopeProvider

from tvcompat._migrate import passes, prepass
from tvcompat._migrate.homes import (
    API_MODULES,
    PUBLIC_TWINS,
    WEIGHTS_BASES,
    Home,
    name_home,
    new_api_home,
    removed_entry,
    whole_module_home,
)
from tvcompat._migrate.moves import (
    WEIGHTS_BASE_MESSAGE,
    Plan,
    Statement,
    as_lines,
    plan_from,
    plan_import,
    statements,
)
from tvcompat._migrate.results import Finding
from tvcompat._migrate.values import _code


class _ImportRewriter(cst.CSTTransformer):
    """Findings, removed imports and import bookkeeping; the call rewrite is
    :class:`~tvcompat._migrate.codemod._Migrator`'s.

    A plain transformer (not a libcst codemod command: no matchers to dispatch), with
    libcst's scopes only; qualified names are asked for where a name can reach torchvision
    and positions read off one generation of the module's code (see
    :mod:`~tvcompat._migrate.prepass`)."""

    METADATA_DEPENDENCIES = (ScopeProvider,)

    def __init__(self, context: CodemodContext, target: str) -> None:
        super().__init__()
        self.context = context
        self.target = target
        #: prune: skip the statements (and names) that cannot reach torchvision
        self.prune = True
        self._reset()

    def _reset(self) -> None:
        self.context.scratch.clear()
        self.findings: list[Finding] = []
        self._except_depth = 0
        self._import_depth = 0
        #: import statement (by id) -> (original, plan, the statements replacing it)
        self._plans: dict[int, tuple[cst.ImportFrom | cst.Import, Plan, list[Statement]]] = {}
        #: removed modules imported without a name: (line, column, module)
        self._bare: list[tuple[int, int, str]] = []
        #: the names that can reach torchvision (``None``: any name)
        self._words: frozenset[str] | None = None
        self._positions: Callable[[cst.CSTNode], tuple[int, int]] | None = None

    def add_needed_import(self, module: str, obj: str | None = None) -> None:
        AddImportsVisitor.add_needed_import(self.context, module, obj)

    def remove_unused_import(
        self, module: str, obj: str | None = None, asname: str | None = None
    ) -> None:
        RemoveImportsVisitor.remove_unused_import(self.context, module, obj, asname)

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """The rewrite, then the imports it needs, then the imports it left unused, each
        pass on the statements it needs (all of them if a stand-in went astray)."""
        if self.prune:
            try:
                return self._passes(tree, prune=True)
            except prepass.Mismatch:  # a safety net: never seen outside the tests
                self._reset()
        return self._passes(tree, prune=False)

    def _passes(self, tree: cst.Module, *, prune: bool) -> cst.Module:
        statements = prepass.Statements()
        # positions in the original module: those of the stand-ins' module too (same lines)
        self._positions = statements.prime(tree)
        self._words = prepass.candidate_words("".join(statements.texts(tree))) if prune else None
        new = passes.rewrite_and_tidy(
            tree, statements, self.context, self._words, self._rewrite_module
        )
        self._report_bare_imports(new, statements)
        return passes.keep_header_spacing(tree, new)

    def _rewrite_module(self, tree: cst.Module) -> cst.Module:
        """This transformer on ``tree`` (not copied: the positions are of its nodes)."""
        with self.resolve(MetadataWrapper(tree, unsafe_skip_copy=True)):
            return tree.visit(self)

    def _report_bare_imports(self, new: cst.Module, statements: prepass.Statements) -> None:
        """``import torchvision.transforms.functional_tensor`` still needed after the rewrite
        (its uses that have a home were rewritten, and then it is removed)."""
        if not self._bare:
            return
        remaining = _BareImports()
        for statement in new.body:
            if self._words is None or "import" in statements.code(new, statement):
                statement.visit(remaining)
        for line, column, module in self._bare:
            entry = removed_entry(module)
            if entry is not None and module in remaining.found:
                self.findings.append(
                    Finding(
                        line,
                        column,
                        False,
                        f"import {module}: {module} was removed in torchvision "
                        f"{entry.removed_in}; import it under a name (import {module} as m), "
                        "then rerun",
                    )
                )

    # -- reporting ----------------------------------------------------------------------------

    def _position(self, node: cst.CSTNode) -> tuple[int, int]:
        """Where ``node`` starts (line, 1-based column) in the module being rewritten."""
        assert self._positions is not None
        line, column = self._positions(node)
        return line, column + 1

    def _report(self, node: cst.CSTNode, rewritten: bool, message: str) -> None:
        line, column = self._position(node)
        self.findings.append(Finding(line, column, rewritten, message))

    def _qualified(self, node: cst.CSTNode) -> set[str]:
        """The qualified names of ``node`` (what libcst's QualifiedNameProvider says), asked
        for only where the name can be torchvision's."""
        if self._words is not None:
            full = get_full_name_for_node(node)
            if full is None or full.partition(".")[0] not in self._words:
                return set()
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is None:
            return set()
        return {q.name for q in scope.get_qualified_names_for(node)}

    # -- imports of names that moved (removed modules; new-API names for the shim) ----------

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._except_depth += 1

    def leave_ExceptHandler(
        self, original_node: cst.ExceptHandler, updated_node: cst.ExceptHandler
    ) -> cst.ExceptHandler:
        self._except_depth -= 1
        return updated_node

    def visit_Import(self, node: cst.Import) -> None:
        self._import_depth += 1

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._import_depth += 1

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.BaseSmallStatement:
        self._import_depth -= 1
        if updated_node.relative or updated_node.module is None or self._except_depth:
            return updated_node  # an import in an except clause is a fallback already
        module = _code(updated_node.module)
        if isinstance(updated_node.names, cst.ImportStar):
            entry = removed_entry(module)
            if entry is not None:
                self._report(
                    original_node,
                    False,
                    f"from {module} import *: {module} was removed in torchvision "
                    f"{entry.removed_in}: import the names you use, then rerun",
                )
            return updated_node
        plan = plan_from(module, updated_node.names, self.target)
        if not plan.changes:
            self._report_notes(original_node, plan)
            return updated_node
        if not plan.kept and not plan.tried and not plan.renamed and len(plan.moved) == 1:
            # every name moves to one module: swap the module, keeping the layout
            self._report_plan(original_node, plan)
            target = next(iter(plan.moved))
            return updated_node.with_changes(module=cst.parse_expression(target))
        return self._stash(original_node, updated_node, plan)

    def leave_Import(
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.BaseSmallStatement:
        self._import_depth -= 1
        if self._except_depth:
            return updated_node
        plan, bare = plan_import(updated_node.names)
        if bare:
            line, column = self._position(original_node)
            self._bare.extend((line, column, dotted) for dotted in bare)
        if not plan.changes:
            self._report_notes(original_node, plan)
            return updated_node
        return self._stash(original_node, updated_node, plan)

    def _stash(
        self,
        original: cst.ImportFrom | cst.Import,
        updated: cst.ImportFrom | cst.Import,
        plan: Plan,
    ) -> cst.BaseSmallStatement:
        """A plan of several statements: applied by the line that holds the import."""
        new = statements(updated, plan)
        if len(new) == 1 and isinstance(new[0], cst.BaseSmallStatement):
            self._report_plan(original, plan)
            return new[0]
        self._plans[id(updated)] = (original, plan, new)
        return updated

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        pending = [self._plans.pop(id(s)) for s in updated_node.body if id(s) in self._plans]
        if not pending:
            return updated_node
        if len(updated_node.body) > 1:
            for original, _, _ in pending:
                self._report(
                    original,
                    False,
                    f"{_code(original)}: the names it imports moved (see `tvcompat migrate "
                    "--help`); put the import on a line of its own, then rerun",
                )
            return updated_node
        original, plan, new = pending[0]
        self._report_plan(original, plan)
        return cst.FlattenSentinel(as_lines(updated_node, new))

    def _report_plan(self, node: cst.CSTNode, plan: Plan) -> None:
        for message in plan.done:
            self._report(node, True, message)
        self._report_notes(node, plan)

    def _report_notes(self, node: cst.CSTNode, plan: Plan) -> None:
        for message in plan.notes:
            self._report(node, False, message)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        """A removed name (``transforms.Scale``, a removed module's function spelled out in
        full) and, for the shim, a new-API name (``models.ResNet50_Weights``,
        ``torchvision.models.get_model``) -> its home on every torchvision."""
        if self._import_depth:
            return updated_node
        names = self._qualified(original_node)
        if len(names) != 1:
            return updated_node
        qualified = next(iter(names))
        module, _, name = qualified.rpartition(".")
        entry = removed_entry(module)
        via_alias = _code(original_node) != qualified
        if entry is not None and via_alias and whole_module_home(entry) is not None:
            return updated_node  # the import is rewritten to a module that has the name
        found = name_home(module, name)
        if found is not None:
            return self._to_home(original_node, updated_node, found)
        if entry is not None:
            if via_alias:
                return updated_node  # the import is rewritten to the replacement instead
            twin = PUBLIC_TWINS.get(module)
            if twin is None or name not in twin.names:
                self._report(
                    original_node,
                    False,
                    f"{qualified}: {module} was removed in torchvision {entry.removed_in}; "
                    f"import it under a name (import {module} as m), then rerun",
                )
                return updated_node
            home = twin.module
            self.add_needed_import(home)
        elif self.target == "shim":
            found_api = new_api_home(module, name)
            if found_api is None:
                if name in WEIGHTS_BASES and module in API_MODULES:
                    self._report(original_node, False, WEIGHTS_BASE_MESSAGE.format(name=qualified))
                return updated_node
            home = found_api
            self.add_needed_import("tvcompat")
        else:
            return updated_node
        return self._replace(original_node, f"{home}.{name}")

    def _to_home(
        self, original: cst.Attribute, updated: cst.Attribute, found: Home | str
    ) -> cst.BaseExpression:
        """A removed name used as an attribute -> its home (in place where it only changed
        its name in a module that still exists)."""
        code = _code(original)
        if isinstance(found, str):
            self._report(original, False, f"{code}: {found}")
            return updated
        if found.fallback:
            self._report(
                original,
                False,
                f"{code}: {found.old} (removed in {found.removed_in}) is {found.qualname} on "
                f"newer releases, which older ones lack: import it by name (from "
                f"{found.old.rpartition('.')[0]} import {found.old.rpartition('.')[2]}), "
                "which tvcompat migrate rewrites with a fallback, then rerun",
            )
            return updated
        module = found.old.rpartition(".")[0]
        if found.module == module and removed_entry(module) is None:
            renamed = updated.with_changes(attr=cst.Name(found.name))
            self._report(original, True, f"{code} -> {_code(renamed)}")
            return renamed
        self.add_needed_import(found.module)
        return self._replace(original, found.qualname)

    def _replace(self, original: cst.Attribute, qualname: str) -> cst.BaseExpression:
        self._drop_import_of(original)
        self._report(original, True, f"{_code(original)} -> {qualname}")
        return cst.parse_expression(qualname)

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


class _BareImports(cst.CSTVisitor):
    """The modules a tree imports without a name (``import a.b``)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def visit_Import(self, node: cst.Import) -> None:
        self.found.update(_code(a.name) for a in node.names if a.asname is None)
