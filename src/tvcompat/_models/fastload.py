"""The fast path of pretrained builds (docs/performance.md): torchvision's own builder runs
(so all its own processing does), but the random initialisation the weights overwrite is
skipped and, on torch >= 2.1, the mapped file's tensors replace the module's
(``load_state_dict(assign=True)``). In the attempt's context only (a ``ContextVar``):

* ``torch.nn.init.*_`` and the random in-place ``Tensor`` methods only mark the tensor
  *pending*; any other random draw (``torch.rand``, ...) abandons the attempt;
* (torch >= 2.0, ``TorchFunctionMode``) what is computed from a pending tensor, other than
  metadata and views, is *tainted*, and so on; a tainted value leaving torch (``item()``,
  ``bool()``) abandons the attempt (SSD's probe forward pass reads only shapes: fine);
* ``Module.load_state_dict`` assigns and records; ``WeightsEnum.get_state_dict`` maps.

:meth:`_State.verdict` then decides: the RNG did not move, loads were strict, no
initialisation after a load, each loaded tensor of the kind it replaced (class,
``requires_grad``, dtype, shape, strides, device, sharing), and nothing the model holds
(parameters, buffers, tensor attributes) is pending, tainted, on ``meta`` or a replaced
tensor. Anything else, or any exception: the caller builds torchvision's way.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Callable

from tvcompat._models.interceptions import Interceptions, Target
from tvcompat._net import cache as _cache
from tvcompat._versions import capabilities
from tvcompat.errors import TvcompatError

__all__ = ["Abandon", "attempt", "checked", "last_outcome", "set_outcome", "tensors_in"]


def _names(text: str) -> tuple[str, ...]:  # (one line per name: twice the lines)
    return tuple(text.split())


#: in-place ``Tensor`` methods that fill a tensor with random numbers
_RANDOM_METHODS = _names(
    "normal_ uniform_ random_ bernoulli_ exponential_ geometric_ log_normal_ cauchy_"
)
#: ``torch`` functions that draw random numbers into a new tensor
_RANDOM_FACTORIES = _names(
    "rand randn randint randperm normal bernoulli multinomial poisson rand_like randn_like "
    "randint_like"
)
#: torch functions (by ``__name__``) that read a tensor's metadata or make a view of it,
#: never its values
_METADATA = frozenset(
    _names(
        "__get__ __set__ __len__ __getitem__ _make_subclass size dim ndimension numel nelement "
        "stride element_size is_contiguous is_floating_point is_complex requires_grad_ detach "
        "view view_as t transpose permute unsqueeze squeeze narrow select expand expand_as "
        "as_strided unbind split chunk untyped_storage storage data_ptr storage_offset get_device"
    )
)

_OUTCOME: ContextVar[str] = ContextVar("tvcompat_fast_outcome", default="none")


def last_outcome() -> str:
    """This context's last pretrained build: ``"fast"``, ``"plain: <why>"`` or ``"off"``."""
    return _OUTCOME.get()


def set_outcome(text: str) -> None:
    _OUTCOME.set(text)


class Abandon(TvcompatError, RuntimeError):
    """The model cannot be proven torchvision's (internal: :func:`checked` catches it)."""


def _ptr(tensor: Any) -> int | None:
    """The address of ``tensor``'s storage (``None``: it has no values, or none to tell)."""
    try:
        if tensor.numel() == 0 or tensor.is_meta:
            return None
        if capabilities().untyped_storage:
            return int(tensor.untyped_storage().data_ptr())
        return int(tensor.storage().data_ptr())
    except Exception:  # a tensor without storage (sparse, ...): nothing to tell
        return None


def _unwatched() -> contextlib.AbstractContextManager[Any]:
    """The attempt's own bookkeeping (reads of tensors' metadata) outside every torch-function
    handler, the ``Watch`` mode's included: it is not the build's, and the mode would only
    slow it down."""
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    return torch._C.DisableTorchFunction()


def tensors_in(value: Any, depth: int = 0) -> Iterator[Any]:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 4 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from tensors_in(item, depth + 1)
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item, depth + 1)


class _State:
    """What one fast build did (see the module docstring)."""

    def __init__(self) -> None:
        self.loading = False
        self.failure: str | None = None
        self.loads = 0
        self.skipped: list[Any] = []  # strong references: their addresses stay unique
        self.pending: set[int] = set()
        self.tainted: set[int] = set()
        self.keep: list[Any] = []  # tainted tensors: strong references, as above
        self.covered: set[int] = set()
        self.replaced: list[Any] = []  # strong references, as above
        self.replaced_ptrs: set[int] = set()
        #: without ``TorchFunctionMode`` to see reads, pending tensors hold NaN instead, so
        #: that what is computed from them shows (``verdict``)
        self.poison = not capabilities().torch_function_mode

    def fail(self, why: str) -> None:
        if self.failure is None:
            self.failure = why

    def skip(self, tensor: Any, what: str) -> None:
        with _unwatched():
            self._skip(tensor, what)

    def _skip(self, tensor: Any, what: str) -> None:
        if tensor.numel() == 0:
            return
        if self.loads:
            raise Abandon(f"{what} initialises a tensor after the weights were loaded")
        ptr = _ptr(tensor)
        if ptr is None:
            raise Abandon(f"{what} initialises a tensor whose storage cannot be told")
        self.skipped.append(tensor)
        self.pending.add(ptr)
        if self.poison and tensor.is_floating_point():
            import torch  # noqa: PLC0415 - torch is heavy: lazy

            with torch.no_grad():
                tensor.fill_(float("nan"))

    def run(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``func(*args, **kwargs)``, following what is computed from pending tensors: its
        results are *tainted*, and so is what is computed from them. Metadata and views
        are free; a tainted value that leaves torch (``item()``, ``bool()``, ``equal``)
        abandons the attempt; the verdict refuses a model that holds a tainted tensor."""
        name = str(getattr(func, "__name__", ""))
        if getattr(func, "__module__", None) == "torch.nn.init" and name.endswith("_"):
            tensor = args[0] if args else kwargs.get("tensor")  # torch's own modules hold
            if tensor is not None:  # the real nn.init functions: skipped here as well
                self.skip(tensor, f"nn.init.{name}")
                return tensor
        if name in _METADATA or not (self.pending or self.tainted):
            return func(*args, **kwargs)
        marked = self.pending | self.tainted
        inplace = name.endswith("_") and not name.startswith("__") and bool(args)
        others = args[1:] if inplace else args  # writing to a pending tensor keeps it so
        if not any(_ptr(t) in marked for t in tensors_in((others, kwargs))):
            return func(*args, **kwargs)
        result = func(*args, **kwargs)
        outputs = list(tensors_in(result))
        if not outputs and result is not None:
            raise Abandon(f"the build uses a value computed from random ones ({name})")
        for tensor in outputs:
            ptr = _ptr(tensor)
            if ptr is not None:
                self.keep.append(tensor)
                self.tainted.add(ptr)
        return result

    def load(self, original: Callable[..., Any], module: Any, state_dict: Any, strict: Any) -> Any:
        if not strict:
            self.fail("a load_state_dict(strict=False)")
        with _unwatched():
            template = dict(module.state_dict(keep_vars=True))
        self.loading = True
        try:
            if capabilities().load_state_dict_assign:
                result = original(module, state_dict, strict, assign=True)
            else:
                result = original(module, state_dict, strict)
        finally:
            self.loading = False
        with _unwatched():
            self._record(template, dict(module.state_dict(keep_vars=True)))
        self.loads += 1
        return result

    def _record(self, template: dict[str, Any], after: dict[str, Any]) -> None:
        why = _compare(template, after)
        if why:
            self.fail(why)
        for key, old in template.items():
            ptr = _ptr(old)
            if ptr is not None:
                self.covered.add(ptr)
                self.pending.discard(ptr)
                self.tainted.discard(ptr)
                if after.get(key) is not old:
                    self.replaced.append(old)
                    self.replaced_ptrs.add(ptr)

    def verdict(self, model: Any, rng_before: Any) -> str | None:
        """``None`` if the fast model is provably torchvision's, else why not."""
        import torch  # noqa: PLC0415 - torch is heavy: lazy

        if self.failure:
            return self.failure
        if not isinstance(model, torch.nn.Module):
            return f"the builder returned a {type(model).__name__}, not a module"
        if not torch.equal(rng_before, torch.get_rng_state()):
            return "the build drew from torch's global random number generator"
        for module in model.modules():
            found = [*module._parameters.values(), *module._buffers.values()]
            found += [
                v
                for k, v in vars(module).items()
                if k not in ("_parameters", "_buffers", "_modules")
            ]
            for tensor in tensors_in(found):
                if tensor.is_meta:
                    return f"{type(module).__name__} holds a tensor on the meta device"
                ptr = _ptr(tensor)
                if ptr in self.pending:  # (pending tensors the model dropped do not matter)
                    return f"{type(module).__name__} holds a tensor the weights did not load"
                if ptr in self.tainted:
                    return f"{type(module).__name__} holds a tensor computed from random ones"
                if ptr in self.replaced_ptrs:
                    return f"{type(module).__name__} holds a tensor the load replaced"
                if self.poison and ptr not in self.covered and _has_nan(tensor):
                    return f"{type(module).__name__} holds values computed from random ones"
        return None


def _has_nan(tensor: Any) -> bool:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    if tensor.is_quantized or not (tensor.is_floating_point() or tensor.is_complex()):
        return False
    return bool(torch.isnan(tensor).any())


def _partition(tensors: dict[str, Any], key: Callable[[Any], object]) -> set[frozenset[str]]:
    groups: dict[object, set[str]] = {}
    for name, tensor in tensors.items():
        mark = key(tensor)
        if mark is not None:
            groups.setdefault(mark, set()).add(name)
    return {frozenset(g) for g in groups.values()}


def _compare(template: dict[str, Any], after: dict[str, Any]) -> str | None:
    """Why the loaded tensors are not of the kind of those they replaced (``None``: they
    are). A parameter that torch 2.1's ``assign=True`` left with another ``requires_grad``
    gets the replaced one's (later torch keeps it)."""
    if template.keys() != after.keys():
        return "the load changed the module's state-dict keys"
    for key, old in template.items():
        new = after[key]
        if new is old:
            continue
        if type(new) is not type(old):
            return f"{key}: a {type(new).__name__} replaced a {type(old).__name__}"
        if new.requires_grad != old.requires_grad and new.is_leaf:
            new.requires_grad_(old.requires_grad)
        same = (
            new.requires_grad == old.requires_grad
            and new.dtype == old.dtype
            and new.shape == old.shape
            and new.device == old.device
            and new.layout == old.layout
            and new.is_quantized == old.is_quantized
            and (new.is_quantized or new.stride() == old.stride())
        )
        if not same:
            return f"{key}: the file's tensor differs in kind from the module's"
    if _partition(template, id) != _partition(after, id):
        return "the load changed which keys share one tensor"
    if _partition(template, _ptr) != _partition(after, _ptr):
        return "the load changed which keys share one storage"
    return None


# --------------------------------------------------------------------------------------------
# The interceptions: installed while any attempt runs, active only in its context
# --------------------------------------------------------------------------------------------

_STATE: ContextVar[_State | None] = ContextVar("tvcompat_fast_state", default=None)


def _active() -> _State | None:
    state = _STATE.get()
    return None if state is None or state.loading else state


def _skipping(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def skip(*args: Any, **kwargs: Any) -> Any:
        state = _active()
        tensor = args[0] if args else kwargs.get("tensor")
        if state is None or tensor is None:
            return original(*args, **kwargs)
        state.skip(tensor, what)
        return tensor

    return skip


def _refusing(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def draw(*args: Any, **kwargs: Any) -> Any:
        if _active() is None:
            return original(*args, **kwargs)
        raise Abandon(f"the build draws random numbers ({what})")

    return draw


def _loading(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def load_state_dict(
        self: Any, state_dict: Any, strict: Any = True, *args: Any, **kw: Any
    ) -> Any:
        state = _active()
        if state is None:
            return original(self, state_dict, strict, *args, **kw)
        if args or kw:
            state.fail("load_state_dict() was called with assign= or other arguments")
            return original(self, state_dict, strict, *args, **kw)
        return state.load(original, self, state_dict, strict)

    return load_state_dict


def _mapping(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def get_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _active() is None:
            return original(self, *args, **kwargs)
        progress = bool(kwargs.get("progress", args[0] if args else True))
        return _cache.load_state_dict(self.url, progress=progress, map_location="cpu", mmap=True)

    return get_state_dict


def _targets() -> list[Target]:
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    found: list[Target] = []
    for name in dir(torch.nn.init):
        if name.endswith("_") and not name.startswith("_"):
            found.append(
                (torch.nn.init, name, functools.partial(_skipping, what=f"nn.init.{name}"))
            )
    for name in _RANDOM_METHODS:
        if hasattr(torch.Tensor, name):
            found.append((torch.Tensor, name, functools.partial(_skipping, what=name)))
    for name in _RANDOM_FACTORIES:
        if hasattr(torch, name):
            found.append((torch, name, functools.partial(_refusing, what=f"torch.{name}")))
    found.append((torch.nn.Module, "load_state_dict", _loading))
    if capabilities().torch_load_mmap and capabilities().weights_api:
        from torchvision.models._api import WeightsEnum  # noqa: PLC0415 - torchvision: lazy

        found.append((WeightsEnum, "get_state_dict", _mapping))
    return found


_INTERCEPTIONS = Interceptions(_targets)


@functools.cache
def _watch_class() -> type[Any]:
    from torch.overrides import TorchFunctionMode  # noqa: PLC0415 - torch is heavy: lazy

    class Watch(TorchFunctionMode):
        """Follows what is computed from pending tensors (``_State.run``)."""

        def __init__(self, state: _State) -> None:
            super().__init__()
            self.state = state

        def __torch_function__(self, func: Any, types: Any, args: Any = (), kw: Any = None) -> Any:
            if self.state.loading:
                return func(*args, **(kw or {}))
            return self.state.run(func, args, kw or {})

    return Watch


def _watching(state: _State) -> contextlib.AbstractContextManager[Any]:
    if not capabilities().torch_function_mode:
        return contextlib.nullcontext()
    return _watch_class()(state)  # type: ignore[no-any-return]


def checked(
    make: Callable[[], Any],
    scope: contextlib.AbstractContextManager[Any],
    verdict: Callable[[Any, Any], str | None],
) -> Any:
    """``make()`` in ``scope``, then ``verdict(model, rng_before)`` (``None``: the model is
    torchvision's, else why not) still in it: the model, or ``None`` when the verdict or an
    exception refused it (then the caller builds the plain way; torch's RNG is set back to
    where it was). The outcome is kept for :func:`last_outcome`."""
    import torch  # noqa: PLC0415 - torch is heavy: lazy

    rng = torch.get_rng_state()
    model: Any = None
    try:
        with scope:
            model = make()
            why = verdict(model, rng)
    except Exception as exc:  # any failure, torchvision's own included: the plain path
        why = str(exc) if isinstance(exc, Abandon) else f"{type(exc).__name__}: {exc}"
    if why is not None:
        torch.set_rng_state(rng)
        set_outcome(f"plain: {why}")
        return None
    set_outcome("fast")
    return model


@contextlib.contextmanager
def _scope(state: _State) -> Iterator[None]:
    token = _STATE.set(state)
    collecting = gc.isenabled()  # the check's bookkeeping must not set off a full
    gc.disable()  # collection (0.6 s with torch 2.14 loaded), which plain builds seldom do
    _INTERCEPTIONS.install()
    try:
        yield
    finally:
        _STATE.reset(token)
        _INTERCEPTIONS.uninstall()
        if collecting:
            gc.enable()


def attempt(make: Callable[[], Any]) -> Any:
    """``make()`` (a pretrained build) the fast way, by :func:`checked` (nothing of a refused
    attempt is left; a success drew nothing, so other threads' draws are left alone)."""
    if _STATE.get() is not None:  # a build inside a fast build: its outer check covers it
        return make()
    state = _State()

    def watched() -> Any:
        with _watching(state):
            return make()

    return checked(watched, _scope(state), state.verdict)
