"""``tvcompat migrate``: rewrite legacy torchvision builder calls in source code.

Legacy calls (``resnet50(pretrained=True)``, ``fasterrcnn_resnet50_fpn(True, True)``,
``pretrained=args.pretrained``, ``pretrained_backbone=...``, quantized builders with
``quantize=``, ``weights=True``) become explicit weights:

* ``shim``: tvcompat's builders and enums, ``tvcompat.resnet50(weights=
  tvcompat.ResNet50_Weights.IMAGENET1K_V1)``, which behave the same on every torchvision;
* ``native``: torchvision's own enums, ``resnet50(weights=ResNet50_Weights.IMAGENET1K_V1)``,
  for the installed torchvision (>= 0.13).

Imports of names that moved are rewritten too: what later releases removed (the table
:mod:`tvcompat._removed`, the one ``tvcompat.install()`` serves) goes to a home that every
torchvision 0.10+ has, and with ``--target shim`` the new-API names (weights enums,
``get_model`` & co, builders given ``weights=``) go to tvcompat, which has them on every release.

The weights are those the legacy call loaded (tvcompat's catalog, read from every torchvision
release), so behaviour is unchanged. Positional arguments are mapped with each builder's
legacy signature; non-literal values become conditional expressions; calls that cannot be
rewritten faithfully are reported and left alone. Formatting and comments are kept (libcst),
a second run changes nothing, and files are replaced atomically.

Needs the optional package libcst (``pip install 'tvcompat[migrate]'``); tvcompat imports
this package only when ``tvcompat migrate`` runs.

The modules: :mod:`~tvcompat._migrate.tables` (targets, each family's modules, which builder
a name calls), :mod:`~tvcompat._migrate.values` (argument values and the CST built from them),
:mod:`~tvcompat._migrate.homes` (where a moved name lives on every torchvision),
:mod:`~tvcompat._migrate.moves` (import statements rewritten name by name),
:mod:`~tvcompat._migrate.imports` (the codemod's base: findings and imports),
:mod:`~tvcompat._migrate.codemod` (the call rewrite), :mod:`~tvcompat._migrate.prepass` (the
statements the libcst passes need to see), :mod:`~tvcompat._migrate.passes` (the passes over a
module), :mod:`~tvcompat._migrate.files` (files and folders), :mod:`~tvcompat._migrate.results`
(what was found and done).
"""

from __future__ import annotations

# Imported first so that a missing libcst fails this import with ``ImportError(name="libcst")``
# (which ``tvcompat migrate`` turns into its install hint) even when the submodules below are
# already imported.
import libcst  # noqa: F401

from tvcompat._migrate.codemod import migrate_source
from tvcompat._migrate.files import migrate_file, python_files
from tvcompat._migrate.results import FileResult, Finding
from tvcompat._migrate.tables import NATIVE_PACKAGES as NATIVE_PACKAGES
from tvcompat._migrate.tables import SHIM_PACKAGES as SHIM_PACKAGES
from tvcompat._migrate.tables import TARGETS as TARGETS
from tvcompat._migrate.tables import builder_key_for as builder_key_for
from tvcompat._migrate.tables import check_target
from tvcompat._migrate.values import NONLITERAL as NONLITERAL
from tvcompat._migrate.values import LiteralValue as LiteralValue

__all__ = [
    "FileResult",
    "Finding",
    "check_target",
    "migrate_file",
    "migrate_source",
    "python_files",
]
