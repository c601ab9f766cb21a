"""The call rewrite: legacy builder calls to explicit weights (:class:`_Migrator`), and
:func:`migrate_source`."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodContext

from tvcompat import _catalog
from tvcompat._catalog import BuilderRecord
from tvcompat._migrate.imports import _ImportRewriter
from tvcompat._migrate.results import Finding
from tvcompat._migrate.tables import NATIVE_PACKAGES, SHIM_PACKAGES, builder_key_for, check_target
from tvcompat._migrate.values import (
    NONLITERAL,
    LiteralValue,
    _Bound,
    _compact,
    _ifexp,
    _keyword_arg,
    _legacy_slots,
    _literal,
    _none,
    _NonLiteral,
    _Skip,
)
from tvcompat._models.resolve import _legacy_entry
from tvcompat._versions import torchvision_version
from tvcompat._weights import Entry

__all__ = ["migrate_source"]

#: the new API's arguments (torchvision >= 0.13)
_NEW_API = frozenset(("weights", "weights_backbone"))


class _Migrator(_ImportRewriter):
    DESCRIPTION = "Rewrite legacy torchvision builder calls to explicit weights."

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

    def _bind(self, info: BuilderRecord, args: Sequence[cst.Arg]) -> dict[str, _Bound]:
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
            if self.target == "shim" and _NEW_API.intersection(bound):
                # weights=/weights_backbone= need torchvision >= 0.13; tvcompat's builder
                # takes them on every release
                return self._shim_builder(info, original, updated)
            return None
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
            new = self._shim_builder(info, original, new)
        return new

    def _shim_builder(self, info: BuilderRecord, original: cst.Call, new: cst.Call) -> cst.Call:
        """``new`` calling tvcompat's builder (and the import it needs)."""
        family = info["family"]
        package = SHIM_PACKAGES[family]
        self.add_needed_import(package if family == "backbone_utils" else "tvcompat")
        self._drop_import_of(original.func)
        return new.with_changes(func=cst.parse_expression(f"{package}.{info['name']}"))

    def _check_conflicts(
        self, key: str, info: BuilderRecord, bound: dict[str, _Bound], slots: dict[str, _Bound]
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

    def _entry(self, key: str, form: str, info: BuilderRecord, what: str) -> Entry:
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
        info: BuilderRecord,
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
