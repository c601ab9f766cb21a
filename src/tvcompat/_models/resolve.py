"""Argument resolution: what a builder call means, decided without building anything.

:func:`resolve` turns any mix of legacy (``pretrained``/``pretrained_backbone``, positional
or keyword) and new (``weights``/``weights_backbone``) arguments into one
:class:`Resolution`: the weights entry and backbone entry that will be loaded, and the
remaining keyword arguments. The rules (see ``docs/mapping.md``):

* ``pretrained=True`` means the entry torchvision's own legacy path loads, read from the
  catalog for the installed release (argument-dependent: ``quantize=True``, keypoint-rcnn's
  ``"legacy"``, backbone utils' ``backbone_name``); with the policy ``"default"`` it means the
  enum's ``DEFAULT`` instead.
* A call that worked on torchvision <= 0.12 keeps its result there and on newer releases;
  genuine conflicts raise :mod:`tvcompat.errors` exceptions whose message names the fix.
* Every argument is checked before anything is built or downloaded: the keywords the
  installed torchvision's builder takes (read from its code: the builder's signature and
  those of the functions and classes its ``**kwargs`` reach, see :func:`_keywords`), the
  values of ``num_classes``/``num_keypoints``/``progress``/``quantize``/``backbone_name``,
  and the values torchvision fixes (``groups=32`` of ``resnext50_32x4d``, ``image_size`` of
  a ViT's weights). Where the accepted keywords cannot be told for certain, all are accepted.
"""

from __future__ import annotations

import difflib
import functools
import numbers
from dataclasses import dataclass, field
from typing import Any

from tvcompat import _catalog
from tvcompat._models.keywords import _check_fixed, _check_keywords, short
from tvcompat._net import paths as _paths
from tvcompat._settings import get_pretrained_policy
from tvcompat._versions import capabilities, torchvision_version
from tvcompat._weights import Entry, default_member, lookup
from tvcompat.errors import (
    BuilderNotAvailableError,
    ConflictingArgumentsError,
    InvalidArgumentError,
    InvalidValueError,
    NoPretrainedWeightsError,
    UnknownModelError,
    WeightsMismatchError,
)

__all__ = ["Resolution", "builder_key", "legacy_entry", "resolve"]

_MISSING: Any = object()
#: ``(legacy parameter, new parameter)`` pairs
_PAIRS = (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone"))
#: families whose ``pretrained=True`` must not also download the backbone (<= 0.12 did)
_WITH_BACKBONE = ("detection", "segmentation")


@dataclass(frozen=True)
class Resolution:
    """What a builder call loads. ``str()`` gives a one-paragraph explanation."""

    model: str
    """The builder's catalog key (``"resnet50"``, ``"detection.fasterrcnn_resnet50_fpn"``)."""
    weights: Entry | None
    """The weights entry loaded into the model, or ``None``."""
    weights_backbone: Entry | None
    """The backbone weights loaded, or ``None`` (always ``None`` when ``weights`` is set)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Every other keyword argument, passed on to torchvision."""
    progress: bool = True
    strip_aux: bool = False
    """``aux_logits=False`` with weights: load, then drop the auxiliary head (as <= 0.12)."""
    reason: str = ""

    @property
    def name(self) -> str:
        return self.model.rpartition(".")[2]

    @property
    def family(self) -> str:
        return str(_info(self.model)["family"])

    @property
    def urls(self) -> tuple[str, ...]:
        """The weights files this call loads, in loading order."""
        return tuple(e.url for e in (self.weights, self.weights_backbone) if e is not None)

    @property
    def cached(self) -> tuple[bool, ...]:
        """Whether each of :attr:`urls` is already in the torch hub cache."""
        return tuple(_paths.cache_path(u).is_file() for u in self.urls)

    def __str__(self) -> str:
        parts = [f"{self.name}: weights={self.weights or 'None'}"]
        if "weights_backbone" in _info(self.model)["weights_params"]:
            parts.append(f"weights_backbone={self.weights_backbone or 'None'}")
        text = ", ".join(parts)
        if self.reason:
            text += f" ({self.reason})"
        for url, hit in zip(self.urls, self.cached):
            text += f"\n  {url} [{'cached' if hit else 'not cached'}]"
        return text


@functools.cache
def _info(key: str) -> _catalog.BuilderRecord:
    info = _catalog.builder(key)
    if info is None:
        raise UnknownModelError(_unknown_model_message(key))
    return info


def _unknown_model_message(key: str) -> str:
    family, _, name = key.rpartition(".")
    pool = [k for k in _catalog.builder_keys() if not family or k.startswith(family + ".")]
    names = {k.rpartition(".")[2]: k for k in pool}
    close = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.6)
    where = f" in tvcompat.{family}" if family else ""
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return f"Unknown model {name!r}{where}.{hint} tvcompat.list_models() lists them all."


def builder_key(name: str, family: str = "classification") -> str:
    """The catalog key of builder ``name`` in ``family``."""
    return name if family == "classification" else f"{family}.{name}"


@functools.cache
def _legacy_entry(key: str, form: str) -> Entry | None:
    """The entry a legacy call form loads on the installed torchvision.

    Where the installed release could not load it (an undecorated 0.13 builder, a
    checkpoint 0.12 lacked), the newest release's answer applies: the same weights exist.
    """
    ranges = _info(key)["legacy"].get(form)
    if not ranges:
        return None
    value = _catalog.pick(ranges)
    if not isinstance(value, str):
        named = [v for _, v in ranges if isinstance(v, str)]
        value = named[-1] if named else None
    return Entry.parse(value) if value else None


def legacy_entry(key: str, form: str) -> Entry | None:
    """The entry the legacy call ``form`` (``"pretrained=True"``, ...) of builder ``key`` loads
    with tvcompat on the installed torchvision, or ``None`` if it loads none; see
    :func:`_legacy_entry`."""
    return _legacy_entry(key, form)


def legacy_entry_installed(key: str, form: str) -> Entry | None:
    """What the installed torchvision itself loads for ``form`` (``None``: not that)."""
    ranges = _info(key)["legacy"].get(form)
    value = _catalog.pick(ranges) if ranges else None
    return Entry.parse(value) if isinstance(value, str) else None


def _enums(key: str, param: str, quantize: bool, backbone_name: str | None = None) -> list[str]:
    info = _info(key)
    if info["family"] == "backbone_utils":  # the weights of the backbone they build
        info = _info(str(backbone_name))
    names: list[str] = list(info.get("enums", {}).get(param, []))
    if info["family"] == "quantization" and param == "weights":
        # both are accepted by name; the one quantize= selects comes first ("DEFAULT")
        quantized = [n for n in names if "Quantized" in n]
        floats = [n for n in names if "Quantized" not in n]
        return quantized + floats if quantize else floats + quantized
    return names


def _bool_like(value: Any) -> bool | None:
    """``value`` as a flag (``None``, a bool, an integer, a numpy bool), or ``None`` when it is
    none of those (a string, a list, an array, a tensor: their truth is not a flag's)."""
    if value is None or isinstance(value, (bool, numbers.Integral)):
        return bool(value)
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"):
        return bool(value)
    return None


def _truthy_legacy(value: Any, param: str, name: str) -> bool | str:
    flag = _bool_like(value)
    if flag is not None and (value is None or isinstance(value, bool) or value in (0, 1)):
        return flag
    if isinstance(value, str) and value == "legacy":
        return "legacy"
    raise InvalidArgumentError(
        f"{name}({param}={short(value)}): {param} takes True or False "
        f"(or use {param.replace('pretrained', 'weights')}=<enum member | name | 'DEFAULT' | "
        "None>)."
    )


def _check_flag(name: str, param: str, value: Any) -> bool:
    flag = _bool_like(value)
    if flag is None:
        raise InvalidArgumentError(
            f"{name}({param}={short(value)}): {param} takes True or False, not "
            f"{type(value).__name__}."
        )
    return flag


def _form(info: _catalog.BuilderRecord, kw: dict[str, Any], legacy: bool | str) -> str:
    if info["family"] == "backbone_utils":
        return _catalog.backbone_name_form(kw.get("backbone_name"))
    if legacy == "legacy" and _catalog.FORM_PRETRAINED_LEGACY in info["legacy"]:
        return _catalog.FORM_PRETRAINED_LEGACY
    if info["family"] == "quantization" and kw.get("quantize"):
        return _catalog.FORM_PRETRAINED_QUANTIZED
    return _catalog.FORM_PRETRAINED


def _pretrained_entry(key: str, form: str, param: str) -> Entry:
    entry = _legacy_entry(key, form)
    name = _info(key)["name"]
    if entry is None:
        backbone = form.partition(_catalog.FORM_BACKBONE_NAME)[2] or None
        enums = _enums(key, "weights", form == _catalog.FORM_PRETRAINED_QUANTIZED, backbone)
        hint = ""
        if enums:
            info = _catalog.enum(enums[0])
            if info is not None:
                hint = (
                    f" Choose weights explicitly, e.g. {param.replace('pretrained', 'weights')}="
                    f"{enums[0]}.{info['default']} (see `tvcompat weights {name}`)."
                )
        raise NoPretrainedWeightsError(
            f"{name} has no legacy pretrained weights: {param}=True never loaded any.{hint}"
        )
    if get_pretrained_policy() == "default" and form != _catalog.FORM_PRETRAINED_LEGACY:
        default = default_member(entry.enum)
        if default is not None:
            return Entry(entry.enum, default)
    return entry


def resolve(
    key: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
) -> Resolution:
    """Resolve one builder call (``key`` from :func:`builder_key`)."""
    info = _info(key)
    name = info["name"]
    if not _catalog.builder_available(info):
        # the first release, after the installed one, that has it
        installed = torchvision_version()
        since = next(
            (
                start.lstrip("<=")
                for start, present in info["present"]
                if present and _catalog.start_version(start).release > installed.release[:2]
            ),
            info["added"].lstrip("<="),
        )
        raise BuilderNotAvailableError(
            f"{name} needs torchvision >= {since} (installed: {installed}). "
            f"Upgrade with: pip install 'torchvision>={since}'"
        )
    kw = dict(kwargs or {})
    positional = info["positional"]
    if len(args) > len(positional):
        raise InvalidArgumentError(
            f"{name}() takes at most {len(positional)} positional arguments "
            f"({', '.join(positional)}) but {len(args)} were given"
        )
    for pname, value in zip(positional, args):
        if pname in kw:
            raise InvalidArgumentError(f"{name}() got multiple values for argument {pname!r}")
        kw[pname] = value
    if info["family"] == "backbone_utils":
        _check_backbone_name(name, info, kw)
    progress = _check_flag(name, "progress", kw.pop("progress", True))
    quantize = _check_flag(name, "quantize", kw.get("quantize", False))
    entries: dict[str, Entry | None] = {}
    explicit: dict[str, bool] = {}
    reason = []
    for legacy_param, param in _PAIRS:
        legacy_given = legacy_param in kw
        legacy_value: Any = kw.pop(legacy_param, None)
        new_value: Any = kw.pop(param, _MISSING)
        if legacy_given and not isinstance(legacy_value, (bool, int, str, type(None))):
            _truthy_legacy(legacy_value, legacy_param, name)  # an array, a tensor: refused
        # torchvision treats a bool or "legacy" passed as ``weights`` as the legacy argument
        if new_value is not _MISSING and (
            isinstance(new_value, bool) or (isinstance(new_value, str) and new_value == "legacy")
        ):
            if legacy_given and legacy_value != new_value:
                raise ConflictingArgumentsError(
                    f"{name}() got {legacy_param}={legacy_value!r} and {param}={new_value!r}; "
                    f"pass only {param}=<weights>."
                )
            legacy_given, legacy_value, new_value = True, new_value, _MISSING
        if param not in info["weights_params"]:
            if legacy_given or new_value is not _MISSING:
                bad = legacy_param if legacy_given else param
                raise InvalidArgumentError(f"{name}() got an unexpected keyword argument {bad!r}")
            continue
        explicit[param] = legacy_given or new_value is not _MISSING
        wanted: Entry | None = None
        if legacy_given:
            flag = _truthy_legacy(legacy_value, legacy_param, name)
            if flag:
                form = (
                    _form(info, kw, flag)
                    if param == "weights"
                    else _catalog.FORM_PRETRAINED_BACKBONE
                )
                wanted = _pretrained_entry(key, form, legacy_param)
                reason.append(f"{legacy_param}={legacy_value!r} -> {wanted}")
        if new_value is not _MISSING:
            allowed = _enums(key, param, quantize, kw.get("backbone_name"))
            entry = lookup(new_value, allowed, param=param, model=name)
            if legacy_given and entry != wanted:
                raise ConflictingArgumentsError(
                    f"{name}() got {legacy_param}={legacy_value!r} (meaning {param}="
                    f"{wanted}) and {param}={new_value!r}: they disagree. "
                    f"Pass only one; {param}= is the one that names the weights."
                )
            wanted = entry
        entries[param] = wanted
    _check_quantized(key, info, entries.get("weights"), quantize)
    weights = entries.get("weights")
    backbone = entries.get("weights_backbone")
    if "weights_backbone" in info["weights_params"]:
        if weights is not None:
            backbone = None  # the full weights include the backbone (torchvision's rule)
        elif not explicit.get("weights_backbone"):
            form = (
                _catalog.FORM_BACKBONE_DEFAULT
                if capabilities().weights_api
                else _catalog.FORM_BACKBONE_DEFAULT_LEGACY
            )
            backbone = legacy_entry_installed(key, form)
    keywords = _check_keywords(key, info, kw)
    strip_aux = False
    if weights is not None:
        strip_aux = _check_weights_kwargs(name, info, kw, weights)
    if keywords is not None:
        _check_fixed(name, keywords, kw, weights)
    return Resolution(key, weights, backbone, kw, bool(progress), strip_aux, "; ".join(reason))


def _backbone_names(info: _catalog.BuilderRecord) -> list[str]:
    """The ``backbone_name`` values a backbone util takes on the installed torchvision (its
    catalog record has a legacy form ``backbone_name=<name>`` per name)."""
    names = []
    for form, ranges in info["legacy"].items():
        backbone = form.partition(_catalog.FORM_BACKBONE_NAME)[2]
        if backbone and isinstance(_catalog.pick(ranges), str):
            names.append(backbone)
    return names


def _check_backbone_name(name: str, info: _catalog.BuilderRecord, kw: dict[str, Any]) -> None:
    takes = _backbone_names(info)
    listing = (
        f"{name}() takes backbone_name={' | '.join(repr(n) for n in takes)} "
        f"(torchvision {torchvision_version()})"
    )
    if "backbone_name" not in kw:
        raise InvalidArgumentError(
            f"{name}() missing required argument 'backbone_name': {listing}."
        )
    backbone = kw["backbone_name"]
    if not isinstance(backbone, str):
        raise InvalidArgumentError(
            f"{name}(backbone_name={short(backbone)}): backbone_name takes a model name, a "
            f"string: {listing}."
        )
    if backbone in takes:
        return
    arch = _catalog.builder(backbone)
    if arch is None:
        close = difflib.get_close_matches(backbone.lower(), takes, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"{name}(backbone_name={backbone!r}): unknown backbone.{hint} {listing}."
        )
    if not _catalog.builder_available(arch):
        added = arch["added"].lstrip("<=")
        raise BuilderNotAvailableError(
            f"{name}(backbone_name={backbone!r}) needs torchvision >= {added}, which added "
            f"{backbone} (installed: {torchvision_version()})."
        )
    others = [
        other["name"]
        for other in map(_catalog.builder, _catalog.builder_keys())
        if other is not None
        and other["family"] == "backbone_utils"
        and other["name"] != name
        and backbone in _backbone_names(other)
    ]
    use = f" (use {others[0]}(backbone_name={backbone!r}))" if others else ""
    raise InvalidValueError(
        f"{name}(backbone_name={backbone!r}): {name} does not build {backbone} "
        f"backbones{use}; {listing}."
    )


def _check_quantized(
    key: str, info: _catalog.BuilderRecord, entry: Entry | None, quantize: bool
) -> None:
    if info["family"] != "quantization" or entry is None:
        return
    is_quantized = "Quantized" in entry.enum
    if is_quantized and not quantize:
        raise WeightsMismatchError(
            f"{entry} are quantized weights: pass quantize=True to {info['name']}() "
            "to build the quantized model they belong to."
        )
    if quantize and not is_quantized:
        raise WeightsMismatchError(
            f"{entry} are float weights, but quantize=True builds a quantized model: pass "
            f"quantize=False, or quantized weights ({_enums(key, 'weights', True)[0]})."
        )


def _check_weights_kwargs(
    name: str, info: _catalog.BuilderRecord, kw: dict[str, Any], weights: Entry
) -> bool:
    """Arguments that contradict the weights: fix what <= 0.12 accepted, refuse the rest."""
    categories = weights.num_categories
    num_classes = kw.get("num_classes")
    if num_classes is not None and categories is not None and num_classes != categories:
        raise ConflictingArgumentsError(
            f"{name}(num_classes={num_classes}) conflicts with {weights}, which has "
            f"{categories} classes. Load the weights with the original head, then replace "
            f"it, e.g. model = tvcompat.{name}(weights={weights}); then swap the final layer "
            f"for one with {num_classes} outputs (for ResNets: model.fc = "
            f"torch.nn.Linear(model.fc.in_features, {num_classes}))."
        )
    keypoints = weights.record["meta"].get("keypoint_names")
    num_keypoints = kw.get("num_keypoints")
    if keypoints and num_keypoints is not None and num_keypoints != len(keypoints):
        raise ConflictingArgumentsError(
            f"{name}(num_keypoints={num_keypoints}) conflicts with {weights}, which predicts "
            f"{len(keypoints)} keypoints. Load the weights, then replace the keypoint predictor."
        )
    if info["family"] == "segmentation" and kw.get("aux_loss") is False:
        kw.pop("aux_loss")  # <= 0.12 forced aux_loss=True with pretrained weights
    if name in ("inception_v3", "googlenet") and kw.get("aux_logits") is False:
        kw.pop("aux_logits")  # <= 0.12 loaded, then dropped the auxiliary head
        return True
    return False
