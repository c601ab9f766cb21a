"""Import statements rewritten name by name (:func:`plan_from`, :func:`plan_import`): which
names stay, which move to another module (:mod:`~tvcompat._migrate.homes`), which are
imported from a replacement with the old name as the fallback, and the statements that
result (:func:`statements`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import libcst as cst

from tvcompat._migrate.homes import (
    API_MODULES,
    LEGACY,
    MODEL_URL_NAMES,
    PUBLIC_TWINS,
    WEIGHTS_BASES,
    Home,
    name_home,
    new_api_home,
    removed_entry,
    whole_module_home,
)
from tvcompat._migrate.values import _code
from tvcompat._removed import RemovedModule

__all__ = [
    "WEIGHTS_BASE_MESSAGE",
    "DropUnusedFallbacks",
    "Fallback",
    "Plan",
    "Statement",
    "as_lines",
    "plan_from",
    "plan_import",
    "statements",
]

Statement = Union[cst.BaseSmallStatement, cst.BaseCompoundStatement]

WEIGHTS_BASE_MESSAGE = (
    "{name} is torchvision's base of the weights enums (torchvision.models exports it from "
    "0.15, torchvision.models._api has it from 0.13); tvcompat has no equivalent, because "
    "before 0.13 its enums are stand-ins with another base, so this line still needs "
    "torchvision >= 0.15. To test a weights value on every release use "
    "isinstance(w, enum.Enum), or look entries up with tvcompat.get_weight"
)


@dataclass
class Fallback:
    """Names imported from their new home, and under their old one where the new home does
    not exist yet (``try``/``except ImportError``)."""

    old: str
    """what was removed (for the comment)"""
    removed_in: str
    new_head: str
    """``from <module> import`` or ``import``"""
    old_head: str
    news: list[str] = field(default_factory=list)
    olds: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What becomes of one import statement."""

    kept: list[cst.ImportAlias] = field(default_factory=list)
    #: target module -> the names (``"n"``, ``"n as a"``) moved there
    moved: dict[str, list[str]] = field(default_factory=dict)
    #: ``import`` statements that replace names of an ``import`` statement
    imports: list[str] = field(default_factory=list)
    tried: dict[tuple[str, str, str], Fallback] = field(default_factory=dict)
    #: what was rewritten (in order, once each)
    done: dict[str, None] = field(default_factory=dict)
    #: what was not, and why
    notes: list[str] = field(default_factory=list)
    renamed: bool = False
    """a moved name is spelled differently (``utils`` -> ``hub as utils``)"""
    #: targets whose message lists the names moved there
    listed: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.moved or self.imports or self.tried)

    def move(self, target: str, spec: str, message: str | None, *, renamed: bool) -> None:
        """Move ``spec`` to ``target``; without ``message`` the finding lists the names."""
        self.moved.setdefault(target, []).append(spec)
        self.renamed = self.renamed or renamed
        if message is not None:
            self.done[message] = None
        elif target not in self.listed:
            self.listed.append(target)

    def fall_back(
        self, home: Home, heads: tuple[str, str], new: str, old: str, message: str
    ) -> None:
        key = (home.old, *heads)
        fallback = self.tried.setdefault(key, Fallback(home.old, home.removed_in, *heads))
        fallback.news.append(new)
        fallback.olds.append(old)
        self.done[message] = None


def _spec(name: str, asname: str | None) -> str:
    return name if asname is None else f"{name} as {asname}"


def _bound_as(name: str, bound: str) -> str:
    """``name`` imported so that it is bound to ``bound``."""
    return name if name == bound else f"{name} as {bound}"


def _split(dotted: str) -> tuple[str, str]:
    parent, _, last = dotted.rpartition(".")
    return parent, last


def _homeless(entry: RemovedModule, name: str | None) -> str:
    """Why ``name`` of ``entry`` (``None``: the module itself) stays."""
    twin = PUBLIC_TWINS.get(entry.module)
    hint = ""
    if twin is not None:
        hint = f"; {twin.module} has {', '.join(sorted(twin.names))} on every release"
    what = "it has no replacement module" if name is None else f"{name} has no home"
    subject = entry.module if name is None else f"{entry.module}.{name}"
    return (
        f"{subject}: {entry.module} was removed in torchvision {entry.removed_in} and {what} "
        f"on every release{hint}"
    )


def _module_fallback(entry: RemovedModule) -> Home:
    assert entry.replacement is not None
    parent, last = _split(entry.replacement)
    return Home(entry.module, entry.removed_in, parent, last, fallback=True)


def _removed_module_alias(
    plan: Plan, entry: RemovedModule, parent: str | None, asname: str | None
) -> bool:
    """The removed module itself imported under a name: ``from parent import name [as
    asname]`` (``parent`` given) or ``import entry.module as asname``; whether it was
    planned (else it stays)."""
    name = _split(entry.module)[1]
    bound = asname or name
    if entry.replacement is None:
        whole = whole_module_home(entry)
        if whole is None:
            return False
        message = f"{entry.module} (removed in {entry.removed_in}) -> {whole}"
        if parent is not None:
            target_parent, target_name = _split(whole)
            plan.move(target_parent, _bound_as(target_name, bound), message, renamed=True)
        else:
            plan.imports.append(f"import {whole} as {bound}")
            plan.done[message] = None
        return True
    home = _module_fallback(entry)
    if parent is None:
        heads = ("import", "import")
        new, old = f"{entry.replacement} as {bound}", f"{entry.module} as {bound}"
    else:
        heads = (f"from {home.module} import", f"from {parent} import")
        new, old = _bound_as(home.name, bound), _spec(name, asname)
    plan.fall_back(home, heads, new, old, home.message())
    return True


def _removed_name(plan: Plan, module: str, alias: cst.ImportAlias) -> bool:
    """``from module import alias`` where the table lists ``module.name`` or ``module`` as
    removed; whether that decided it (planned, or kept with a note)."""
    name, asname = alias.evaluated_name, alias.evaluated_alias
    spec, bound = _spec(name, asname), asname or name
    found = name_home(module, name)
    if isinstance(found, Home):
        new = _bound_as(found.name, bound)
        if found.fallback:
            heads = (f"from {found.module} import", f"from {module} import")
            plan.fall_back(found, heads, new, spec, found.message())
        else:
            plan.move(found.module, new, found.message(), renamed=new != spec)
        return True
    if isinstance(found, str):
        plan.kept.append(alias)
        plan.notes.append(found)
        return True
    if module.startswith("torchvision.models.") and name in MODEL_URL_NAMES:
        return False  # the model URL tables: tvcompat.legacy's
    entry = removed_entry(module)
    if entry is None:
        return False
    twin = PUBLIC_TWINS.get(module)
    if twin is not None and name in twin.names:
        message = f"{module} (removed in {entry.removed_in}) -> {twin.module}"
        plan.move(twin.module, spec, message, renamed=False)
    elif entry.replacement is not None:
        home = _module_fallback(entry)
        heads = (f"from {entry.replacement} import", f"from {module} import")
        plan.fall_back(home, heads, spec, spec, home.message())
    else:
        plan.kept.append(alias)
        plan.notes.append(_homeless(entry, name))
    return True


def plan_from(module: str, aliases: Sequence[cst.ImportAlias], target: str) -> Plan:
    """``from module import aliases``, for ``target`` (``shim``/``native``)."""
    plan = Plan()
    for alias in aliases:
        name, asname = alias.evaluated_name, alias.evaluated_alias
        spec = _spec(name, asname)
        sub = removed_entry(f"{module}.{name}")
        if sub is not None:
            if not _removed_module_alias(plan, sub, module, asname):
                plan.kept.append(alias)
                plan.notes.append(_homeless(sub, None))
            continue
        if _removed_name(plan, module, alias):
            continue
        if module.startswith("torchvision.models.") and name in MODEL_URL_NAMES:
            if target == "shim":
                message = f"{module} model URL tables (removed in 0.15) -> {LEGACY}"
                plan.move(LEGACY, spec, message, renamed=False)
            else:
                plan.kept.append(alias)
                plan.notes.append(
                    f"{module}.{name} was removed in torchvision 0.15 (video's is "
                    "deprecated): use the weights enums' .url, or --target shim for "
                    f"{LEGACY}.{name}"
                )
            continue
        home = new_api_home(module, name) if target == "shim" else None
        if home is not None:
            plan.move(home, spec, None, renamed=False)
        else:
            plan.kept.append(alias)
            if target == "shim" and name in WEIGHTS_BASES and module in API_MODULES:
                plan.notes.append(WEIGHTS_BASE_MESSAGE.format(name=f"{module}.{name}"))
    for home in plan.listed:
        plan.done[f"{module}: {', '.join(plan.moved[home])} -> {home}"] = None
    return plan


def plan_import(aliases: Sequence[cst.ImportAlias]) -> tuple[Plan, list[str]]:
    """``import aliases``; also the removed modules imported without a name (``import
    torchvision.transforms.functional_tensor``), which stay: their uses are rewritten
    where they can be, and the import is reported if it is still needed."""
    plan = Plan()
    bare: list[str] = []
    for alias in aliases:
        dotted = _code(alias.name)
        entry = removed_entry(dotted)
        asname = alias.evaluated_alias
        if entry is None:
            plan.kept.append(alias)
        elif asname is None:
            plan.kept.append(alias)
            bare.append(dotted)
        elif not _removed_module_alias(plan, entry, None, asname):
            plan.kept.append(alias)
            plan.notes.append(_homeless(entry, None))
    return plan, bare


def _fixed_commas(aliases: list[cst.ImportAlias], parenthesized: bool) -> list[cst.ImportAlias]:
    if not parenthesized:
        aliases[-1] = aliases[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return aliases


def _small(code: str) -> cst.BaseSmallStatement:
    line = cst.parse_statement(code)
    assert isinstance(line, cst.SimpleStatementLine)
    return line.body[0]


def statements(node: cst.ImportFrom | cst.Import, plan: Plan) -> list[Statement]:
    """The statements that replace ``node`` (the kept names stay in ``node``, in place)."""
    out: list[Statement] = []
    if plan.kept:
        parenthesized = isinstance(node, cst.ImportFrom) and node.lpar is not None
        kept = _fixed_commas(list(plan.kept), parenthesized)
        out.append(node.with_changes(names=kept))
    out.extend(
        _small(f"from {target} import {', '.join(specs)}") for target, specs in plan.moved.items()
    )
    out.extend(_small(code) for code in plan.imports)
    for fallback in plan.tried.values():
        code = (
            f"try:\n    {fallback.new_head} {', '.join(fallback.news)}\n"
            f"except ImportError:  # {fallback.old} before {fallback.removed_in}\n"
            f"    {fallback.old_head} {', '.join(fallback.olds)}\n"
        )
        compound = cst.parse_statement(code)
        assert isinstance(compound, cst.Try)
        out.append(compound)
    return out


def as_lines(line: cst.SimpleStatementLine, new: list[Statement]) -> list[cst.BaseStatement]:
    """``new`` as statements in place of ``line``; the comments above and after it go with
    the first."""
    out: list[cst.BaseStatement] = []
    for statement in new:
        first = not out
        if isinstance(statement, cst.BaseSmallStatement):
            if first:
                out.append(line.with_changes(body=[statement]))
            else:
                out.append(cst.SimpleStatementLine(body=[statement]))
            continue
        assert isinstance(statement, cst.Try)
        if first:
            body = statement.body
            assert isinstance(body, cst.IndentedBlock)
            if line.trailing_whitespace.comment is not None:
                body = body.with_changes(header=line.trailing_whitespace)
            out.append(statement.with_changes(leading_lines=line.leading_lines, body=body))
        else:
            out.append(statement)
    return out


_FALLBACK_COMMENT = re.compile(r"# \S+ before \d+\.\d+")


class DropUnusedFallbacks(cst.CSTTransformer):
    """The ``try``/``except ImportError`` imports :func:`statements` wrote whose fallback
    import was then removed as unused: the name is unused, so the whole statement goes."""

    def leave_Try(
        self, original_node: cst.Try, updated_node: cst.Try
    ) -> cst.Try | cst.RemovalSentinel:
        if len(updated_node.handlers) != 1 or updated_node.orelse or updated_node.finalbody:
            return updated_node
        handler = updated_node.handlers[0].body
        if not isinstance(handler, cst.IndentedBlock) or handler.header.comment is None:
            return updated_node
        if not _FALLBACK_COMMENT.fullmatch(handler.header.comment.value):
            return updated_node
        emptied = [
            s
            for s in handler.body
            if not (
                isinstance(s, cst.SimpleStatementLine)
                and all(isinstance(b, cst.Pass) for b in s.body)
            )
        ]
        return cst.RemoveFromParent() if not emptied else updated_node
