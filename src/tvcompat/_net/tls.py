"""Scoped SSL contexts for urllib-based downloads (torch.hub, torchvision, tvcompat).

How it works
------------
``http.client`` asks ``ssl._create_default_https_context()`` for a context whenever a caller
gives it none. tvcompat replaces that factory once (on first use of a scope, never at import)
by a :class:`_Dispatcher` that keeps the factory it replaced (the stdlib default, a user's own,
one that ``truststore`` made) and returns a :class:`_ScopedContext`.

A :class:`_ScopedContext` decides *when a connection is made* which real context to use: the one
of the scope active in the connecting thread/task (a :class:`contextvars.ContextVar`), or, when
none is, a context from the replaced factory. Deciding at connection time rather than when the
context is created matters because Python 3.12+ creates the context once, when urllib builds an
opener (``urllib.request.urlopen`` builds and caches the global opener on first use, and its
``HTTPSHandler`` keeps the context for the life of the process). A dispatcher that returned a
plain context would, on those versions, either ignore the scope (opener built outside it) or
leak it to every thread forever (opener built inside it).

For the same reason, installing the dispatcher also wraps the context already cached in the
global urllib opener (built before tvcompat was used), and removing it unwraps it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import ssl
import threading
import urllib.request
import warnings
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from tvcompat.errors import (
    InvalidArgumentError,
    InvalidValueError,
    MissingDependencyError,
    MissingFileError,
    TvcompatWarning,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "DownloadScope",
    "Policy",
    "active_policy",
    "install_dispatcher",
    "make_cafile_policy",
    "make_certifi_policy",
    "make_insecure_policy",
    "make_truststore_policy",
    "uninstall_dispatcher",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    """How downloads in a scope verify certificates."""

    #: identifies equal policies (a context made for one serves any equal one).
    key: tuple[str, ...]
    #: shown in messages, e.g. ``"cafile_downloads(cafile='/etc/corp-ca.pem')"``.
    description: str
    #: makes a fresh client context for this policy.
    make: Callable[[], ssl.SSLContext] = field(compare=False, repr=False)
    #: whether certificates are verified at all.
    verifies: bool = True


_policy: ContextVar[Policy | None] = ContextVar("tvcompat_ssl_policy", default=None)


def active_policy() -> Policy | None:
    """The policy of the innermost scope active in this thread/task, or ``None``."""
    return _policy.get()


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------


def _insecure_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_insecure_policy() -> Policy:
    return Policy(("insecure",), "insecure_downloads()", _insecure_context, verifies=False)


def _certifi_context() -> ssl.SSLContext:
    import certifi  # noqa: PLC0415 - read only when certifi_downloads() is used

    return ssl.create_default_context(cafile=certifi.where())


def make_certifi_policy() -> Policy:
    return Policy(("certifi",), "certifi_downloads()", _certifi_context)


def make_cafile_policy(
    cafile: str | os.PathLike[str] | None, capath: str | os.PathLike[str] | None
) -> Policy:
    if cafile is None and capath is None:
        raise InvalidValueError(
            "cafile_downloads() needs cafile= (a PEM file of CA certificates, e.g. your "
            "proxy's root CA) or capath= (a folder of hashed CA certificates), or both."
        )
    file = os.path.abspath(os.fspath(cafile)) if cafile is not None else None
    folder = os.path.abspath(os.fspath(capath)) if capath is not None else None
    if file is not None and not os.path.isfile(file):
        raise MissingFileError(f"cafile_downloads(): no CA file at {file}")
    if folder is not None and not os.path.isdir(folder):
        raise MissingFileError(f"cafile_downloads(): no CA folder at {folder}")

    def make() -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=file, capath=folder)
        return context

    make()  # a file that is not PEM fails here, at the call, not at the first download
    args = ", ".join(
        f"{name}={value!r}" for name, value in (("cafile", file), ("capath", folder)) if value
    )
    return Policy(("cafile", file or "", folder or ""), f"cafile_downloads({args})", make)


def make_truststore_policy() -> Policy:
    try:
        import truststore  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise MissingDependencyError(
            "truststore_downloads() needs the optional package 'truststore' (Python >= 3.10): "
            "pip install 'tvcompat[truststore]'. Without it, use cafile_downloads(cafile=...) "
            "with your organisation's CA file, or certifi_downloads()."
        ) from exc

    def make() -> ssl.SSLContext:
        return cast("ssl.SSLContext", truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT))

    return Policy(("truststore",), "truststore_downloads()", make)


# --------------------------------------------------------------------------------------------
# The context handed out by the dispatcher
# --------------------------------------------------------------------------------------------

#: settings that relax or tighten verification: a write made while one scope is active applies
#: to that scope's context only (http.client <= 3.11 writes back the ``check_hostname`` it
#: read, which must not carry an insecure scope's ``False`` to a verifying context, or the
#: reverse).
_SCOPE_LOCAL_SETTINGS = frozenset({"check_hostname", "verify_mode", "verify_flags"})

#: methods that change a context; calls are recorded and replayed on every context the
#: ``_ScopedContext`` makes (ALPN and post-handshake auth set by http.client, client
#: certificates, ciphers...).
_MUTATORS = frozenset(
    {
        "load_cert_chain",
        "load_default_certs",
        "load_dh_params",
        "load_verify_locations",
        "set_alpn_protocols",
        "set_ciphers",
        "set_default_verify_paths",
        "set_ecdh_curve",
        "set_npn_protocols",
        "set_psk_client_callback",
        "set_psk_server_callback",
        "set_servername_callback",
    }
)

_DEFAULT_KEY: tuple[str, ...] = ()


@dataclass
class _Change:
    scope: tuple[str, ...] | None  # None: every scope
    method: str | None  # None: attribute assignment
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def apply(self, context: ssl.SSLContext) -> None:
        if self.method is None:
            setattr(context, self.name, self.args[0])
        else:
            getattr(context, self.method)(*self.args, **self.kwargs)


class _State:
    def __init__(self, default: ssl.SSLContext | Callable[[], ssl.SSLContext]) -> None:
        self.lock = threading.Lock()
        self.default = default
        self.wrapped = default if isinstance(default, ssl.SSLContext) else None
        self.contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self.changes: list[_Change] = []

    def target(self) -> tuple[tuple[str, ...], ssl.SSLContext]:
        policy = _policy.get()
        key = policy.key if policy is not None else _DEFAULT_KEY
        context = self.contexts.get(key)
        if context is not None:
            return key, context
        with self.lock:
            context = self.contexts.get(key)
            if context is None:
                if policy is not None:
                    context = policy.make()
                elif isinstance(self.default, ssl.SSLContext):
                    context = self.default
                else:
                    context = self.default()
                for change in self.changes:
                    if change.scope is None or change.scope == key:
                        change.apply(context)
                self.contexts[key] = context
        return key, context

    def record(self, change: _Change, current: ssl.SSLContext) -> None:
        change.apply(current)  # errors surface to the caller, as on a plain context
        with self.lock:
            self.changes.append(change)
            if change.scope is not None:
                return
            for other in self.contexts.values():
                if other is not current:
                    # Not in use by this caller now; a setting it refuses stays unapplied.
                    with contextlib.suppress(ValueError, ssl.SSLError, OSError):
                        change.apply(other)


class _ScopedContext(ssl.SSLContext):
    """An ``SSLContext`` that forwards everything to the context of the scope active in the
    calling thread/task when used: reads, ``wrap_socket``/``wrap_bio``, and changes (which
    are recorded and applied to the contexts it makes for other scopes)."""

    def __new__(cls, default: ssl.SSLContext | Callable[[], ssl.SSLContext]) -> _ScopedContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self, default: ssl.SSLContext | Callable[[], ssl.SSLContext]) -> None:
        object.__setattr__(self, "_tvcompat_state", _State(default))

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") or name == "_tvcompat_state":
            return object.__getattribute__(self, name)
        state: _State = object.__getattribute__(self, "_tvcompat_state")
        _, context = state.target()
        if name in _MUTATORS:

            def mutator(*args: Any, **kwargs: Any) -> Any:
                state.record(_Change(None, name, name, args, kwargs), context)

            return mutator
        return getattr(context, name)

    def __setattr__(self, name: str, value: Any) -> None:
        state: _State = object.__getattribute__(self, "_tvcompat_state")
        key, context = state.target()
        scope = key if name in _SCOPE_LOCAL_SETTINGS else None
        state.record(_Change(scope, None, name, (value,), {}), context)

    def __repr__(self) -> str:
        state: _State = object.__getattribute__(self, "_tvcompat_state")
        return f"<tvcompat scoped SSLContext, default={state.default!r}>"


# --------------------------------------------------------------------------------------------
# The dispatcher in place of ssl._create_default_https_context
# --------------------------------------------------------------------------------------------


class _Dispatcher:
    """Callable installed as ``ssl._create_default_https_context``."""

    def __init__(self, previous: Callable[..., ssl.SSLContext]) -> None:
        self.previous = previous
        self.active = True

    def __call__(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        if not self.active:  # removed, but still called by a factory that wrapped it
            return self.previous(*args, **kwargs)
        return _ScopedContext(functools.partial(self.previous, *args, **kwargs))

    def __repr__(self) -> str:
        return f"<tvcompat SSL dispatcher, previous={self.previous!r}>"


_install_lock = threading.Lock()
_dispatcher: _Dispatcher | None = None


def _global_https_handlers() -> list[urllib.request.HTTPSHandler]:
    opener = getattr(urllib.request, "_opener", None)
    handlers = getattr(opener, "handlers", None) or []
    return [h for h in handlers if isinstance(h, urllib.request.HTTPSHandler)]


def _wrap_global_opener() -> None:
    # Python 3.12+ keeps the context made when urlopen() first built its opener.
    for handler in _global_https_handlers():
        context = getattr(handler, "_context", None)
        if isinstance(context, ssl.SSLContext) and not isinstance(context, _ScopedContext):
            handler._context = _ScopedContext(context)  # type: ignore[attr-defined]


def _unwrap_global_opener() -> None:
    for handler in _global_https_handlers():
        context = getattr(handler, "_context", None)
        if isinstance(context, _ScopedContext):
            wrapped = object.__getattribute__(context, "_tvcompat_state").wrapped
            if wrapped is not None:
                handler._context = wrapped  # type: ignore[attr-defined]


def _in_chain(factory: Callable[..., ssl.SSLContext]) -> bool:
    """Whether ``factory`` (someone's replacement of our dispatcher) still calls it."""
    try:
        return isinstance(factory(), _ScopedContext)
    except Exception:  # a broken factory is not ours to diagnose here
        return False


def install_dispatcher() -> bool:
    """Install the dispatcher unless it is already in force; return whether it was installed
    now. Safe to call from many threads."""
    global _dispatcher  # noqa: PLW0603 - one process-wide hook, guarded by _install_lock
    with _install_lock:
        current = ssl._create_default_https_context
        if _dispatcher is not None and (current is _dispatcher or _in_chain(current)):
            return False
        if _dispatcher is not None:  # replaced outright by someone else since: step aside
            _dispatcher.active = False
        _dispatcher = _Dispatcher(current)
        ssl._create_default_https_context = _dispatcher
        _wrap_global_opener()
        return True


def uninstall_dispatcher() -> bool:
    """Put back the factory the dispatcher replaced; return whether one was installed.

    If another library replaced ``ssl._create_default_https_context`` after tvcompat, that
    replacement is left in place and the dispatcher it may still call passes every call
    through to the factory it had replaced.
    """
    global _dispatcher  # noqa: PLW0603
    with _install_lock:
        dispatcher = _dispatcher
        if dispatcher is None:
            return False
        dispatcher.active = False
        if ssl._create_default_https_context is dispatcher:
            ssl._create_default_https_context = dispatcher.previous
        _dispatcher = None
        _unwrap_global_opener()
        return True


# --------------------------------------------------------------------------------------------
# The scope: context manager and decorator
# --------------------------------------------------------------------------------------------


class DownloadScope:
    """Context manager (and decorator) making downloads of the current thread/task use a
    policy. Nests (the innermost wins); leaving the block, also by an exception, restores the
    previous policy."""

    def __init__(self, policy: Policy, warning: str | None = None) -> None:
        self.policy = policy
        self._warning = warning
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<{self.policy.description}>"

    def _tokens(self) -> list[Token[Policy | None]]:
        tokens: list[Token[Policy | None]] | None = getattr(self._local, "tokens", None)
        if tokens is None:
            tokens = self._local.tokens = []
        return tokens

    def _enter(self, stacklevel: int) -> None:
        install_dispatcher()
        if self._warning is not None:
            warnings.warn(self._warning, TvcompatWarning, stacklevel=stacklevel)
        self._tokens().append(_policy.set(self.policy))

    def __enter__(self) -> None:
        self._enter(stacklevel=3)  # _enter <- __enter__ <- the caller's `with` line

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _policy.reset(self._tokens().pop())

    def __call__(self, func: F) -> F:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise InvalidArgumentError(
                f"{self.policy.description} cannot decorate the generator function "
                f"{func.__qualname__}: its body runs after the call returns. Use "
                "`with` inside the generator instead."
            )
        policy, warning = self.policy, self._warning
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                scope = DownloadScope(policy, warning)
                scope._enter(stacklevel=3)  # _enter <- run_async <- the awaiting line
                try:
                    return await func(*args, **kwargs)
                finally:
                    scope.__exit__(None, None, None)

            return cast("F", run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            scope = DownloadScope(policy, warning)
            scope._enter(stacklevel=3)  # _enter <- run <- the decorated function's caller
            try:
                return func(*args, **kwargs)
            finally:
                scope.__exit__(None, None, None)

        return cast("F", run)
