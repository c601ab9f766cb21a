"""Builders and the model registration API on every torchvision.

``get_model``, ``get_model_builder``, ``get_model_weights``, ``get_weight`` and
``list_models`` behave like torchvision's (0.14+/0.16+) on every supported release, and hand
out tvcompat's builders, which accept legacy and new arguments alike.
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import functools
import types
from collections.abc import Iterable
from typing import Any, Callable

from tvcompat import _catalog
from tvcompat._catalog import FAMILY_MODULES, PUBLIC_MODULES
from tvcompat._models.build import MARKER, build
from tvcompat._models.resolve import Resolution, builder_key
from tvcompat._models.resolve import resolve as resolve_key
from tvcompat._weights import _unknown_member_message, enum_class
from tvcompat.errors import InvalidValueError, UnknownModelError, UnknownWeightsError

__all__ = [
    "builder",
    "family_names",
    "get_model",
    "get_model_builder",
    "get_model_weights",
    "get_weight",
    "installed_keys",
    "list_models",
    "model_key",
    "registered_name",
    "resolve",
]

FAMILIES = tuple(FAMILY_MODULES)


def registered_name(key: str) -> str:
    """The name builder ``key`` is registered as (``"quantized_resnet50"`` for
    ``"quantization.resnet50"``), whether or not the installed torchvision has it."""
    info = _catalog.builder(key)
    assert info is not None
    return f"quantized_{info['name']}" if info["family"] == "quantization" else str(info["name"])


@functools.cache
def _catalogued() -> dict[str, str]:
    """Registered model name -> catalog key, for the catalog's builders the installed
    torchvision has."""
    out: dict[str, str] = {}
    for key in _catalog.builder_keys():
        info = _catalog.builder(key)
        assert info is not None
        if info["family"] != "backbone_utils" and _catalog.builder_available(info):
            out[registered_name(key)] = key
    return out


def _registry() -> dict[str, str]:
    """Registered model name -> catalog key, for every builder of the installed torchvision:
    the catalog's, and those only its registry has (a newer torchvision, or registered at
    run time: read on each call)."""
    known = set(_catalog.builder_keys())
    live = {registered_name(k): k for k in _catalog.builder_keys(live=True) if k not in known}
    return dict(sorted({**_catalogued(), **live}.items()))


def installed_keys() -> list[str]:
    """The catalog keys of every builder the installed torchvision registers."""
    return list(_registry().values())


@functools.cache
def family_names(family: str) -> list[str]:
    """The builder names (available in any release) of one family."""
    return [
        key.rpartition(".")[2]
        for key in _catalog.builder_keys()
        if _catalog.builder_family(key) == family
    ]


@functools.cache
def builder(family: str, name: str) -> Callable[..., Any]:
    """tvcompat's builder ``name`` of ``family`` (it raises, when called, if the installed
    torchvision lacks it)."""
    key = builder_key(name, family)
    info = _catalog.builder(key)
    if info is None:
        raise AttributeError(name)

    def build_model(*args: Any, **kwargs: Any) -> Any:
        return build(resolve_key(key, args, kwargs))

    module = PUBLIC_MODULES[family]
    setattr(build_model, MARKER, True)
    build_model.__name__ = build_model.__qualname__ = name
    build_model.__module__ = module
    legacy = ", ".join(info["positional"])
    weights = ", ".join(f"{p}=None" for p in info["weights_params"])
    build_model.__doc__ = (
        f"torchvision's ``{name}`` (added in torchvision {info['added'].lstrip('<=')}), on every "
        f"torchvision.\n\nAccepts the legacy form ({legacy}, positional or keyword) and the new "
        f"form ({weights}, as an enum member, its name, 'DEFAULT' or None), plus every other "
        "keyword argument torchvision's builder takes. Emits no deprecation warnings.\n"
        f"See :func:`tvcompat.resolve` for what a call loads."
    )
    return build_model


def _key_for(name: str | Callable[..., Any]) -> str:
    if callable(name):
        module = getattr(name, "__module__", "") or ""
        fn_name = getattr(name, "__name__", "")
        for family in FAMILIES:
            if family != "classification" and (f".{family}" in module):
                return builder_key(fn_name, family)
        return builder_key(fn_name)
    lowered = name.lower()
    registry = _registry()
    if lowered in registry:
        return registry[lowered]
    if "." in lowered and _catalog.builder(lowered) is not None:
        return lowered
    for key in _catalog.builder_keys():  # known, but not in the installed release
        if registered_name(key) == lowered:
            return key
    every = {*registry} | {
        registered_name(k) for k in _catalog.builder_keys() if not k.startswith("backbone_utils.")
    }
    close = difflib.get_close_matches(lowered, sorted(every), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"Unknown model {name!r}.{hint} tvcompat.list_models() lists them.")


def model_key(name: str | Callable[..., Any]) -> str:
    """The catalog key of a model: a registered name (case-insensitive; installed or not), a
    backbone util name (``"resnet_fpn_backbone"``), a catalog key or a builder. Raises
    :class:`~tvcompat.errors.UnknownModelError` (with close matches) for anything else."""
    if isinstance(name, str) and name in ("resnet_fpn_backbone", "mobilenet_backbone"):
        return builder_key(name, "backbone_utils")
    return _key_for(name)


def get_model_builder(name: str) -> Callable[..., Any]:
    """The builder registered as ``name`` (case-insensitive), e.g. ``"quantized_resnet50"``."""
    key = _key_for(name)
    family, _, fn_name = key.rpartition(".")
    return builder(family or "classification", fn_name)


def get_model(name: str, /, **config: Any) -> Any:
    """Build the model registered as ``name`` with ``config`` (legacy or new arguments)."""
    return get_model_builder(name)(**config)


def get_model_weights(name: str | Callable[..., Any]) -> type[enum.Enum]:
    """The weights enum of a model (for quantized models the quantized enum, as torchvision)."""
    key = _key_for(name)
    info = _catalog.builder(key)
    assert info is not None
    enums = info.get("enums", {}).get("weights") or []
    if not enums:
        raise UnknownWeightsError(f"{info['name']} has no weights enum.")
    return enum_class(enums[0])


def get_weight(name: str) -> Any:
    """The weights entry named ``"EnumName.MEMBER"`` (``"DEFAULT"`` allowed as member)."""
    enum_name, dot, member = name.rpartition(".")
    if not dot:
        raise UnknownWeightsError(
            f"Invalid weight name provided: {name!r}. Use the full name, e.g. "
            f"'ResNet50_Weights.{name}'."
        )
    cls = enum_class(enum_name.rpartition(".")[2])
    try:
        return cls[member]
    except KeyError:
        raise UnknownWeightsError(_unknown_member_message(cls.__name__, member)) from None


def _patterns(value: Iterable[str] | str | None) -> list[str]:
    """torchvision's reading of ``include``/``exclude``: an empty value (``None``, ``""``,
    ``[]``) filters nothing; a string is one pattern."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def list_models(
    module: types.ModuleType | None = None,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> list[str]:
    """Registered model names of the installed torchvision, sorted (torchvision semantics:
    ``module`` restricts to a family module, ``include``/``exclude`` are fnmatch patterns,
    an empty ``include`` includes everything)."""
    registry = _registry()
    names = list(registry)
    if module is not None:
        family = _family_of_module(module)
        names = [n for n in names if _catalog.builder_family(registry[n]) == family]
    inc = _patterns(include)
    if inc:
        names = sorted({n for n in names for pat in inc if fnmatch.fnmatch(n, pat)})
    exc = _patterns(exclude)
    return [n for n in names if not any(fnmatch.fnmatch(n, pat) for pat in exc)]


def _family_of_module(module: types.ModuleType) -> str:
    last = module.__name__.rpartition(".")[2]
    if last in FAMILIES:
        return last
    if module.__name__ in ("tvcompat", "torchvision.models"):
        return "classification"
    raise InvalidValueError(
        f"list_models(module={module.__name__}): pass tvcompat or a family module such as "
        "tvcompat.detection (or the torchvision.models equivalent)."
    )


def resolve(model: str | Callable[..., Any], /, *args: Any, **kwargs: Any) -> Resolution:
    """Say, without building or downloading anything, what ``model(*args, **kwargs)`` loads:
    the weights entry, backbone entry, URLs and whether they are cached. ``model`` is a
    registered name (``"resnet50"``, ``"quantized_resnet50"``), a backbone util name, or a
    builder."""
    return resolve_key(model_key(model), args, kwargs)
