"""Which keyword arguments a torchvision builder takes, read from its source (``ast``) and
from the functions and classes its ``**kwargs`` reach, without calling anything. Where the
answer cannot be certain, every keyword is accepted."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import types
import warnings
from dataclasses import dataclass
from typing import Any

from tvcompat import _catalog
from tvcompat._models.ast_tools import (
    _BRANCHING,
    _MAX_DEPTH,
    _covers,
    _init_of,
    _is_name,
    _string,
    _takes_nothing,
    _Unsure,
)


@dataclass(frozen=True)
class _Accepts:
    """A set of keyword names: ``names``, or (``open``) every name but ``excluded``."""

    names: frozenset[str] = frozenset()
    open: bool = False
    excluded: frozenset[str] = frozenset()

    def __contains__(self, name: object) -> bool:
        return name not in self.excluded if self.open else name in self.names

    def both(self, other: _Accepts) -> _Accepts:
        """The names in both."""
        if self.open and other.open:
            return _Accepts(open=True, excluded=self.excluded | other.excluded)
        if self.open:
            return _Accepts(other.names - self.excluded)
        if other.open:
            return _Accepts(self.names - other.excluded)
        return _Accepts(self.names & other.names)

    def either(self, other: _Accepts) -> _Accepts:
        """The names in either."""
        if self.open and other.open:
            return _Accepts(open=True, excluded=self.excluded & other.excluded)
        if self.open:
            return _Accepts(open=True, excluded=self.excluded - other.names)
        if other.open:
            return _Accepts(open=True, excluded=other.excluded - self.names)
        return _Accepts(self.names | other.names)

    def without(self, names: frozenset[str]) -> _Accepts:
        if self.open:
            return _Accepts(open=True, excluded=self.excluded | names)
        return _Accepts(self.names - names)


_ANY = _Accepts(open=True)


@dataclass(frozen=True)
class _Fixed:
    """``_ovewrite_named_param(kwargs, param, value)`` where it runs under ``conditions``
    (``(test, truth)`` of the enclosing ``if`` statements)."""

    param: str
    value: ast.expr
    conditions: tuple[tuple[ast.expr, bool], ...]


@dataclass(frozen=True)
class _Keywords:
    """What :func:`_keywords` found out about a builder."""

    accepts: _Accepts
    defaults: dict[str, Any]
    """keyword -> its default, where one is declared"""
    required: frozenset[str]
    """the builder's parameters without a default"""
    fixed: tuple[_Fixed, ...]
    refused_truthy: tuple[tuple[str, str], ...]
    """``(keyword, message)``: ``if kwargs.pop(keyword, ...): raise ...(message)``"""


@functools.cache
def _keywords(key: str) -> _Keywords | None:
    """The keyword arguments the installed torchvision's builder ``key`` takes.

    Read from its code: the builder's signature, and where it has ``**kwargs``, the
    functions and classes those reach (``_resnet`` -> ``ResNet.__init__``; ``FasterRCNN`` ->
    ``GeneralizedRCNNTransform``), minus what each call binds itself; keywords that are
    ``pop``-ed on the way count as taken, and ``**kwargs`` that reach no call are swallowed
    (any keyword is taken). ``None`` where the builder cannot be read at all.
    """
    info = _catalog.builder(key)
    assert info is not None
    try:
        module = importlib.import_module(_catalog.FAMILY_MODULES[info["family"]])
        tracer = _Tracer()
        accepts = tracer.target(getattr(module, info["name"]), _Site())
    except Exception:  # unreadable code: accept every keyword
        return None
    return _Keywords(
        accepts,
        tracer.defaults,
        frozenset(tracer.required),
        tuple(tracer.fixed),
        tuple(tracer.refused),
    )


@dataclass(frozen=True)
class _Site:
    """How a callable is called: ``n_pos`` positional arguments and the ``bound`` keywords
    before ``**kwargs``, ``depth`` calls down; ``claimed``: keywords taken by name above."""

    n_pos: int = 0
    bound: frozenset[str] = frozenset()
    depth: int = 0
    claimed: frozenset[str] = frozenset()

    def shifted(self) -> _Site:
        """The same call with ``self`` or ``cls`` bound first."""
        return _Site(self.n_pos + 1, self.bound, self.depth, self.claimed)


class _Tracer:
    """Follows ``**kwargs`` through torchvision's code (see :func:`_keywords`)."""

    def __init__(self) -> None:
        self.defaults: dict[str, Any] = {}
        self.required: set[str] = set()
        self.fixed: list[_Fixed] = []
        self.refused: list[tuple[str, str]] = []

    def target(self, target: Any, site: _Site) -> _Accepts:
        """What ``target`` called as ``site`` says takes through its ``**kwargs``."""
        if site.depth > _MAX_DEPTH:
            raise _Unsure("too deep")
        if isinstance(target, type):
            init, owner = _init_of(target)
            if _takes_nothing(owner):
                return _Accepts()
            return self.function(init, site.shifted(), (target, owner))
        if isinstance(target, classmethod):
            return self.function(target.__func__, site.shifted(), None)
        if isinstance(target, staticmethod):
            target = target.__func__
        return self.function(target, site, None)

    def function(self, fn: Any, site: _Site, cls: tuple[type, type] | None) -> _Accepts:
        """What ``fn`` (a method of ``cls``: ``(class, defining class)``) takes."""
        n_pos, bound = site.n_pos, site.bound
        fn = inspect.unwrap(fn)
        if not isinstance(fn, types.FunctionType):
            raise _Unsure("not a Python function")
        params = list(inspect.signature(fn).parameters.values())
        kinds = inspect.Parameter
        positional = [
            p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        ]
        var_pos = next((p.name for p in params if p.kind is kinds.VAR_POSITIONAL), None)
        var_kw = next((p.name for p in params if p.kind is kinds.VAR_KEYWORD), None)
        if n_pos > len(positional) and var_pos is None:
            raise _Unsure("too many positional arguments")
        taken = frozenset(p.name for p in positional[:n_pos]) | bound
        named = frozenset(
            p.name
            for p in params
            if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY) and p.name not in taken
        )
        for p in params:
            if p.name in named and p.default is not p.empty:
                self.defaults.setdefault(p.name, p.default)
            elif p.name in named and site.depth == 0:
                self.required.add(p.name)
        if var_kw is None:
            return _Accepts(named)
        extra_bound = bound - {p.name for p in params}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in old docstrings
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node = tree.body[0]
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise _Unsure("not a function definition")
        body = _Body(
            self,
            fn,
            node,
            var=var_kw,
            var_pos=var_pos,
            surplus=max(0, n_pos - len(positional)),
            extra_bound=extra_bound,
            cls=cls,
        )
        accepts = body.accepts(site.depth, site.claimed | named)
        return accepts.either(_Accepts(named)).without(taken | extra_bound)


class _Body:
    """One function's body, as far as its ``**kwargs`` (``var``) go."""

    def __init__(
        self,
        tracer: _Tracer,
        fn: types.FunctionType,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        *,
        var: str,
        var_pos: str | None,
        surplus: int,
        extra_bound: frozenset[str],
        cls: tuple[type, type] | None,
    ) -> None:
        self.tracer, self.fn, self.node, self.var = tracer, fn, node, var
        self.var_pos, self.surplus, self.extra_bound, self.cls = var_pos, surplus, extra_bound, cls
        self.parents: dict[int, ast.AST] = {}
        for parent in ast.walk(node):
            for child in ast.iter_child_nodes(parent):
                self.parents[id(child)] = parent

    def accepts(self, depth: int, claimed: frozenset[str]) -> _Accepts:
        var = self.var
        popped: set[str] = set()
        forwards: list[ast.Call] = []
        seen: set[int] = set()  # the uses of ``var`` understood
        for sub in ast.walk(self.node):
            if isinstance(sub, ast.Call):
                for keyword in sub.keywords:
                    if keyword.arg is None and _is_name(keyword.value, var):
                        forwards.append(sub)
                        seen.add(id(keyword.value))
                func = sub.func
                if isinstance(func, ast.Attribute) and _is_name(func.value, var):
                    seen.add(id(func.value))
                    if func.attr in ("pop", "get", "setdefault"):
                        param = _string(sub.args[0] if sub.args else None)
                        if func.attr == "pop":
                            popped.add(param)
                        self._refusal(sub, param, claimed)
                    elif func.attr != "update":
                        raise _Unsure(f"{var}.{func.attr}()")
                callee = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if callee == "_ovewrite_named_param" and sub.args and _is_name(sub.args[0], var):
                    seen.add(id(sub.args[0]))
                    param = _string(sub.args[1] if len(sub.args) > 1 else None)
                    conditions = self._conditions(sub)
                    if len(sub.args) > 2 and conditions is not None and param not in claimed:
                        self.tracer.fixed.append(_Fixed(param, sub.args[2], conditions))
            elif isinstance(sub, ast.Subscript) and _is_name(sub.value, var):
                seen.add(id(sub.value))
                param = _string(sub.slice)
                if isinstance(sub.ctx, ast.Del):
                    popped.add(param)
            elif (
                isinstance(sub, ast.Compare)
                and len(sub.ops) == 1
                and isinstance(sub.ops[0], (ast.In, ast.NotIn))
                and _is_name(sub.comparators[0], var)
            ):
                seen.add(id(sub.comparators[0]))
                _string(sub.left)
            elif isinstance(sub, (ast.Assign, ast.AnnAssign)):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                if any(_is_name(t, var) for t in targets):
                    # only ``kwargs = {**defaults, **kwargs}``
                    value = sub.value
                    if not (
                        isinstance(value, ast.Dict)
                        and all(k is None for k in value.keys)
                        and any(_is_name(v, var) for v in value.values)
                    ):
                        raise _Unsure(f"{var} reassigned")
                    seen.update(id(t) for t in targets)
                    seen.update(id(v) for v in value.values if _is_name(v, var))
        for sub in ast.walk(self.node):
            if _is_name(sub, var) and id(sub) not in seen:
                raise _Unsure(f"another use of {var}")
        taken = _Accepts(frozenset(popped))
        if not forwards:  # swallowed
            return _ANY
        results = []
        for call in forwards:
            try:
                results.append((call, self._forward(call, depth, claimed)))
            except _Unsure:
                results.append((call, _ANY))
        out = _ANY
        for call, got in results:  # a keyword must pass every call that always runs
            if self._always(call):
                out = out.both(got.either(taken))
        if _covers(self.node.body, {id(call) for call in forwards}):
            # every path makes one of the calls (or raises): one of them must take it
            union = _Accepts()
            for _, got in results:
                union = union.either(got)
            out = out.both(union.either(taken))
        return out

    def _refusal(self, call: ast.Call, param: str, claimed: frozenset[str]) -> None:
        """``if kwargs.pop(param, ...): raise X(message)``"""
        parent = self.parents.get(id(call))
        if (
            isinstance(parent, ast.If)
            and parent.test is call
            and len(parent.body) == 1
            and isinstance(parent.body[0], ast.Raise)
            and param not in claimed
        ):
            exc = parent.body[0].exc
            message = ""
            if isinstance(exc, ast.Call) and exc.args and isinstance(exc.args[0], ast.Constant):
                message = str(exc.args[0].value)
            self.tracer.refused.append((param, message))

    def _conditions(self, call: ast.AST) -> tuple[tuple[ast.expr, bool], ...] | None:
        """The ``if`` tests under which ``call`` runs, ``None`` if not that simple."""
        if any(
            isinstance(n, ast.Return) and n.lineno < getattr(call, "lineno", 0)
            for n in ast.walk(self.node)
        ):
            return None
        conditions: list[tuple[ast.expr, bool]] = []
        node: ast.AST = call
        while True:
            parent = self.parents.get(id(node))
            if parent is None or parent is self.node:
                return tuple(reversed(conditions))
            if isinstance(parent, ast.If) and node is not parent.test:
                conditions.append((parent.test, node in parent.body))
            elif isinstance(parent, _BRANCHING):
                return None
            node = parent

    def _always(self, call: ast.AST) -> bool:
        """Whether ``call`` runs whenever the function returns."""
        conditions = self._conditions(call)
        return conditions is not None and not conditions

    def _forward(self, call: ast.Call, depth: int, claimed: frozenset[str]) -> _Accepts:
        n_pos = 0
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                if not _is_name(arg.value, self.var_pos):
                    raise _Unsure("*args")
                n_pos += self.surplus
            else:
                n_pos += 1
        bound = frozenset(k.arg for k in call.keywords if k.arg is not None) | self.extra_bound
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "__init__"
            and isinstance(func.value, ast.Call)
            and _is_name(func.value.func, "super")
        ):
            if self.cls is None:
                raise _Unsure("super() outside a class")
            klass, owner = self.cls
            if func.value.args:
                first = func.value.args[0]
                if not isinstance(first, ast.Name):
                    raise _Unsure("super(<expression>, ...)")
                owner = self._lookup(first.id)
            if owner not in klass.__mro__:
                raise _Unsure("super() of another class")
            init, found = _init_of(klass, klass.__mro__.index(owner) + 1)
            if _takes_nothing(found):
                return _Accepts()
            site = _Site(n_pos + 1, bound, depth + 1, claimed)
            return self.tracer.function(init, site, (klass, found))
        return self.tracer.target(self._resolve(func), _Site(n_pos, bound, depth + 1, claimed))

    def _lookup(self, name: str) -> Any:
        code = self.fn.__code__
        if name in code.co_freevars and self.fn.__closure__ is not None:
            return self.fn.__closure__[code.co_freevars.index(name)].cell_contents
        if name in self.fn.__globals__:
            return self.fn.__globals__[name]
        raise _Unsure(f"unknown name {name}")

    def _resolve(self, func: ast.expr) -> Any:
        if isinstance(func, ast.Name):
            return self._lookup(func.id)
        if isinstance(func, ast.Attribute):
            base = self._resolve(func.value)
            if isinstance(base, types.ModuleType):
                return getattr(base, func.attr)
            if isinstance(base, type):
                for klass in base.__mro__:
                    if func.attr in vars(klass):
                        found = vars(klass)[func.attr]
                        if isinstance(found, (classmethod, staticmethod)):
                            return found
                        break
        raise _Unsure("callee")
