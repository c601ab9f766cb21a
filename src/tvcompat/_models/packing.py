"""The fast path of ``quantize=True`` builds (docs/performance.md).

Their calibration (torchvision's ``quantize_model``: observers over a forward pass of
``torch.rand`` input through the initialised weights) needs torchvision's initialisation and
random input, so both run as in torchvision's build: the same random numbers are drawn and
torch's RNG ends where torchvision's leaves it. What is skipped is packing work that the build
throws away: each quantized layer packs a weight when it is created (zeros), again when it is
converted (the calibrated weight), and once more when the file is loaded; only the last one
is kept.

In the attempt's context, the ``quantized`` ops whose schema returns a TorchScript class
object (an opaque packed weight: ``conv2d_prepack``, ``linear_prepack``, ...) return a
:class:`_Deferred` in its place. It records the op, its arguments with their version counters
and the quantized engine; any use of it (an attribute such as ``unpack``, the ``_unpack``
ops, a copy, a pickle) packs for real then, provided none of those changed (else the attempt
is abandoned); any other op it is passed to either makes it real the same way (torch 2.14's
dispatch reads its attributes) or fails on it, and so does the attempt.
:meth:`_Attempt.verdict` then puts the packed object in place of each deferred one a module of
the model holds, and requires that nothing else holds any (their reference counts): the ones
dropped unused were work the build threw away. Anything else, or any exception: the caller
builds torchvision's way, torch's RNG set back to where it was.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Callable

from tvcompat._models.fastload import Abandon, checked, tensors_in
from tvcompat._models.interceptions import Interceptions, Target
from tvcompat.errors import TvcompatError

__all__ = ["attempt"]

#: the ``quantized`` ops that may pack a weight (each one deferred only if its schema says
#: it returns a class object: :func:`_packs`); their ``_unpack`` counterparts pack first. Any
#: other op a deferred packing reaches packs it first too (torch 2.14's dispatch reads its
#: attributes) or fails on it, and so makes the build plain
_CANDIDATES = tuple(
    f"{kind}_prepack{suffix}"
    for kind, suffix in [
        *((f"conv{d}d", "") for d in (1, 2, 3)),
        *((f"conv_transpose{d}d", "") for d in (1, 2, 3)),
        ("linear", ""),
        ("linear", "_fp16"),
    ]
)


def _engine() -> str:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    return str(torch.backends.quantized.engine)


_UNSET: Any = object()


class _Deferred:
    """A packed weight not computed yet (see the module docstring)."""

    __slots__ = ("_args", "_engine", "_kwargs", "_op", "_value", "_versions")

    def __init__(self, op: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self._op: Callable[..., Any] | None = op
        self._args, self._kwargs = args, kwargs
        self._versions = [(t, t._version) for t in tensors_in((args, kwargs))]
        self._engine = _engine()
        self._value = _UNSET

    @property  # type: ignore[misc]
    def __class__(self) -> type[Any]:  # what the op's schema says it returns (isinstance)
        import torch  # noqa: PLC0415 - torch is heavy: lazy

        return torch._C.ScriptObject

    def real(self) -> Any:
        if self._value is _UNSET:
            if self._op is None:
                raise TvcompatError("a packed weight of an abandoned fast build was used")
            if any(t._version != version for t, version in self._versions):
                raise Abandon("a weight changed after it was packed")
            if _engine() != self._engine:
                raise Abandon("the quantized engine changed after a weight was packed")
            self._value = self._op(*self._args, **self._kwargs)
            self.close()
        return self._value

    def close(self) -> None:
        self._op = self._args = self._kwargs = None
        self._versions = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def __repr__(self) -> str:
        return repr(self.real())

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.real().__reduce_ex__(protocol)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self.real(), memo)


class _Attempt:
    def __init__(self) -> None:
        self.deferred: list[_Deferred] = []

    def defer(self, op: Callable[..., Any], args: Any, kwargs: Any) -> _Deferred:
        deferred = _Deferred(op, args, kwargs)
        self.deferred.append(deferred)
        return deferred

    def verdict(self, model: Any) -> str | None:
        """``None`` if the model is torchvision's (its deferred weights now packed)."""
        import torch  # noqa: PLC0415 - torch is heavy: lazy

        if not isinstance(model, torch.nn.Module):
            return f"the builder returned a {type(model).__name__}, not a module"
        _pack_held(model)
        listed, self.deferred = self.deferred, []
        listed.append(_Deferred.__new__(_Deferred))  # held by this list only
        counts = [sys.getrefcount(item) for item in listed]
        self.deferred = listed[:-1]
        if any(count != counts[-1] for count in counts):
            return "a packed weight is held outside the model's modules"
        return None

    def close(self) -> None:
        for deferred in self.deferred:  # (a packed one is closed already: no change)
            deferred.close()


def _pack_held(model: Any) -> None:
    """Put the packed object in place of each deferred one the model's modules hold."""
    for module in model.modules():
        for name, value in list(vars(module).items()):
            if type(value) is _Deferred:
                setattr(module, name, value.real())


_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("tvcompat_packing", default=None)


def _schemas(name: str) -> list[Any]:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    try:
        return list(torch._C._jit_get_schemas_for_operator(f"quantized::{name}"))
    except Exception:  # an op this torch does not have
        return []


def _is_class(argument: Any) -> bool:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    return isinstance(argument.type, torch._C.ClassType)


@functools.cache
def _packs(name: str) -> bool:
    """Whether ``quantized::<name>`` exists and returns one class object (a packed weight)."""
    schemas = _schemas(name)
    return bool(schemas) and all(len(s.returns) == 1 and _is_class(s.returns[0]) for s in schemas)


@functools.cache
def _reads_packed(name: str) -> bool:
    """Whether ``quantized::<name>`` exists and takes a class object (a packed weight)."""
    return any(_is_class(a) for s in _schemas(name) for a in s.arguments)


def _deferring(original: Callable[..., Any]) -> Callable[..., Any]:
    def prepack(*args: Any, **kwargs: Any) -> Any:
        state = _ATTEMPT.get()
        if state is None:
            return original(*args, **kwargs)
        return state.defer(original, args, kwargs)

    return prepack


def _packing_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def unpack(*args: Any, **kwargs: Any) -> Any:
        args = tuple(a.real() if type(a) is _Deferred else a for a in args)
        kwargs = {k: v.real() if type(v) is _Deferred else v for k, v in kwargs.items()}
        return original(*args, **kwargs)

    return unpack


def _targets() -> list[Target]:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    namespace = torch.ops.quantized
    found: list[Target] = []
    for name in filter(_packs, _CANDIDATES):
        unpack = name.replace("_prepack", "_unpack")
        getattr(namespace, name)  # resolved (and cached by torch) before it is replaced
        found.append((namespace, name, _deferring))
        if _reads_packed(unpack):  # (how a few torch releases read a layer's weights)
            getattr(namespace, unpack)
            found.append((namespace, unpack, _packing_first))
    return found


_INTERCEPTIONS = Interceptions(_targets)


@contextlib.contextmanager
def _scope(state: _Attempt) -> Iterator[None]:
    token = _ATTEMPT.set(state)
    _INTERCEPTIONS.install()
    try:
        yield
    finally:
        _ATTEMPT.reset(token)
        _INTERCEPTIONS.uninstall()
        state.close()


def attempt(make: Callable[[], Any]) -> Any:
    """``make()`` (a ``quantize=True`` pretrained build) the fast way, by
    :func:`~tvcompat._models.fastload.checked`."""
    if _ATTEMPT.get() is not None:  # a build inside this one: its outer check covers it
        return make()
    state = _Attempt()
    return checked(make, _scope(state), lambda model, rng: state.verdict(model))
