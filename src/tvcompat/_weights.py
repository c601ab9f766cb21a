"""Weights enums on every torchvision: the real ones where they exist, stand-ins elsewhere.

:func:`enum_class` returns torchvision's own enum when the installed release has it, and
otherwise an equivalent stand-in built from the catalog (same member names, ``DEFAULT``,
``url``, ``meta``, ``transforms()``, ``verify()``, ``get_state_dict()``).
:class:`Entry` names one weights entry independently of which of the two it is.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, cast

from tvcompat import _catalog
from tvcompat._net import cache as _cache
from tvcompat._versions import capabilities
from tvcompat.errors import UnknownWeightsError, WeightsMismatchError

__all__ = ["Entry", "WeightsEnum", "default_member", "enum_class", "lookup", "member_record"]


@dataclass
class Weights:
    """The value of a stand-in enum member: the same fields, equality and (lack of) hashing
    as torchvision's ``Weights``, so a copied or unpickled value finds its member."""

    url: str
    transforms: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # as torchvision's (pytorch/vision#7107): a partial's copy is not equal to it
        if not isinstance(other, Weights):
            return NotImplemented
        if self.url != other.url or self.meta != other.meta:
            return False
        mine, theirs = self.transforms, other.transforms
        if isinstance(mine, functools.partial) and isinstance(theirs, functools.partial):
            return (mine.func, mine.args, mine.keywords) == (
                theirs.func,
                theirs.args,
                theirs.keywords,
            )
        return bool(mine == theirs)

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as torchvision's


class WeightsEnum(Enum):
    """Base class of the stand-in weights enums used where torchvision lacks the real one."""

    @property
    def url(self) -> str:
        return self.value.url  # type: ignore[no-any-return]

    @property
    def meta(self) -> dict[str, Any]:
        return self.value.meta  # type: ignore[no-any-return]

    @property
    def transforms(self) -> Callable[..., Any]:
        return self.value.transforms  # type: ignore[no-any-return]

    @classmethod
    def verify(cls, obj: Any) -> Any:
        """torchvision's ``WeightsEnum.verify``: ``None``, a member, or its name string."""
        if obj is None or isinstance(obj, cls):
            return obj
        if type(obj) is str:
            name = obj.replace(cls.__name__ + ".", "")
            try:
                return cls[name]
            except KeyError:
                raise UnknownWeightsError(_unknown_member_message(cls.__name__, name)) from None
        raise WeightsMismatchError(
            f"Invalid Weight class provided; expected {cls.__name__} but received "
            f"{type(obj).__name__}."
        )

    def get_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """Download (through tvcompat's downloader) and load this entry's state dict."""
        return _cache.load_state_dict(self.url, progress=kwargs.get("progress", True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    # A member is a singleton: copies are the member itself (Python < 3.11 lacks these), and
    # pickle refers to it by class and name (the class is found at its __module__).
    def __copy__(self) -> WeightsEnum:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> WeightsEnum:
        return self

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any, str]]:
        return getattr, (type(self), self.name)


def _unknown_member_message(enum_name: str, name: str) -> str:
    info = _catalog.enum(enum_name)
    members = [*(info["members"] if info is not None else ()), "DEFAULT"]
    upper = {m.upper(): m for m in members}
    close = difflib.get_close_matches(name.upper(), list(upper), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(upper[c]) for c in close)}?" if close else ""
    return (
        f"{enum_name} has no weights named {name!r}.{hint} "
        f"Available: {', '.join(members)} (names are upper case)."
    )


def _preset(spec: _catalog.PresetSpec) -> Callable[..., Any]:
    from tvcompat import _presets  # noqa: PLC0415 - imports torch and torchvision: lazy

    cls = getattr(_presets, spec["name"])
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["kwargs"].items()}
    return functools.partial(cls, **kwargs)


def _meta(record: _catalog.MemberRecord) -> dict[str, Any]:
    meta = dict(record["meta"])
    ref = meta.pop("categories_ref", None)
    meta.pop("num_categories", None)
    if ref is not None:
        meta["categories"] = list(_catalog.categories(ref))
    if "min_size" in meta:
        meta["min_size"] = tuple(meta["min_size"])
    if "unquantized" in meta:  # "Enum.MEMBER" -> the member, as torchvision's meta holds
        meta["unquantized"] = Entry.parse(meta["unquantized"]).obj
    return meta


def _url(record: _catalog.MemberRecord) -> str:
    """The member's URL as the installed torchvision names the file (before the enum
    existed: its first name, which is what the legacy ``model_urls`` used)."""
    url = _catalog.pick(record["urls"])
    return str(url if url is not None else record["urls"][0][1])


@functools.cache
def _stand_in(name: str) -> type[Enum]:
    info = _catalog.enum(name)
    assert info is not None
    values = {
        member: Weights(_url(rec), _preset(rec["transforms"]), _meta(rec))
        for member, rec in info["members"].items()
    }
    members: list[tuple[str, Weights]] = list(values.items())
    if info["default"] is not None:
        members.append(("DEFAULT", values[info["default"]]))
    module = _catalog.PUBLIC_MODULES[info["family"]]
    cls = cast(  # the functional API (typeshed does not model it on an Enum subclass)
        "type[Enum]",
        WeightsEnum(name, members, module=module, qualname=name),  # type: ignore[call-arg]
    )
    cls.__doc__ = (
        f"Stand-in for torchvision's ``{name}`` (added in torchvision {info['added']}), "
        "with the same members."
    )
    return cls


def enum_class(name: str) -> type[Enum]:
    """The weights enum called ``name``: torchvision's own if installed, else a stand-in."""
    if name in _catalog.catalog()["enums"]:
        return _catalogued_enum_class(name)
    live = _catalog.live_enum_class(name)  # only the installed torchvision has it
    if live is None:
        close = difflib.get_close_matches(name, _catalog.enum_names(live=True), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownWeightsError(f"There is no weights enum named {name!r}.{hint}")
    return cast("type[Enum]", live)


@functools.cache
def _catalogued_enum_class(name: str) -> type[Enum]:
    info = _catalog.enum(name)
    assert info is not None
    if capabilities().weights_api and _catalog.is_available(info["added"]):
        try:
            cls: type[Enum] = getattr(importlib.import_module(info["module"]), name)
        except (ImportError, AttributeError):
            pass
        else:
            return cls
    return _stand_in(name)


def member_record(enum_name: str, member: str) -> _catalog.MemberRecord | None:
    """The record of weights entry ``enum_name.member``: the catalog's, or, for a member only
    the installed torchvision's enum has (a newer release), one derived from that member."""
    info = _catalog.enum(enum_name)
    if info is None:
        return None
    found = info["members"].get(member)
    if found is None and member != "DEFAULT":
        cls = enum_class(enum_name)
        installed = cls.__members__.get(member)
        if installed is not None and installed.name == member and not issubclass(cls, WeightsEnum):
            found = _catalog.live_member(cls, info["family"], member)
    return found


def default_member(enum_name: str) -> str | None:
    """The member ``DEFAULT`` names in the installed torchvision (its own enum's where it has
    one: a newer release may have moved it), or ``None``."""
    default = enum_class(enum_name).__members__.get("DEFAULT")
    return None if default is None else default.name


@dataclass(frozen=True)
class Entry:
    """One weights entry, named by enum and member (``ResNet50_Weights``, ``IMAGENET1K_V1``)."""

    enum: str
    member: str

    @classmethod
    def parse(cls, qualname: str) -> Entry:
        enum_name, _, member = qualname.partition(".")
        return cls(enum_name, member)

    def __str__(self) -> str:
        return f"{self.enum}.{self.member}"

    @property
    def record(self) -> _catalog.MemberRecord:
        record = member_record(self.enum, self.member)
        assert record is not None
        return record

    @property
    def obj(self) -> Enum:
        """The enum member (torchvision's own where it exists, else the stand-in's)."""
        return enum_class(self.enum)[self.member]

    @property
    def url(self) -> str:
        """The URL the installed torchvision loads for this entry."""
        return str(self.obj.url)  # type: ignore[attr-defined]

    @property
    def added(self) -> str:
        """The torchvision version whose weights enum first named this entry."""
        return str(self.record["added"])

    @property
    def legacy_since(self) -> str | None:
        """The first torchvision whose ``pretrained=True`` already loaded this file."""
        value = self.record.get("legacy_since")
        return None if value is None else str(value)

    @property
    def is_default(self) -> bool:
        return default_member(self.enum) == self.member

    @property
    def num_categories(self) -> int | None:
        value = self.record["meta"].get("num_categories")
        return None if value is None else int(value)


def lookup(value: object, allowed: list[str], *, param: str, model: str) -> Entry | None:
    """Normalise a ``weights=`` value for a builder whose valid enums are ``allowed``.

    Accepts ``None``, a (real or stand-in) enum member, ``"DEFAULT"``, ``"MEMBER"`` and
    ``"Enum.MEMBER"``; raises a clear error for anything else.
    """
    if value is None:
        return None
    if isinstance(value, Enum):
        enum_name = type(value).__name__
        if _catalog.enum(enum_name) is None:
            raise WeightsMismatchError(
                f"{param}={value!r} is not a torchvision weights enum member; "
                f"{model} takes {' or '.join(allowed)}."
            )
        if enum_name not in allowed:
            raise WeightsMismatchError(
                f"{param}={enum_name}.{value.name} are weights for another model; {model} "
                f"takes {' or '.join(allowed)} (e.g. {param}={allowed[0]}.DEFAULT)."
            )
        return Entry(enum_name, value.name)
    if type(value) is not str:
        raise WeightsMismatchError(
            f"{param} must be a weights enum member, its name as a string, 'DEFAULT' or None, "
            f"not {type(value).__name__} {value!r}."
        )
    enum_name, dot, member = value.rpartition(".")
    if dot:
        enum_name = enum_name.rpartition(".")[2]  # accept "torchvision.models.X_Weights.M"
        if enum_name not in allowed:
            if _catalog.enum(enum_name) is None:
                raise UnknownWeightsError(
                    f"{param}={value!r}: there is no weights enum named {enum_name!r}; "
                    f"{model} takes {' or '.join(allowed)}."
                )
            raise WeightsMismatchError(
                f"{param}={value!r} are weights for another model; {model} takes "
                f"{' or '.join(allowed)}."
            )
        candidates = [enum_name]
    else:
        candidates = allowed
    for name in candidates:
        if member == "DEFAULT":
            default = default_member(name)
            if default is not None:
                return Entry(name, default)
        if member_record(name, member) is not None:
            return Entry(name, member)
    raise UnknownWeightsError(
        f"{param}={value!r}: " + _unknown_member_message(candidates[0], member)
    )
