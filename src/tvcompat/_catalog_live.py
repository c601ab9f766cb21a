"""Reading the installed torchvision's model registry, for what the generated catalog lacks.

A torchvision newer than the catalog (or code registering its own builders) has builders and
weights enums the generated data does not know. torchvision 0.14+ registers every builder
(``list_models``/``get_model_builder``/``get_model_weights``); these helpers read that
registry, a builder's legacy decorator and its annotations, so that :mod:`tvcompat._catalog`
can describe such builders with the same records as generated ones. Nothing here runs
until a catalog look-up misses or every name is listed.
"""

from __future__ import annotations

import typing
from typing import Any

from tvcompat._versions import capabilities

__all__ = [
    "enum_classes",
    "family_of",
    "legacy_decorator",
    "legacy_pick",
    "member_name",
    "registered",
]


def registered() -> dict[str, Any]:
    """The installed torchvision's registered builders (name -> function); empty before 0.14."""
    if not capabilities().registration_api:
        return {}
    import torchvision.models  # noqa: PLC0415 - torchvision is heavy: lazy

    models = torchvision.models
    return {name: models.get_model_builder(name) for name in models.list_models()}


def family_of(obj: Any, families: typing.Iterable[str]) -> str:
    """The family of a builder or enum by its module: ``torchvision.models.<family>.<file>``."""
    parts = str(getattr(obj, "__module__", "")).split(".")
    family = parts[2] if len(parts) > 3 else "classification"
    return family if family in families else "classification"


def legacy_decorator(fn: Any) -> dict[str, tuple[str, Any]]:
    """``{weights_param: (legacy_param, default)}`` of torchvision's ``handle_legacy_interface``
    around ``fn`` (read from the decorator's closure; ``{}`` if there is none)."""
    seen: set[int] = set()
    while fn is not None and id(fn) not in seen:
        seen.add(id(fn))
        code = getattr(fn, "__code__", None)
        closure = getattr(fn, "__closure__", None)
        if code is not None and closure and "weights" in code.co_freevars:
            cells = dict(zip(code.co_freevars, (c.cell_contents for c in closure)))
            table = cells.get("weights")
            if isinstance(table, dict) and all(
                isinstance(v, tuple) and len(v) == 2 for v in table.values()
            ):
                return table
        fn = getattr(fn, "__wrapped__", None)
    return {}


def member_name(value: Any) -> str | None:
    """``"Enum.MEMBER"`` for a weights enum member, else ``None``."""
    name = getattr(value, "name", None)
    return f"{type(value).__name__}.{name}" if isinstance(name, str) else None


def legacy_pick(default: Any, kwargs: dict[str, Any]) -> str | None:
    """What torchvision's legacy path loads for ``pretrained=True`` with ``kwargs`` (its
    ``default`` may be a function of the builder's keyword arguments)."""
    try:
        value = default(kwargs) if callable(default) else default
    except Exception:
        return None
    return member_name(value)


def enum_classes(annotation: Any) -> list[type]:
    """The weights enums an annotation such as ``Optional[ResNet50_Weights]`` names."""
    return [
        a
        for a in (*typing.get_args(annotation), annotation)
        if isinstance(a, type) and hasattr(a, "verify") and hasattr(a, "__members__")
    ]
