"""Where names live on every torchvision, for the import rewrites of ``tvcompat migrate``.

* Removed modules and names: the one table is :mod:`tvcompat._removed` (``tvcompat.install()``
  serves the same rows at run time). A removed name (:class:`~tvcompat._removed.RemovedName`)
  goes to its replacement, the same object, imported directly where the replacement exists
  on every torchvision 0.10+ (:data:`EVERY_RELEASE`, or anything from torch itself), else
  with the old name as the fallback (a ``try``/``except ImportError``); a stand-in without a
  replacement comes from ``tvcompat.legacy``, which serves the right object on each release.
  A name of a removed module (:class:`~tvcompat._removed.RemovedModule`) goes to its *public
  twin* where one exists (:data:`PUBLIC_TWINS`), otherwise to the module's replacement with
  the old module as the fallback. What has no home is reported.
* New-API names (``--target shim``): weights enums and the registry functions move to
  tvcompat's module of their family (:data:`~tvcompat._migrate.tables.SHIM_PACKAGES`), which
  serves them on every torchvision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Union

from tvcompat import _catalog, _removed
from tvcompat._migrate.tables import SHIM_PACKAGES

__all__ = [
    "API_MODULES",
    "EVERY_RELEASE",
    "LEGACY",
    "MODEL_URL_NAMES",
    "PUBLIC_TWINS",
    "REGISTRY_NAMES",
    "WEIGHTS_BASES",
    "Home",
    "PublicTwin",
    "legacy_names",
    "name_home",
    "new_api_home",
    "removed_entry",
    "whole_module_home",
]

#: the modules that define (``_api``) or export the new API
API_MODULES = ("torchvision.models", "torchvision.models._api")
#: torchvision's registry API (``get_weight`` 0.13, the rest 0.14), tvcompat's on every release
REGISTRY_NAMES = frozenset(
    ("get_model", "get_model_builder", "get_model_weights", "get_weight", "list_models")
)
#: the enums' base classes (``torchvision.models`` exports them from 0.15): tvcompat has no
#: equivalent, since before 0.13 its enums are stand-ins with another base (reported)
WEIGHTS_BASES = frozenset(("WeightsEnum", "Weights"))
#: the legacy ``{arch: url}`` mappings, served by ``tvcompat.legacy``
MODEL_URL_NAMES = frozenset(("model_urls", "quant_model_urls"))
#: tvcompat's module of stable homes for removed names
LEGACY = "tvcompat.legacy"


@dataclass(frozen=True)
class PublicTwin:
    """A public module that has some names of a removed module, doing the same on every
    torchvision 0.10+ (tests/test_migrate.py checks the signatures on the installed one)."""

    module: str
    names: frozenset[str]


#: the functions ``functional_tensor`` and ``functional_pil`` share with the public module
_SHARED = (
    "adjust_brightness",
    "adjust_contrast",
    "adjust_gamma",
    "adjust_hue",
    "adjust_saturation",
    "adjust_sharpness",
    "autocontrast",
    "crop",
    "equalize",
    "hflip",
    "invert",
    "posterize",
    "solarize",
    "vflip",
)

#: removed module -> its public twin. ``torchvision.transforms.functional``'s function of each
#: name takes the same parameters and, for a tensor (resp. PIL image), calls the
#: ``functional_tensor`` (``functional_pil``) function with them unchanged, on every release
#: from 0.10 on. Functions whose public version takes other arguments (``resize``'s
#: ``InterpolationMode``, ``rotate``/``affine``'s angle instead of a matrix) are not twins.
PUBLIC_TWINS: dict[str, PublicTwin] = {
    "torchvision.transforms.functional_tensor": PublicTwin(
        "torchvision.transforms.functional",
        frozenset((*_SHARED, "rgb_to_grayscale", "convert_image_dtype")),
    ),
    "torchvision.transforms.functional_pil": PublicTwin(
        "torchvision.transforms.functional", frozenset((*_SHARED, "to_grayscale"))
    ),
}

#: replacements of removed names that every torchvision 0.10+ has (checked on each release
#: of the test matrix by tests/test_migrate.py): imported directly, without a fallback
EVERY_RELEASE = frozenset(
    (
        "torchvision.transforms.Resize",
        "torchvision.transforms.RandomResizedCrop",
        "torchvision.transforms.transforms.Resize",
        "torchvision.transforms.transforms.RandomResizedCrop",
        "torchvision.transforms.functional.resize",
        "torchvision.models.detection.backbone_utils.resnet_fpn_backbone",
        "torchvision.models.detection.backbone_utils.mobilenet_backbone",
        "torchvision.models._utils.IntermediateLayerGetter",
        "torchvision.models.segmentation.deeplabv3.DeepLabHead",
        "torchvision.models.segmentation.fcn.FCNHead",
    )
)


@dataclass(frozen=True)
class Home:
    """Where ``old`` (``module.name``) is found on every torchvision: ``module.name``, or,
    with ``fallback``, there where it exists and ``old`` itself before."""

    old: str
    removed_in: str
    module: str
    name: str
    fallback: bool = False

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def message(self) -> str:
        text = f"{self.old} (removed in {self.removed_in}) -> {self.qualname}"
        if self.fallback:
            text += f", or {self.old} itself where {self.qualname} does not exist yet"
        return text


#: a home, or why there is none
Found = Union[Home, str]


def removed_entry(module: str) -> _removed.RemovedModule | None:
    """The :data:`tvcompat._removed.MODULES` row of the module path ``module``, or ``None``."""
    return _removed.find_module(module)


def _row(module: str, name: str) -> _removed.RemovedName | None:
    return _removed.find_name(module, name)


def _stable(qualname: str) -> bool:
    return not qualname.startswith("torchvision.") or qualname in EVERY_RELEASE


@functools.cache
def legacy_names() -> frozenset[str]:
    """The stand-ins without a replacement that ``tvcompat.legacy`` serves by name (those
    whose name no other such row has)."""
    rows = [
        r.name
        for r in _removed.NAMES
        if r.served == _removed.STANDIN and r.replacement_module is None
    ]
    return frozenset(n for n in rows if rows.count(n) == 1)


@functools.cache
def name_home(module: str, name: str) -> Found | None:
    """The home of ``module.name`` where the table lists it as removed (a row of
    :data:`tvcompat._removed.NAMES`), why it has none, or ``None`` (not a removed name)."""
    row = _row(module, name)
    if row is None:
        return None
    old, removed_in = row.qualname, row.removed_in
    seen = {row.qualname}
    while row.replacement_module is not None and row.replacement_name is not None:
        new = _row(row.replacement_module, row.replacement_name)
        if new is None or new.qualname in seen:  # a name that is not itself removed
            qualname = f"{row.replacement_module}.{row.replacement_name}"
            home = Home(old, removed_in, row.replacement_module, row.replacement_name)
            return home if _stable(qualname) else replace(home, fallback=True)
        seen.add(new.qualname)
        row = new
    if row.served == _removed.STANDIN and row.name in legacy_names():
        return Home(old, removed_in, LEGACY, row.name)
    doc = f" {row.doc}" if row.doc else ""
    return f"{old} was removed in torchvision {removed_in} and has no replacement.{doc}"


@functools.cache
def whole_module_home(entry: _removed.RemovedModule) -> str | None:
    """For a module tvcompat builds a stand-in of (no replacement): the one module that holds
    every name the table lists for it, on every release (``torchvision.models.utils`` ->
    ``torch.hub``), else ``None``."""
    if entry.replacement is not None:
        return None
    homes = [name_home(r.module, r.name) for r in _removed.names_in(entry.module)]
    found = [h for h in homes if isinstance(h, Home) and not h.fallback]
    modules = {h.module for h in found}
    if not homes or len(found) != len(homes) or len(modules) != 1:
        return None
    if any(h.name != h.old.rpartition(".")[2] for h in found):
        return None  # a renamed name: the module would lack the old one
    return modules.pop()


def _in_models(module: str) -> bool:
    return module == "torchvision.models" or module.startswith("torchvision.models.")


def new_api_home(module: str, name: str) -> str | None:
    """tvcompat's module serving ``module.name`` on every torchvision, where that is a
    new-API name (a weights enum anywhere under ``torchvision.models``, or a registry
    function of ``torchvision.models``); else ``None``."""
    if not _in_models(module):
        return None
    info = _catalog.enum(name)
    if info is not None:
        return SHIM_PACKAGES[info["family"]]
    if name in REGISTRY_NAMES and module in API_MODULES:
        return "tvcompat"
    return None
