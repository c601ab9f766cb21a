"""``tvcompat migrate``: rewrite legacy torchvision builder calls in source code.

Legacy calls (``resnet50(pretrained=True)``, ``fasterrcnn_resnet50_fpn(True, True)``,
``pretrained=args.pretrained``, ``pretrained_backbone=...``, quantized builders with
``quantize=``, ``weights=True``) become explicit weights:

* ``shim``: tvcompat's builders and enums, ``tvcompat.resnet50(weights=
  tvcompat.ResNet50_Weights.IMAGENET1K_V1)``, which behave the same on every torchvision;
* ``native``: torchvision's own enums, ``resnet50(weights=ResNet50_Weights.IMAGENET1K_V1)``,
  for the installed torchvision (>= 0.13).

The weights are those the legacy call loaded (tvcompat's catalog, read from every torchvision
release), so behaviour is unchanged. Positional arguments are mapped with each builder's
legacy signature; non-literal values become conditional expressions; calls that cannot be
rewritten faithfully are reported and left alone. Formatting and comments are kept (libcst),
a second run changes nothing, and files are replaced atomically.

Needs the optional package libcst (``pip install 'tvcompat[migrate]'``); tvcompat imports
this module only when ``tvcompat migrate`` runs.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import libcst as cst
from libcst.codemod import Codemod, CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import Assignment, PositionProvider, QualifiedNameProvider, ScopeProvider

from tvcompat import _catalog
from tvcompat._catalog import FAMILY_MODULES
from tvcompat._models.resolve import _legacy_entry
from tvcompat._versions import capabilities, torchvision_version
from tvcompat._weights import Entry
from tvcompat.errors import TorchvisionTooOldError

__all__ = [
    "FileResult",
    "Finding",
    "check_target",
    "migrate_file",
    "migrate_source",
    "python_files",
]

TARGETS = ("shim", "native")

#: where each family's enums are imported from with ``--target native`` (0.13+)
NATIVE_PACKAGES = {k: v for k, v in FAMILY_MODULES.items() if k != "backbone_utils"}
#: tvcompat's module of each family
SHIM_PACKAGES = {
    "classification": "tvcompat",
    "detection": "tvcompat.detection",
    "segmentation": "tvcompat.segmentation",
    "video": "tvcompat.video",
    "optical_flow": "tvcompat.optical_flow",
    "quantization": "tvcompat.quantization",
    "backbone_utils": "tvcompat.detection.backbone_utils",
}
_SUBPACKAGES = ("detection", "segmentation", "video", "optical_flow", "quantization")
#: folders never searched
_SKIP_DIRS = {"__pycache__", "site-packages", "node_modules"}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One legacy call (or import) found in a file."""

    line: int
    column: int
    rewritten: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "rewritten": self.rewritten,
            "message": self.message,
        }


@dataclass
class FileResult:
    """What ``migrate`` did (or would do) to one file."""

    path: Path
    before: str = ""
    after: str = ""
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.error is None and self.before != self.after

    def diff(self) -> str:
        name = self.path.as_posix()
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "changed": self.changed,
            "written": self.written,
            "error": self.error,
            "findings": [f.as_dict() for f in self.findings],
        }


# --------------------------------------------------------------------------------------------
# Which builder a call names
# --------------------------------------------------------------------------------------------


def builder_key_for(qualified: str) -> str | None:
    """The catalog key of the torchvision builder named ``qualified``
    (``torchvision.models.resnet50``, ``torchvision.models.mobilenetv2.mobilenet_v2``,
    ``torchvision.models.detection.faster_rcnn.fasterrcnn_resnet50_fpn``...), or ``None``."""
    parts = qualified.split(".")
    if parts[:2] != ["torchvision", "models"] or len(parts) < 3:
        return None
    name, modules = parts[-1], parts[2:-1]
    family = "classification"
    if modules and modules[0] in _SUBPACKAGES:
        family, modules = modules[0], modules[1:]
        if family == "detection" and modules[:1] == ["backbone_utils"]:
            family, modules = "backbone_utils", modules[1:]
    if len(modules) > 1 or (modules and modules[0] in ("_api", "_utils")):
        return None
    key = name if family == "classification" else f"{family}.{name}"
    info = _catalog.builder(key)
    return key if info is not None else None


# --------------------------------------------------------------------------------------------
# Argument values
# --------------------------------------------------------------------------------------------


class _NonLiteral:
    """Marker: the value is only known at run time."""


NONLITERAL = _NonLiteral()
LiteralValue = Union[bool, int, str, None, _NonLiteral]


def _literal(node: cst.BaseExpression) -> LiteralValue:
    """The value of a literal True/False/None/0/1/string, else :data:`NONLITERAL`."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer) and node.value in ("0", "1"):
        return int(node.value)
    if isinstance(node, cst.SimpleString) and not node.prefix.lower().strip("ru"):
        value = node.evaluated_value
        return value if isinstance(value, str) else NONLITERAL
    return NONLITERAL


def _is_legacy_weights_value(value: LiteralValue) -> bool:
    """A ``weights=`` value torchvision treats as the legacy argument (bool, 0/1, "legacy")."""
    return isinstance(value, (bool, int)) or value == "legacy"


_WEIGHTS_LIKE = re.compile(r"weight", re.IGNORECASE)


def _looks_like_weights(node: cst.BaseExpression) -> bool:
    """A positional value whose spelling says it is a weights enum, not a flag."""
    if isinstance(node, (cst.Name, cst.Attribute)):
        return bool(_WEIGHTS_LIKE.search(cst.Module([]).code_for_node(node)))
    return False


def _parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` parenthesised where it would otherwise bind wrongly inside ``a if node else b``."""
    if isinstance(node, (cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield)) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _ifexp(
    test: cst.BaseExpression, body: cst.BaseExpression, orelse: cst.BaseExpression
) -> cst.IfExp:
    return cst.IfExp(test=_parens(test), body=_parens(body), orelse=orelse)


def _none() -> cst.Name:
    return cst.Name("None")


def _code(node: cst.CSTNode) -> str:
    return " ".join(cst.Module([]).code_for_node(node).split())


def _compact(call: cst.Call, limit: int = 200) -> str:
    """``func(a, k=v)`` on one line, without the call's comments and layout."""
    args = []
    for arg in call.args:
        prefix = arg.star + (f"{arg.keyword.value}=" if arg.keyword is not None else "")
        args.append(prefix + _code(arg.value))
    text = f"{_code(call.func)}({', '.join(args)})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Skip(Exception):
    """This call cannot be rewritten faithfully; the message says why."""


# --------------------------------------------------------------------------------------------
# The transformer
# --------------------------------------------------------------------------------------------


@dataclass
class _Bound:
    """One argument of the call, after mapping positionals to the legacy signature."""

    index: int
    name: str | None  # None: **kwargs
    value: cst.BaseExpression
    positional: bool


class _Migrator(VisitorBasedCodemodCommand):
    DESCRIPTION = "Rewrite legacy torchvision builder calls to explicit weights."
    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider, ScopeProvider)

    def __init__(self, context: CodemodContext, target: str) -> None:
        super().__init__(context)
        self.target = target
        self.findings: list[Finding] = []

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """The rewrite, then the imports it needs, then the imports it left unused.

        libcst's RemoveImportsVisitor keys whole-module imports by module name, so ``import
        torchvision.models`` and ``import torchvision.models as tvm`` scheduled together would
        shadow each other: they go to separate passes.
        """
        new = Codemod.transform_module(self, tree)
        if AddImportsVisitor.CONTEXT_KEY in self.context.scratch:
            new = AddImportsVisitor(self.context).transform_module(new)
        removals = self.context.scratch.pop(RemoveImportsVisitor.CONTEXT_KEY, [])
        groups: list[list[tuple[str, str | None, str | None]]] = []
        for item in dict.fromkeys(removals):
            for group in groups:  # whole-module imports of one module need separate passes
                if item[1] is not None or all(g[0] != item[0] or g[1] is not None for g in group):
                    group.append(item)
                    break
            else:
                groups.append([item])
        for group in groups:
            new = RemoveImportsVisitor(CodemodContext(), group).transform_module(new)
        return _keep_header_spacing(tree, new)

    # -- reporting ----------------------------------------------------------------------------

    def _report(self, node: cst.CSTNode, rewritten: bool, message: str) -> None:
        pos = self.get_metadata(PositionProvider, node).start
        self.findings.append(Finding(pos.line, pos.column + 1, rewritten, message))

    def _qualified(self, node: cst.CSTNode) -> set[str]:
        names = self.get_metadata(QualifiedNameProvider, node, set())
        return {q.name for q in names}

    # -- imports that later releases removed ----------------------------------------------------

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if updated_node.relative or updated_node.module is None:
            return updated_node
        module = cst.Module([]).code_for_node(updated_node.module)
        if isinstance(updated_node.names, cst.ImportStar):
            return updated_node
        names = [a.evaluated_name for a in updated_node.names]
        if module == "torchvision.models.utils":
            if names == ["load_state_dict_from_url"]:
                self._report(
                    original_node, True, "torchvision.models.utils (removed in 0.11) -> torch.hub"
                )
                return updated_node.with_changes(module=cst.parse_expression("torch.hub"))
            self._report(
                original_node,
                False,
                "torchvision.models.utils was removed in "
                "torchvision 0.11: import load_state_dict_from_url from torch.hub",
            )
            return updated_node
        if module.startswith("torchvision.models.") and (
            "model_urls" in names or "quant_model_urls" in names
        ):
            if self.target == "native" or any(
                n not in ("model_urls", "quant_model_urls") for n in names
            ):
                self._report(
                    original_node,
                    False,
                    f"{module}.model_urls was removed in torchvision 0.15 (video's "
                    "is deprecated): use the weights enums' .url, or --target shim "
                    "for tvcompat.legacy.model_urls",
                )
                return updated_node
            self._report(
                original_node,
                True,
                f"{module} model URL tables (removed in 0.15) -> tvcompat.legacy",
            )
            return updated_node.with_changes(module=cst.parse_expression("tvcompat.legacy"))
        return updated_node

    # -- calls --------------------------------------------------------------------------------

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        keys = {builder_key_for(q) for q in self._qualified(original_node.func)}
        if not keys or keys == {None}:
            self._check_dynamic(original_node)
            return updated_node
        if len(keys) != 1 or None in keys:
            if self._legacy_keywords(original_node):
                self._report(
                    original_node,
                    False,
                    "the called name may be several things "
                    "(conditional imports): rewrite it by hand",
                )
            return updated_node
        key = next(iter(keys))
        assert key is not None
        try:
            new = self._rewrite(key, original_node, updated_node)
        except _Skip as skip:
            self._report(original_node, False, f"{_compact(original_node)}: {skip}")
            return updated_node
        if new is None:
            return updated_node
        self._report(original_node, True, f"{_compact(original_node)} -> {_compact(new)}")
        return new

    @staticmethod
    def _legacy_keywords(node: cst.Call) -> bool:
        return any(
            a.keyword is not None and a.keyword.value in ("pretrained", "pretrained_backbone")
            for a in node.args
        )

    def _check_dynamic(self, node: cst.Call) -> None:
        """``models.__dict__[name](pretrained=...)`` / ``getattr(models, name)(...)``."""
        if not self._legacy_keywords(node):
            return
        func = node.func
        target: cst.BaseExpression | None = None
        if (
            isinstance(func, cst.Subscript)
            and isinstance(func.value, cst.Attribute)
            and (func.value.attr.value == "__dict__")
        ):
            target = func.value.value
        elif (
            isinstance(func, cst.Call)
            and isinstance(func.func, cst.Name)
            and func.func.value == "getattr"
            and func.args
        ):
            target = func.args[0].value
        if target is None:
            return
        if any(
            q == "torchvision.models" or q.startswith("torchvision.models.")
            for q in self._qualified(target)
        ):
            self._report(
                node,
                False,
                f"{_compact(node)}: the builder is looked up at run "
                "time; use tvcompat.get_model(name, pretrained=...), which takes "
                "legacy arguments on every torchvision, or name the weights",
            )

    def _bind(self, info: dict[str, Any], args: Sequence[cst.Arg]) -> dict[str, _Bound]:
        positional_names: list[str] = info["positional"]
        bound: dict[str, _Bound] = {}
        n_pos = 0
        for i, arg in enumerate(args):
            if arg.star == "*":
                raise _Skip("*args may carry legacy positional flags: check by hand")
            if arg.star == "**":
                continue
            if arg.keyword is None:
                if n_pos >= len(positional_names):
                    raise _Skip(
                        f"{info['name']} takes at most {len(positional_names)} positional arguments"
                    )
                name = positional_names[n_pos]
                n_pos += 1
                positional = True
            else:
                name = arg.keyword.value
                positional = False
            if name in bound:
                raise _Skip(f"{name} is given twice")
            bound[name] = _Bound(i, name, arg.value, positional)
        return bound

    def _rewrite(self, key: str, original: cst.Call, updated: cst.Call) -> cst.Call | None:
        info = _catalog.builder(key)
        assert info is not None
        bound = self._bind(info, updated.args)
        slots = _legacy_slots(bound)
        if not slots:
            return None
        family = info["family"]
        self._check_conflicts(key, info, bound, slots)
        if "pretrained_backbone" in slots and "weights_backbone" not in info["weights_params"]:
            raise _Skip(
                f"{info['name']} takes no pretrained_backbone (torchvision raises TypeError)"
            )
        new_values: dict[str, cst.BaseExpression] = {}
        p_value: LiteralValue = False
        if "pretrained" in slots:
            p_node = slots["pretrained"].value
            p_value = _literal(p_node)
            new_values["weights"] = self._weights_value(key, info, bound, p_node, p_value)
        if "pretrained_backbone" in slots:
            b_node = slots["pretrained_backbone"].value
            if not isinstance(p_value, _NonLiteral) and p_value:
                # torchvision ignores the backbone weights when the full weights are loaded
                new_values["weights_backbone"] = _none()
            else:
                new_values["weights_backbone"] = self._backbone_value(key, b_node)
        args: list[cst.Arg] = []
        renamed = {
            id(b.value): "weights" if legacy == "pretrained" else "weights_backbone"
            for legacy, b in slots.items()
        }
        for arg in updated.args:
            param = renamed.get(id(arg.value))
            if param is not None:
                args.append(_keyword_arg(arg, param, new_values[param]))
            elif arg.keyword is None and not arg.star:
                b = next(x for x in bound.values() if x.value is arg.value)
                assert b.name is not None
                args.append(_keyword_arg(arg, b.name, arg.value))
            else:
                args.append(arg)
        new = updated.with_changes(args=args)
        if self.target == "shim":
            package = SHIM_PACKAGES[family]
            self.add_needed_import(package if family == "backbone_utils" else "tvcompat")
            self._drop_import_of(original.func)
            new = new.with_changes(func=cst.parse_expression(f"{package}.{info['name']}"))
        return new

    def _check_conflicts(
        self, key: str, info: dict[str, Any], bound: dict[str, _Bound], slots: dict[str, _Bound]
    ) -> None:
        """Calls whose other arguments contradict the weights: torchvision >= 0.13 raises."""
        p_arg = slots.get("pretrained")
        if p_arg is None:
            return
        value = _literal(p_arg.value)
        if not isinstance(value, _NonLiteral) and not value:
            return
        entry = _legacy_entry(key, "pretrained=True")
        classes = bound.get("num_classes")
        wanted = None
        if classes is not None and isinstance(classes.value, cst.Integer):
            wanted = int(classes.value.value, 0)
        have = entry.num_categories if entry is not None else None
        if wanted is not None and have is not None and wanted != have:
            raise _Skip(
                f"num_classes={wanted} contradicts the pretrained weights ({have} "
                "classes): torchvision fails on every version. Load the weights with "
                "the original head, then replace the final layer"
            )
        if self.target != "native":
            return  # tvcompat's builders keep torchvision <= 0.12's behaviour for these
        name = info["name"]
        aux = bound.get("aux_logits")
        if (
            name in ("inception_v3", "googlenet")
            and aux is not None
            and (_literal(aux.value) is False)
        ):
            raise _Skip(
                "aux_logits=False with pretrained weights raises ValueError on "
                "torchvision >= 0.13 (<= 0.12 dropped the auxiliary head): use "
                "--target shim, whose builder still does that, or remove aux_logits="
                "False and set model.aux_logits = False; model.AuxLogits = None"
            )
        aux = bound.get("aux_loss")
        if info["family"] == "segmentation" and aux is not None and _literal(aux.value) is False:
            raise _Skip(
                "aux_loss=False with pretrained weights raises ValueError on "
                "torchvision >= 0.13 (<= 0.12 turned it on): use --target shim, or "
                "remove aux_loss=False"
            )

    def _drop_import_of(self, func: cst.BaseExpression) -> None:
        """Schedule the import that binds ``func``'s name for removal (done only if nothing
        else uses it). libcst's ``remove_unused_import_by_node`` does the same, slower."""
        full = get_full_name_for_node(func)
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if full is None or not isinstance(root, cst.Name):
            return
        try:
            scope = self.get_metadata(ScopeProvider, func)
        except KeyError:  # pragma: no cover - every expression has a scope
            return
        while scope is not None:
            for assignment in scope.assignments[root.value]:
                node = assignment.node if isinstance(assignment, Assignment) else None
                if isinstance(node, cst.Import):
                    for alias in node.names:
                        prefix = alias.evaluated_alias or alias.evaluated_name
                        if full == prefix or full.startswith(prefix + "."):
                            self.remove_unused_import(
                                alias.evaluated_name, asname=alias.evaluated_alias
                            )
                elif (
                    isinstance(node, cst.ImportFrom)
                    and not node.relative
                    and node.module is not None
                    and not isinstance(node.names, cst.ImportStar)
                ):
                    module = _code(node.module)
                    for alias in node.names:
                        prefix = alias.evaluated_alias or alias.evaluated_name
                        if full == prefix or full.startswith(prefix + "."):
                            self.remove_unused_import(
                                module, alias.evaluated_name, alias.evaluated_alias
                            )
            if scope is scope.parent:
                break
            scope = scope.parent

    # -- values -------------------------------------------------------------------------------

    def _ref(self, entry: Entry) -> cst.BaseExpression:
        """An expression naming ``entry`` for the target (and the import it needs)."""
        einfo = _catalog.enum(entry.enum)
        assert einfo is not None
        family = einfo["family"]
        if self.target == "shim":
            self.add_needed_import("tvcompat")
            return cst.parse_expression(f"{SHIM_PACKAGES[family]}.{entry.enum}.{entry.member}")
        member = einfo["members"][entry.member]
        if not (_catalog.is_available(einfo["added"]) and _catalog.is_available(member["added"])):
            added = max(einfo["added"], member["added"], key=_catalog.start_version)
            raise _Skip(
                f"{entry} needs torchvision >= {added} (installed: "
                f"{torchvision_version()}); use --target shim, or upgrade"
            )
        self.add_needed_import(NATIVE_PACKAGES[family], entry.enum)
        return cst.parse_expression(f"{entry.enum}.{entry.member}")

    def _entry(self, key: str, form: str, info: dict[str, Any], what: str) -> Entry:
        entry = _legacy_entry(key, form)
        if entry is None:
            enums = info.get("enums", {}).get("weights") or []
            hint = ""
            if enums:
                einfo = _catalog.enum(enums[0])
                if einfo is not None and einfo["default"]:
                    hint = (
                        f"; name the weights instead, e.g. weights={enums[0]}."
                        f"{einfo['default']} (`tvcompat weights {info['name']}` lists them)"
                    )
            raise _Skip(
                f"{info['name']} has no legacy pretrained weights ({what} raises on "
                f"every torchvision){hint}"
            )
        return entry

    def _weights_value(
        self,
        key: str,
        info: dict[str, Any],
        bound: dict[str, _Bound],
        node: cst.BaseExpression,
        value: LiteralValue,
    ) -> cst.BaseExpression:
        if not isinstance(value, _NonLiteral) and not value:
            return _none()
        family = info["family"]
        what = "pretrained=True"
        if family == "backbone_utils":
            name_arg = bound.get("backbone_name")
            backbone = _literal(name_arg.value) if name_arg else NONLITERAL
            if not isinstance(backbone, str):
                raise _Skip(
                    "backbone_name is not a string literal, so the weights are only "
                    "known at run time"
                )
            form = f"backbone_name={backbone}"
            if form not in info["legacy"]:
                raise _Skip(f"{info['name']} has no pretrained weights for {backbone!r}")
            body = self._ref(self._entry(key, form, info, what))
        elif family == "quantization":
            q_arg = bound.get("quantize")
            quantize = _literal(q_arg.value) if q_arg else False
            plain = "pretrained=True"
            quant = "pretrained=True,quantize=True"
            if isinstance(quantize, _NonLiteral):
                assert q_arg is not None
                body = _ifexp(
                    q_arg.value,
                    self._ref(self._entry(key, quant, info, what)),
                    self._ref(self._entry(key, plain, info, what)),
                )
            else:
                body = self._ref(self._entry(key, quant if quantize else plain, info, what))
        elif "pretrained=legacy" in info["legacy"]:
            current = self._ref(self._entry(key, "pretrained=True", info, what))
            legacy = self._ref(self._entry(key, "pretrained=legacy", info, what))
            if value == "legacy":
                return legacy
            if isinstance(value, _NonLiteral):
                if not isinstance(node, (cst.Name, cst.Attribute)):
                    raise _Skip(
                        "the value may be 'legacy' (COCO_LEGACY) or a flag; assign it "
                        "to a name first"
                    )
                test = cst.Comparison(
                    node, [cst.ComparisonTarget(cst.Equal(), cst.SimpleString('"legacy"'))]
                )
                return _ifexp(
                    test,
                    legacy,
                    _ifexp(node, current, _none()).with_changes(
                        lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
                    ),
                )
            body = current
        else:
            body = self._ref(self._entry(key, "pretrained=True", info, what))
        if isinstance(value, _NonLiteral):
            return _ifexp(node, body, _none())
        return body

    def _backbone_value(self, key: str, node: cst.BaseExpression) -> cst.BaseExpression:
        value = _literal(node)
        if not isinstance(value, _NonLiteral) and not value:
            return _none()
        entry = _legacy_entry(key, "pretrained_backbone=True")
        if entry is None:
            raise _Skip("no legacy backbone weights for this model")
        ref = self._ref(entry)
        return _ifexp(node, ref, _none()) if isinstance(value, _NonLiteral) else ref


def _code_start(module: cst.Module) -> int:
    """Index of the first statement after the module docstring."""
    body = module.body
    if (
        body
        and isinstance(body[0], cst.SimpleStatementLine)
        and body[0].body
        and isinstance(body[0].body[0], cst.Expr)
        and isinstance(body[0].body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        return 1
    return 0


def _keep_header_spacing(before: cst.Module, after: cst.Module) -> cst.Module:
    """Keep the blank lines after the docstring when the import below it was replaced."""
    i, j = _code_start(before), _code_start(after)
    if i >= len(before.body) or j >= len(after.body):
        return after
    old, new = before.body[i], after.body[j]
    if old.deep_equals(new) or new.leading_lines or not old.leading_lines:
        return after
    body = list(after.body)
    body[j] = new.with_changes(leading_lines=old.leading_lines)
    return after.with_changes(body=body)


def _legacy_slots(bound: dict[str, _Bound]) -> dict[str, _Bound]:
    """``{"pretrained": ..., "pretrained_backbone": ...}``: the arguments that use the legacy
    interface (under their legacy or their new name)."""
    slots: dict[str, _Bound] = {}
    for legacy, new in (("pretrained", "weights"), ("pretrained_backbone", "weights_backbone")):
        old_arg, new_arg = bound.get(legacy), bound.get(new)
        if old_arg is not None and new_arg is not None:
            raise _Skip(
                f"both {legacy} and {new} are given (torchvision raises TypeError): keep only {new}"
            )
        if old_arg is not None:
            if old_arg.positional and _looks_like_weights(old_arg.value):
                continue  # a weights enum passed positionally: only made a keyword
            slots[legacy] = old_arg
        elif new_arg is not None and _is_legacy_weights_value(_literal(new_arg.value)):
            slots[legacy] = new_arg
    return slots


def _keyword_arg(arg: cst.Arg, name: str, value: cst.BaseExpression) -> cst.Arg:
    equal = (
        arg.equal
        if arg.keyword is not None
        else cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        )
    )
    return arg.with_changes(keyword=cst.Name(name), equal=equal, value=value)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def check_target(target: str) -> None:
    """Refuse a target the installed torchvision cannot serve (``native`` before 0.13)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    if target == "native" and not capabilities().weights_api:
        raise TorchvisionTooOldError(
            f"--target native rewrites to torchvision's weights= enums, which torchvision "
            f"{torchvision_version()} does not have (they arrived in 0.13). Use --target shim "
            "(tvcompat's builders and enums, which work on every torchvision), or upgrade "
            "torchvision to >= 0.13 first."
        )


def migrate_source(source: str | bytes, target: str = "shim") -> tuple[str, list[Finding]]:
    """Rewrite ``source``; return the new source and what was found. Raises
    :class:`libcst.ParserSyntaxError` for code that does not parse."""
    check_target(target)
    module = cst.parse_module(source)
    if "torchvision" not in module.code:
        return module.code, []
    migrator = _Migrator(CodemodContext(), target)
    new = migrator.transform_module(module)
    findings = sorted(migrator.findings, key=lambda f: (f.line, f.column))
    return new.code, findings


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` via a temporary file in the same folder: readers see the
    old or the new file, never a part of it; on any failure the old one stays."""
    real = Path(os.path.realpath(path))
    mode = stat.S_IMODE(real.stat().st_mode)
    fd, temp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tvcompat-tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, real)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def migrate_file(path: Path, *, target: str = "shim", write: bool = False) -> FileResult:
    """Migrate one file (``write``: replace it when anything changes)."""
    result = FileResult(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result
    if b"torchvision" not in data:
        module = None
    else:
        try:
            module = cst.parse_module(data)
        except cst.ParserSyntaxError as exc:
            result.error = f"cannot parse: {exc.message} (line {exc.raw_line})"
            return result
    if module is None:
        text = data.decode("utf-8", errors="replace")
        result.before = result.after = text
        return result
    result.before = module.code
    migrator = _Migrator(CodemodContext(filename=str(path)), target)
    new = migrator.transform_module(module)
    result.after = new.code
    result.findings = sorted(migrator.findings, key=lambda f: (f.line, f.column))
    if write and result.changed:
        try:
            _write_atomically(path, new.bytes)
        except OSError as exc:
            result.error = f"cannot write: {exc.strerror or exc}"
            return result
        result.written = True
    return result


def python_files(paths: Iterable[Path]) -> list[Path]:
    """The files to migrate: files as given, folders searched for ``*.py`` (hidden folders,
    ``__pycache__`` and ``site-packages`` skipped)."""
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
                out += [Path(root) / f for f in sorted(files) if f.endswith(".py")]
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return out
