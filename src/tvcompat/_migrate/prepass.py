"""The cheap pre-pass of ``tvcompat migrate``: which top-level statements the libcst passes
need to see (:func:`candidate_words`, :class:`Statements`, :func:`reduce`), the stand-ins
that take the other statements' place meanwhile (:func:`restore` puts them back), and the
start positions of nodes without libcst's PositionProvider (:func:`start_positions`).

Why skipping a statement never skips a rewrite: everything the codemod rewrites or reports
is an import, or a name whose qualified name libcst resolves to ``torchvision...``. Such a
name is ``torchvision`` itself or a name bound by an import from torchvision (in any scope),
so its text is in :func:`candidate_words`; and a statement whose text does not contain a
word can neither use nor bind (nor export in ``__all__``, nor annotate with) that name, so
taking it out changes no scope, no qualified name and no unused-import decision for the
statements that stay. The stand-in of a statement keeps its leading lines and its number of
lines, so that positions, the import block ``AddImportsVisitor`` sees and the blank lines it
adjusts are the same. ``tests/test_migrate.py`` checks the claim: the full passes and the
pruned ones give the same output and findings on every golden case and on real sources.
"""

from __future__ import annotations

import ast
import re
import unicodedata
import warnings
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Optional, Union, cast

import libcst as cst
from libcst._nodes.internal import CodegenState

from tvcompat.errors import TvcompatError

__all__ = [
    "Mismatch",
    "Reduced",
    "Statements",
    "candidate_words",
    "reduce",
    "restore",
    "start_positions",
]

#: a top-level statement
Stmt = Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]

_NEWLINE = re.compile(r"\r\n?|\n")
_ROOT = "torchvision"
#: the binding fields of ast nodes: a definition of ``torchvision`` other than its import
_BINDERS: dict[type[ast.AST], str] = {
    ast.FunctionDef: "name",
    ast.AsyncFunctionDef: "name",
    ast.ClassDef: "name",
    ast.arg: "arg",
    ast.ExceptHandler: "name",
    ast.alias: "asname",
}


class Mismatch(TvcompatError, RuntimeError):
    """A stand-in did not come back exactly once: the passes rerun on the whole module."""


def _root(dotted: str) -> str:
    return dotted.partition(".")[0]


def _binds_root(node: ast.AST) -> bool:
    """Whether ``node`` binds the name ``torchvision`` other than by importing it."""
    if isinstance(node, ast.Name):
        return node.id == _ROOT and not isinstance(node.ctx, ast.Load)
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return _ROOT in node.names
    attr = _BINDERS.get(type(node))
    if attr is not None:
        return getattr(node, attr, None) == _ROOT
    match_as = getattr(ast, "MatchAs", None)
    match_star = getattr(ast, "MatchStar", None)
    if (match_as and isinstance(node, match_as)) or (match_star and isinstance(node, match_star)):
        return getattr(node, "name", None) == _ROOT
    return False


def candidate_words(source: str) -> frozenset[str] | None:
    """``torchvision`` and every name an import from torchvision binds, anywhere in
    ``source``: the only names whose qualified name can start with ``torchvision``.

    ``None`` where that cannot be told this cheaply: Python's ``ast`` does not parse the
    source (libcst may: other grammar versions), a ``from torchvision... import *`` binds
    unknown names, or ``torchvision`` is bound other than by its import (a local name then
    qualifies as ``torchvision...`` too). The passes then see every statement.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes & co.: not this pass's business
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    words = {_ROOT}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _root(alias.name) == _ROOT:
                    words.add(alias.asname or _ROOT)
                elif alias.asname == _ROOT:
                    return None
        elif isinstance(node, ast.ImportFrom):
            ours = not node.level and node.module is not None and _root(node.module) == _ROOT
            for alias in node.names:
                if ours:
                    if alias.name == "*":
                        return None
                    words.add(alias.asname or alias.name)
                elif (alias.asname or alias.name) == _ROOT:
                    return None
        elif _binds_root(node):
            return None
    return frozenset(words)


def _normalized(text: str) -> str:
    """``text`` as Python reads identifiers (NFKC), where it has non-ASCII characters."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def word_test(words: Collection[str]) -> Callable[[str], bool]:
    """Whether a text contains one of ``words`` where it can be a use of that name: not
    inside a longer word nor right after a dot (an attribute); strings and comments count.
    Conservative: any spelling a name token can have matches."""
    if not words:
        return lambda text: False
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.])(?:{alternatives})(?!\w)")
    return lambda text: pattern.search(_normalized(text)) is not None


class Statements:
    """The code of each statement of modules: read off one generation of the original
    module's code (:meth:`prime`), else generated once per statement."""

    def __init__(self) -> None:
        self._code: dict[int, tuple[Stmt, str]] = {}

    def prime(self, module: cst.Module) -> Callable[[cst.CSTNode], tuple[int, int]]:
        """Generate ``module``'s code once: the code of all its statements, and a function
        giving the (1-based line, 0-based column) where a node of ``module`` starts, what
        ``PositionProvider``'s ``start`` says."""
        state = _StartsState(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        module._codegen(state)
        tokens = state.tokens
        for node, (start, end) in state.spans.items():
            self._code[id(node)] = (node, "".join(tokens[start:end]))
        offsets = list(accumulate((len(t) for t in tokens), initial=0))
        ends = [m.end() for m in _NEWLINE.finditer("".join(tokens))]
        starts = state.starts

        def position(node: cst.CSTNode) -> tuple[int, int]:
            offset = offsets[starts[node]]
            line = bisect_right(ends, offset)
            return line + 1, offset - (ends[line - 1] if line else 0)

        return position

    def code(self, module: cst.Module, statement: Stmt) -> str:
        found = self._code.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1]
        text = module.code_for_node(statement)
        self._code[id(statement)] = (statement, text)
        return text

    def texts(self, module: cst.Module) -> list[str]:
        return [self.code(module, s) for s in module.body]


@dataclass
class Reduced:
    """A module whose skipped statements are stand-ins (string statements)."""

    module: cst.Module
    #: the stand-in's string -> the statements it stands for
    originals: dict[str, list[Stmt]] = field(default_factory=dict)
    #: whether function and class bodies have stand-ins too
    nested: bool = False


def _prefix(texts: Sequence[str]) -> str:
    prefix = '"""tvcompat-migrate-skipped-'
    while any(prefix in t for t in texts):
        prefix += "-"
    return prefix


#: compound statements whose body the pre-pass also thins out (``nested=True``)
_SCOPES = (cst.FunctionDef, cst.ClassDef)


def _stand_in_for(run: Sequence[Stmt], texts: Sequence[str], value: str) -> cst.SimpleStatementLine:
    """One string statement with the leading lines of ``run``'s first statement and as many
    lines as the whole run."""
    lines = sum(len(_NEWLINE.findall(t)) for t in texts) - len(run[0].leading_lines)
    value += "\n" * max(lines - 1, 0) + '"""'
    return cst.SimpleStatementLine(
        body=[cst.Expr(cst.SimpleString(value))], leading_lines=run[0].leading_lines
    )


class _Reducer:
    def __init__(
        self,
        module: cst.Module,
        statements: Statements,
        keep: Callable[[int, str], bool],
        prefix: str,
        nested: bool,
    ) -> None:
        self.module, self.statements, self.keep = module, statements, keep
        self.prefix, self.nested = prefix, nested
        self.originals: dict[str, list[Stmt]] = {}

    def _flush(self, run: list[Stmt], texts: list[str], out: list[Stmt]) -> None:
        if run:
            stand_in = _stand_in_for(run, texts, f"{self.prefix}{len(self.originals)}")
            self.originals[_stand_in(stand_in) or ""] = list(run)
            out.append(stand_in)
            run.clear()
            texts.clear()

    def body(self, body: Sequence[Stmt], top: bool) -> list[Stmt] | None:
        """``body`` with each run of skipped statements replaced by one stand-in, or
        ``None`` where nothing changed."""
        out: list[Stmt] = []
        run: list[Stmt] = []
        texts: list[str] = []
        changed = False
        for i, node in enumerate(body):
            statement = node
            text = self.statements.code(self.module, statement)
            if not self.keep(i if top else -1, text):
                run.append(statement)
                texts.append(text)
                changed = True
                continue
            self._flush(run, texts, out)
            if self.nested and isinstance(statement, _SCOPES):
                block = statement.body
                if isinstance(block, cst.IndentedBlock):
                    inner = self.body(cast("Sequence[Stmt]", block.body), top=False)
                    if inner is not None:
                        statement = statement.with_changes(body=block.with_changes(body=inner))
                        changed = True
            out.append(statement)
        self._flush(run, texts, out)
        return out if changed else None


def reduce(
    module: cst.Module,
    statements: Statements,
    keep: Callable[[int, str], bool],
    *,
    nested: bool = False,
) -> Reduced | None:
    """``module`` with every run of statements that ``keep(index, code)`` refuses
    (``index``: the place in the module; -1 inside a function or class, with ``nested``)
    replaced by a stand-in with the leading lines of the first and as many lines as all;
    ``None`` when all are kept."""
    texts = statements.texts(module)
    reducer = _Reducer(module, statements, keep, _prefix(texts), nested)
    body = reducer.body(module.body, top=True)
    if body is None:
        return None
    return Reduced(module.with_changes(body=body), reducer.originals, nested)


def _stand_in(statement: cst.CSTNode) -> str | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        expr = statement.body[0]
        if isinstance(expr, cst.Expr) and isinstance(expr.value, cst.SimpleString):
            return expr.value.value
    return None


def _same(a: Sequence[cst.EmptyLine], b: Sequence[cst.EmptyLine]) -> bool:
    return len(a) == len(b) and all(x.deep_equals(y) for x, y in zip(a, b))


class _Restorer(cst.CSTTransformer):
    """Puts the statements back in place of their stand-ins, walking statements only."""

    def __init__(self, originals: dict[str, list[Stmt]]) -> None:
        super().__init__()
        self.originals = originals
        self.seen: set[str] = set()

    def put_back(self, statement: Stmt) -> list[Stmt] | None:
        """The statements ``statement`` stands for (``None``: it is no stand-in)."""
        value = _stand_in(statement)
        run = self.originals.get(value) if value is not None else None
        if run is None or value is None:
            return None
        if value in self.seen:
            raise Mismatch(value)
        self.seen.add(value)
        leading = statement.leading_lines
        if _same(leading, run[0].leading_lines):
            return run
        return [run[0].with_changes(leading_lines=leading), *run[1:]]

    def on_visit(self, node: cst.CSTNode) -> bool:
        return isinstance(node, (cst.IndentedBlock, *_SCOPES))

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> Stmt | cst.FlattenSentinel[Stmt]:
        run = self.put_back(updated_node)
        return updated_node if run is None else cst.FlattenSentinel(run)


def restore(module: cst.Module, reduced: Reduced) -> cst.Module:
    """``module`` (a pass's output on ``reduced.module``) with the statements back, with
    the leading lines the pass gave their stand-ins. Raises :class:`Mismatch` unless each
    stand-in is there exactly once."""
    restorer = _Restorer(reduced.originals)
    body: list[Stmt] = []
    for statement in module.body:
        run = restorer.put_back(statement)
        if run is not None:
            body.extend(run)
        elif reduced.nested and isinstance(statement, _SCOPES):
            new = statement.visit(restorer)
            assert isinstance(new, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
            body.append(new)
        else:
            body.append(statement)
    if len(restorer.seen) != len(reduced.originals):
        raise Mismatch("a stand-in was dropped")
    return module.with_changes(body=body)


def run_reduced(
    module: cst.Module,
    statements: Statements,
    keep: Callable[[int, str], bool] | None,
    run: Callable[[cst.Module], cst.Module],
    *,
    nested: bool = False,
) -> cst.Module:
    """``run`` (a libcst pass) on ``module`` with only the statements ``keep`` wants
    (all where ``keep`` is ``None``)."""
    reduced = reduce(module, statements, keep, nested=nested) if keep is not None else None
    if reduced is None:
        return run(module)
    return restore(run(reduced.module), reduced)


@dataclass
class _StartsState(CodegenState):
    """Code generation that records where each node starts (as an index into the tokens),
    the way :class:`libcst.metadata.PositionProvider` does, at a fraction of the cost, and
    the tokens of each statement."""

    starts: dict[cst.CSTNode, int] = field(default_factory=dict)
    spans: dict[Stmt, tuple[int, int]] = field(default_factory=dict)
    stack: list[int] = field(default_factory=list)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.stack.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.stack.pop()
        if node not in self.starts:
            self.starts[node] = start
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            self.spans[node] = (start, len(self.tokens))

    def pop_trailing_newline(self) -> None:
        """Kept: the last statement's code ends with its newline, as on its own."""

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: Optional[cst.CSTNode] = None,  # noqa: UP045 - libcst's signature
        end_node: Optional[cst.CSTNode] = None,  # noqa: UP045 - libcst's signature
    ) -> Iterator[None]:
        start = len(self.tokens)
        try:
            yield
        finally:
            self.starts[node] = self.starts[start_node] if start_node is not None else start


def start_positions(module: cst.Module) -> Callable[[cst.CSTNode], tuple[int, int]]:
    """A function giving the (1-based line, 0-based column) where a node of ``module``
    starts: what ``PositionProvider``'s ``start`` says."""
    return Statements().prime(module)


def keep_test(
    words: Collection[str] | None, *, imports: bool = True
) -> Callable[[int, str], bool] | None:
    """Which statements a pass needs: the first (a docstring, for the import block), those
    with an import (``imports``) and those that mention one of ``words``; ``None``: all."""
    if words is None:
        return None
    mentions = word_test(words)

    def keep(index: int, text: str) -> bool:
        return index == 0 or (imports and "import" in text) or mentions(text)

    return keep
