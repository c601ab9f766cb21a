"""``tvcompat migrate``: golden before/after files per case, idempotency, equivalence of the
rewritten calls (checked with tvcompat's own resolution), the command's modes and exit codes,
and files that are never left half-written."""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import json
import os
import shutil
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("libcst")

import tvcompat
import tvcompat.legacy
from _intercept import Captured, intercept
from tvcompat import _catalog, _migrate, _removed
from tvcompat._migrate import homes
from tvcompat._models.resolve import builder_key
from tvcompat._models.resolve import resolve as resolve_key
from tvcompat._versions import capabilities, torchvision_version
from tvcompat._weights import enum_class
from tvcompat.cli import main
from tvcompat.errors import BuilderNotAvailableError, TorchvisionTooOldError

GOLDEN = Path(__file__).parent / "golden" / "migrate"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
NATIVE = capabilities().weights_api
INSTALLED = torchvision_version().release[:2]


def golden(case: str, name: str) -> str:
    return (GOLDEN / case / f"{name}.py.txt").read_text("utf-8")


@functools.cache
def migrated(source: str, target: str) -> tuple[str, tuple[_migrate.Finding, ...]]:
    """``migrate_source``, once per source and target in this session."""
    after, findings = _migrate.migrate_source(source, target)
    return after, tuple(findings)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# Golden files
# --------------------------------------------------------------------------------------------


def test_every_case_has_its_goldens() -> None:
    assert len(CASES) >= 10
    for case in CASES:
        for name in ("before", "shim", "native"):
            assert (GOLDEN / case / f"{name}.py.txt").is_file(), (case, name)


@pytest.mark.parametrize("case", CASES)
def test_shim_golden(case: str) -> None:
    after, _ = migrated(golden(case, "before"), "shim")
    assert after == golden(case, "shim")


@pytest.mark.parametrize("case", CASES)
def test_shim_is_idempotent(case: str) -> None:
    once = golden(case, "shim")
    again, findings = migrated(once, "shim")
    assert again == once
    assert all(not f.rewritten for f in findings)


@pytest.mark.skipif(not NATIVE, reason="native needs torchvision >= 0.13")
@pytest.mark.parametrize("case", CASES)
def test_native_golden(case: str) -> None:
    after, _ = migrated(golden(case, "before"), "native")
    assert after == golden(case, "native")
    again, findings = migrated(after, "native")
    assert again == after
    assert all(not f.rewritten for f in findings)


@pytest.mark.skipif(NATIVE, reason="torchvision >= 0.13 has the enums")
def test_native_needs_the_weights_enums() -> None:
    with pytest.raises(TorchvisionTooOldError, match=r"0\.13.*--target shim"):
        _migrate.migrate_source(golden("keyword_flags", "before"), "native")


# lines not rewritten, and a fragment of why, per case (both targets unless noted)
NOT_REWRITTEN: dict[str, dict[int, str]] = {
    "no_legacy_weights": {
        5: "vit_h_14 has no legacy pretrained weights",
        6: "regnet_y_128gf has no legacy pretrained weights",
    },
    "untouched": {
        11: "*args",
        12: "looked up at run time",
        13: "looked up at run time",
        14: "both pretrained and weights",
        15: "num_classes=10 contradicts",
    },
}
NATIVE_NOT_REWRITTEN: dict[str, dict[int, str]] = {
    "native_conflicts": {6: "aux_logits=False", 7: "aux_loss=False"},
    "removed_imports": {4: "model_urls was removed in torchvision 0.15"},
}
SHIM_NOT_REWRITTEN: dict[str, dict[int, str]] = {
    "weights_enum_base": {4: "needs torchvision >= 0.15", 8: "needs torchvision >= 0.15"},
}


@pytest.mark.parametrize("target", ["shim", "native"])
@pytest.mark.parametrize("case", CASES)
def test_findings(case: str, target: str) -> None:
    if target == "native" and not NATIVE:
        pytest.skip("native needs torchvision >= 0.13")
    source = golden(case, "before")
    after, findings = migrated(source, target)
    expected = dict(NOT_REWRITTEN.get(case, {}))
    extra = NATIVE_NOT_REWRITTEN if target == "native" else SHIM_NOT_REWRITTEN
    expected.update(extra.get(case, {}))
    skipped = {f.line: f.message for f in findings if not f.rewritten}
    assert set(skipped) == set(expected)
    for line, fragment in expected.items():
        assert fragment in skipped[line]
    rewritten = [f for f in findings if f.rewritten]
    assert bool(rewritten) == (after != source)
    for f in rewritten:
        assert "->" in f.message
    if case == "no_legacy_weights":
        assert "weights=ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1" in skipped[5]


def test_positional_detection_flags_follow_the_old_signature() -> None:
    after, findings = _migrate.migrate_source(
        "import torchvision\nm = torchvision.models.detection.fasterrcnn_resnet50_fpn(True, True)\n"
    )
    assert "weights=tvcompat.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1, progress=True" in (
        after
    )
    assert "weights_backbone" not in after
    assert findings[0].line == 2


def test_source_without_torchvision_is_returned_as_is() -> None:
    assert _migrate.migrate_source("x = resnet50(pretrained=True)\n") == (
        "x = resnet50(pretrained=True)\n",
        [],
    )


# --------------------------------------------------------------------------------------------
# The rewritten calls load what the legacy calls loaded
# --------------------------------------------------------------------------------------------


class _Namespace:
    """``torchvision.models``/``tvcompat`` stand-in: builders answer with tvcompat.resolve's
    Resolution (nothing is built), enums are tvcompat's."""

    def __init__(self, family: str = "classification") -> None:
        self.family = family

    def __getattr__(self, name: str) -> Any:
        if name == "models":
            return _Namespace()
        if name in ("detection", "segmentation", "video", "optical_flow", "quantization"):
            return _Namespace(name)
        if name == "backbone_utils":
            return _Namespace("backbone_utils")
        if _catalog.enum(name) is not None:
            return enum_class(name)
        key = builder_key(name, self.family)
        assert _catalog.builder(key) is not None, key

        def call(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
            res = resolve_key(key, args, kwargs)
            return res.weights, res.weights_backbone, res.kwargs, res.progress

        return call


EQUIVALENCE: list[tuple[str, dict[str, list[Any]]]] = [
    ("torchvision.models.resnet50(pretrained=True)", {}),
    ("torchvision.models.resnet50(pretrained=False)", {}),
    ("torchvision.models.resnet50(True, False)", {}),
    ("torchvision.models.mobilenet_v2(p)", {"p": [True, False]}),
    ("torchvision.models.efficientnet_b1(pretrained=p, progress=False)", {"p": [True, False]}),
    ("torchvision.models.resnet18(weights=True)", {}),
    ("torchvision.models.detection.fasterrcnn_resnet50_fpn(True, True)", {}),
    ("torchvision.models.detection.fasterrcnn_resnet50_fpn(pretrained=False)", {}),
    (
        "torchvision.models.detection.fasterrcnn_resnet50_fpn(pretrained=p, "
        "pretrained_backbone=b, num_classes=91)",
        {"p": [True, False], "b": [True, False]},
    ),
    ("torchvision.models.detection.maskrcnn_resnet50_fpn(False, True, 5, True)", {}),
    (
        "torchvision.models.detection.keypointrcnn_resnet50_fpn(pretrained=k)",
        {"k": ["legacy", True, False]},
    ),
    (
        "torchvision.models.detection.ssdlite320_mobilenet_v3_large(pretrained=False, "
        "pretrained_backbone=True)",
        {},
    ),
    (
        "torchvision.models.segmentation.deeplabv3_resnet50(pretrained=p, pretrained_backbone=b)",
        {"p": [True, False], "b": [True, False]},
    ),
    (
        "torchvision.models.quantization.resnet50(pretrained=p, quantize=q)",
        {"p": [True, False], "q": [True, False]},
    ),
    ("torchvision.models.quantization.mobilenet_v2(True, True, q)", {"q": [True, False]}),
    ("torchvision.models.video.r3d_18(pretrained=True)", {}),
    ("torchvision.models.detection.backbone_utils.resnet_fpn_backbone('resnet50', True)", {}),
    (
        "torchvision.models.detection.backbone_utils.mobilenet_backbone("
        "'mobilenet_v3_large', p, True)",
        {"p": [True, False]},
    ),
]


def _evaluate(expr: str, env: dict[str, Any]) -> Any:
    namespace = {"torchvision": _Namespace(), "tvcompat": _Namespace(), **env}
    namespace.update({n: _EnumLookup(n) for n in _catalog.enum_names() if n not in env})
    return eval(expr, namespace)  # our own generated test expressions


class _EnumLookup:
    """A bare enum name (``--target native`` imports them), resolved on use."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, member: str) -> Any:
        return getattr(enum_class(self.name), member)


def _rewritten_call(source: str, target: str) -> str:
    after, _ = _migrate.migrate_source(source, target)
    last = after.rstrip("\n").splitlines()[-1]
    assert last.startswith("x = "), after
    return last[len("x = ") :]


@pytest.mark.parametrize("target", ["shim", "native"])
@pytest.mark.parametrize(("expr", "variables"), EQUIVALENCE, ids=[e for e, _ in EQUIVALENCE])
def test_rewritten_calls_load_the_same_weights(
    expr: str, variables: dict[str, list[Any]], target: str
) -> None:
    if target == "native" and not NATIVE:
        pytest.skip("native needs torchvision >= 0.13")
    source = f"import torchvision\nx = {expr}\n"
    new_expr = _rewritten_call(source, target)
    assert "pretrained" not in new_expr
    names = sorted(variables)
    first = dict(zip(names, (variables[n][0] for n in names)))
    try:
        _evaluate(expr, first)
    except BuilderNotAvailableError:
        pytest.skip("the builder is newer than the installed torchvision")
    for values in itertools.product(*(variables[n] for n in names)):
        env = dict(zip(names, values))
        assert _evaluate(new_expr, env) == _evaluate(expr, env), (new_expr, env)


# --------------------------------------------------------------------------------------------
# Names that moved: the shim output runs on the installed torchvision
# --------------------------------------------------------------------------------------------

#: cases whose shim output is run here: every ``check*`` function is called, every ``build*``
#: function builds its model with the weights download intercepted
RUNS = [
    "attribute_access",
    "new_api_imports",
    "registry_api",
    "removed_models_utils",
    "removed_names",
    "removed_transforms",
    "torchmetrics",
    "weights_enum_base",
]
#: the release a case's shim output still needs (the lines it reports)
NEEDS = {"weights_enum_base": (0, 15)}
#: weights files a case's ``build*`` functions must ask for
ASKS_FOR = {"torchmetrics": {"vgg16-397923af.pth"}}


def test_runs_are_cases() -> None:
    assert set(RUNS) <= set(CASES)


@pytest.mark.parametrize("case", RUNS)
def test_shim_output_runs(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needs = NEEDS.get(case, (0, 0))
    if needs > INSTALLED:
        pytest.skip(f"the shim output reports lines that need torchvision >= {needs}")
    namespace: dict[str, Any] = {"__name__": f"golden_{case}"}
    exec(compile(golden(case, "shim"), f"{case}/shim.py", "exec"), namespace)
    functions = {
        n: f for n, f in namespace.items() if n.startswith(("check", "build")) and callable(f)
    }
    assert functions
    files: set[str] = set()
    with intercept(monkeypatch), warnings.catch_warnings():
        # an old name is torchvision's own object where the release has it, with the
        # deprecation warning that release gives (0.12's ConvBNReLU)
        warnings.filterwarnings("ignore", category=FutureWarning, module="torchvision")
        for name, function in sorted(functions.items()):
            if name.startswith("check"):
                function()
                continue
            try:
                model = function()
            except Captured as captured:
                files.add(captured.url.rpartition("/")[2])
            else:
                assert model is not None
    assert files <= set(_catalog.filename_index()), files
    assert ASKS_FOR.get(case, set()) <= files


def test_the_torchmetrics_snippet_needed_the_rewrite() -> None:
    """Before the rewrite it fails on torchvision < 0.13, as torchmetrics 1.9 does."""
    if capabilities().weights_api:
        pytest.skip("torchvision >= 0.13 has VGG16_Weights")
    with pytest.raises(ImportError, match="VGG16_Weights"):
        exec(golden("torchmetrics", "before"), {})


def _quiet_import(name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except ImportError:
            return None


@pytest.mark.parametrize("module", sorted(homes.PUBLIC_TWINS))
def test_public_twins_take_the_same_arguments(module: str) -> None:
    """Each twin takes the removed function's parameters (same names, same order) and passes
    them on unchanged to it (``F_t.name(`` / ``F_pil.name(`` in its source)."""
    twin = homes.PUBLIC_TWINS[module]
    entry = _removed.find_module(module)
    assert entry is not None
    assert entry.replacement is not None
    source = _quiet_import(entry.replacement) or _quiet_import(module)
    public = importlib.import_module(twin.module)
    alias = {"functional_tensor": "F_t", "functional_pil": "F_pil"}[module.rpartition(".")[2]]
    for name in sorted(twin.names):
        old = list(inspect.signature(getattr(source, name)).parameters)
        new = list(inspect.signature(getattr(public, name)).parameters)
        assert new[: len(old)] == old, (name, old, new)
        assert f"{alias}.{name}(" in inspect.getsource(getattr(public, name)), name


@pytest.mark.parametrize("qualname", sorted(homes.EVERY_RELEASE))
def test_every_release_homes_exist(qualname: str) -> None:
    module, _, name = qualname.rpartition(".")
    assert hasattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", sorted(homes.legacy_names()))
def test_legacy_serves_the_stand_ins(name: str) -> None:
    assert getattr(tvcompat.legacy, name) is not None


def _run_import(source: str, target: str) -> tuple[str, dict[str, Any], list[_migrate.Finding]]:
    after, findings = _migrate.migrate_source(source, target)
    namespace: dict[str, Any] = {}
    if after != source:
        exec(after, namespace)
    return after, namespace, findings


@pytest.mark.parametrize("target", ["shim", "native"])
@pytest.mark.parametrize("row", _removed.NAMES, ids=[r.qualname for r in _removed.NAMES])
def test_every_removed_name_is_rewritten_or_reported(row: Any, target: str) -> None:
    """Generic over the table: ``from module import name`` becomes an import that runs here
    (binding the replacement where the installed release has it), or is reported."""
    if target == "native" and not NATIVE:
        pytest.skip("native needs torchvision >= 0.13")
    source = f"from {row.module} import {row.name}\n"
    after, namespace, findings = _run_import(source, target)
    if after == source:
        assert findings
        assert not any(f.rewritten for f in findings)
        return
    assert all(f.rewritten for f in findings)
    value = namespace[row.name]
    home = homes.name_home(row.module, row.name)
    assert isinstance(home, homes.Home)
    if home.module == homes.LEGACY:
        assert value is getattr(tvcompat.legacy, home.name)
    elif (found := _quiet_import(home.module)) is not None and hasattr(found, home.name):
        assert value is getattr(found, home.name)
    assert _migrate.migrate_source(after, target)[0] == after


@pytest.mark.parametrize("target", ["shim", "native"])
@pytest.mark.parametrize("entry", _removed.MODULES, ids=[e.module for e in _removed.MODULES])
def test_every_removed_module_is_rewritten_or_reported(entry: Any, target: str) -> None:
    if target == "native" and not NATIVE:
        pytest.skip("native needs torchvision >= 0.13")
    parent, _, last = entry.module.rpartition(".")
    for source in (f"import {entry.module} as old\n", f"from {parent} import {last} as old\n"):
        after, namespace, findings = _run_import(source, target)
        if after == source:
            assert findings
            assert not any(f.rewritten for f in findings)
            continue
        assert isinstance(namespace["old"], types.ModuleType), after
        assert _migrate.migrate_source(after, target)[0] == after


def test_imports_in_an_except_clause_are_fallbacks_already() -> None:
    source = (
        "try:\n"
        "    from torchvision.transforms.functional_tensor import rgb_to_grayscale\n"
        "except ImportError:\n"
        "    from torchvision.transforms.functional_tensor import rgb_to_grayscale\n"
    )
    after, findings = _migrate.migrate_source(source)
    assert after.splitlines()[1] == (
        "    from torchvision.transforms.functional import rgb_to_grayscale"
    )
    assert after.splitlines()[3] == source.splitlines()[3]
    assert len(findings) == 1


def test_a_removed_module_imported_without_a_name_is_reported_while_needed() -> None:
    source = (
        "import torchvision.transforms.functional_tensor\n"
        "a = torchvision.transforms.functional_tensor.rgb_to_grayscale(img)\n"
        "b = torchvision.transforms.functional_tensor.resize(img, [2, 2])\n"
    )
    after, findings = _migrate.migrate_source(source)
    assert "a = torchvision.transforms.functional.rgb_to_grayscale(img)\n" in after
    assert after.startswith("import torchvision.transforms.functional_tensor\n")
    assert {(f.line, f.rewritten) for f in findings} == {(1, False), (2, True), (3, False)}
    # without the use that has no home, the import goes
    after, findings = _migrate.migrate_source("\n".join(source.splitlines()[:2]) + "\n")
    assert after == (
        "import torchvision.transforms.functional\n\n"
        "a = torchvision.transforms.functional.rgb_to_grayscale(img)\n"
    )
    assert all(f.rewritten for f in findings)


def test_an_import_sharing_its_line_is_reported() -> None:
    source = "import os; from torchvision.transforms.functional_tensor import resize\n"
    after, findings = _migrate.migrate_source(source)
    assert after == source
    assert [f.rewritten for f in findings] == [False]
    assert "on a line of its own" in findings[0].message


def test_a_split_import_keeps_its_comments() -> None:
    source = (
        "# above\n"
        "from torchvision.models import ResNet, ResNet50_Weights  # after\n"
        "x = (ResNet, ResNet50_Weights)\n"
    )
    after, _ = _migrate.migrate_source(source)
    assert after == (
        "# above\n"
        "from torchvision.models import ResNet  # after\n"
        "from tvcompat import ResNet50_Weights\n"
        "x = (ResNet, ResNet50_Weights)\n"
    )


def test_shim_moves_new_api_builder_calls_native_leaves_them() -> None:
    source = "import torchvision\nm = torchvision.models.resnet18(weights=None)\n"
    after, findings = _migrate.migrate_source(source, "shim")
    assert after == "import tvcompat\n\nm = tvcompat.resnet18(weights=None)\n"
    assert [f.rewritten for f in findings] == [True]
    if NATIVE:
        assert _migrate.migrate_source(source, "native") == (source, [])


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Every case's ``before`` file as ``<case>.py`` in a folder, plus things to skip."""
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    for case in CASES:
        (root / "pkg" / f"{case}.py").write_text(golden(case, "before"), "utf-8")
    (root / ".venv").mkdir()
    (root / ".venv" / "skipped.py").write_text(
        "import torchvision\ntorchvision.models.resnet50(pretrained=True)\n"
    )
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "notes.txt").write_text("torchvision.models.resnet50(pretrained=True)")
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_check_reports_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    before = _snapshot(project)
    code, out, err = run(capsys, "migrate", str(project), "--check")
    assert code == 1
    assert _snapshot(project) == before
    assert f"{project / 'pkg' / 'keyword_flags.py'}:6:9: torchvision.models.resnet50(" in out
    assert "not rewritten: models.vit_h_14(pretrained=True)" in err
    assert "skipped.py" not in out + err
    files_checked = len(CASES)
    assert f"{files_checked} files checked" in err


def test_diff_prints_a_patch(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    before = _snapshot(project)
    code, out, _ = run(capsys, "migrate", str(project / "pkg" / "aliases.py"), "--diff")
    assert code == 0
    assert _snapshot(project) == before
    name = (project / "pkg" / "aliases.py").as_posix()
    assert out.startswith(f"--- a/{name}\n+++ b/{name}\n")
    assert "-a = tvm.resnet50(pretrained=True)\n" in out
    assert "+a = tvcompat.resnet50(weights=tvcompat.ResNet50_Weights.IMAGENET1K_V1)\n" in out
    code, default_out, _ = run(capsys, "migrate", str(project / "pkg" / "aliases.py"))
    assert (code, default_out) == (0, out)  # --diff is the default


def test_write_then_check_is_clean(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, out, _ = run(capsys, "migrate", str(project), "--write")
    assert code == 0
    assert "rewrote" not in out  # the summary goes to stderr
    for case in CASES:
        assert (project / "pkg" / f"{case}.py").read_text("utf-8") == golden(case, "shim")
    assert "pretrained=True" in (project / ".venv" / "skipped.py").read_text()
    code, out, _ = run(capsys, "migrate", str(project), "--check")
    assert code == 0
    assert out == ""


@pytest.mark.skipif(not NATIVE, reason="native needs torchvision >= 0.13")
def test_write_native(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    code, _, _ = run(capsys, "migrate", str(project / "pkg"), "--write", "--target", "native")
    assert code == 0
    for case in CASES:
        assert (project / "pkg" / f"{case}.py").read_text("utf-8") == golden(case, "native")


@pytest.mark.skipif(NATIVE, reason="torchvision >= 0.13 has the enums")
def test_native_target_refused_on_old_torchvision(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    before = _snapshot(project)
    code, out, err = run(capsys, "migrate", str(project), "--target", "native", "--write")
    assert code == 2
    assert out == ""
    assert "does not have (they arrived in 0.13). Use --target shim" in err
    assert _snapshot(project) == before


def test_json(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    pkg = project / "pkg"
    code, out, _ = run(
        capsys,
        "migrate",
        str(pkg / "keyword_flags.py"),
        str(pkg / "untouched.py"),
        "--check",
        "--json",
    )
    assert code == 1
    data = json.loads(out)
    assert (data["target"], data["mode"]) == ("shim", "check")
    files = {Path(f["path"]).stem: f for f in data["files"]}
    assert files["keyword_flags"]["changed"] is True
    assert files["keyword_flags"]["written"] is False
    # the shim moves its new-API names and calls to tvcompat (lines 5, 7, 8)
    assert files["untouched"]["changed"] is True
    findings = files["untouched"]["findings"]
    assert {f["line"] for f in findings if not f["rewritten"]} == {11, 12, 13, 14, 15}
    assert {f["line"] for f in findings if f["rewritten"]} == {5, 7, 8}


def test_unparsable_file_is_a_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torchvision\ndef broken(:\n")
    code, _, err = run(capsys, "migrate", str(bad), "--write")
    assert code == 1
    assert f"{bad}: error: cannot parse" in err
    assert bad.read_text() == "import torchvision\ndef broken(:\n"


def test_missing_path_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "migrate", str(tmp_path / "nope.py"))
    assert code == 2
    assert "no such file or folder" in err


def test_missing_libcst_names_the_extra(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "libcst", None)
    monkeypatch.delitem(sys.modules, "tvcompat._migrate")
    monkeypatch.delattr(tvcompat, "_migrate", raising=False)
    code, out, err = run(capsys, "migrate", str(tmp_path))
    assert code == 2
    assert out == ""
    assert "pip install 'tvcompat[migrate]'" in err


# --------------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------------

LEGACY = "import torchvision\nm = torchvision.models.resnet18(pretrained=True)\n"
SHIM = "import tvcompat\n\nm = tvcompat.resnet18(weights=tvcompat.ResNet18_Weights.IMAGENET1K_V1)\n"


def test_a_failed_write_leaves_the_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.py"
    path.write_text(LEGACY)

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    result = _migrate.migrate_file(path, write=True)
    assert result.error == "cannot write: No space left on device"
    assert result.written is False
    assert path.read_text() == LEGACY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_an_interrupted_write_leaves_the_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.py"
    path.write_text(LEGACY)
    real_fsync: Callable[[int], None] = os.fsync

    def interrupted(fd: int) -> None:
        real_fsync(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _migrate.migrate_file(path, write=True)
    assert path.read_text() == LEGACY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_write_keeps_mode_encoding_newlines_and_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    source = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + LEGACY
    real.write_bytes(source.replace("\n", "\r\n").encode("latin-1"))
    real.chmod(0o750)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    result = _migrate.migrate_file(link, write=True)
    assert result.written
    assert link.is_symlink()
    expected = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + SHIM
    assert real.read_bytes() == expected.replace("\n", "\r\n").encode("latin-1")
    assert real.stat().st_mode & 0o777 == 0o750


def test_files_without_changes_are_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "clean.py"
    path.write_text("import torchvision\nm = torchvision.models.resnet18(num_classes=10)\n")
    stamp = path.stat().st_mtime_ns
    result = _migrate.migrate_file(path, write=True)
    assert not result.changed
    assert not result.written
    assert path.stat().st_mtime_ns == stamp


def test_python_files_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / ".hidden").mkdir(parents=True)
    (tmp_path / "a" / "site-packages").mkdir()
    for name in ("a/x.py", "a/.hidden/y.py", "a/site-packages/z.py", "a/readme.md", "b.py"):
        (tmp_path / name).write_text("")
    found = _migrate.python_files([tmp_path / "a", tmp_path / "b.py"])
    assert found == [tmp_path / "a" / "x.py", tmp_path / "b.py"]


def test_the_command_runs_for_real(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "m.py"
    path.write_text(LEGACY)
    proc = subprocess.run(
        [sys.executable, "-m", "tvcompat", "migrate", str(path), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "would rewrite 1 call in 1 file" in proc.stderr
    shutil.copy(path, tmp_path / "copy.py")
    proc = subprocess.run(
        [sys.executable, "-m", "tvcompat", "migrate", str(tmp_path), "--write"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert path.read_text() == SHIM
    assert (tmp_path / "copy.py").read_text() == SHIM


# --------------------------------------------------------------------------------------------
# The pre-pass (speed): it must never skip a rewrite
# --------------------------------------------------------------------------------------------


def _both_ways(source: str | bytes, target: str) -> list[tuple[str, list[_migrate.Finding]]]:
    """The full passes and the pruned ones on ``source``: (output, findings) each."""
    import libcst as cst
    from libcst.codemod import CodemodContext

    from tvcompat._migrate.codemod import _Migrator

    module = cst.parse_module(source)
    out = []
    for prune in (False, True):
        migrator = _Migrator(CodemodContext(), target)
        migrator.prune = prune
        new = migrator.transform_module(module)
        out.append((new.code, sorted(migrator.findings, key=lambda f: (f.line, f.column))))
    return out


def _real_sources() -> list[Path]:
    """Installed sources that use torchvision: torchvision's own modules that import it
    by name, and lpips / torchmetrics where installed (real third-party code)."""
    import importlib.util

    found: list[Path] = []
    for package in ("torchvision", "lpips", "torchmetrics"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for path in sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py")):
            text = path.read_text("utf-8", errors="replace")
            if "import torchvision" in text or "from torchvision" in text:
                found.append(path)
    return found[:40]


PRUNE_TARGETS = ["shim", "native"] if NATIVE else ["shim"]
GOLDEN_INPUTS = [(c, n) for c in CASES for n in ("before", "shim", "native")]


@pytest.mark.parametrize("target", PRUNE_TARGETS)
@pytest.mark.parametrize(
    ("case", "name"), GOLDEN_INPUTS, ids=[f"{c}-{n}" for c, n in GOLDEN_INPUTS]
)
def test_prepass_changes_nothing_on_the_goldens(case: str, name: str, target: str) -> None:
    full, pruned = _both_ways(golden(case, name), target)
    assert pruned == full


def test_prepass_skips_statements_in_the_goldens() -> None:
    """The equality above is worth something: statements really are left out."""
    import libcst as cst

    from tvcompat._migrate import prepass

    skipped = 0
    for case in CASES:
        module = cst.parse_module(golden(case, "before"))
        statements = prepass.Statements()
        words = prepass.candidate_words("".join(statements.texts(module)))
        keep = prepass.keep_test(words)
        assert keep is not None, case
        reduced = prepass.reduce(module, statements, keep, nested=True)
        if reduced is not None:
            skipped += sum(len(run) for run in reduced.originals.values())
            assert prepass.restore(reduced.module, reduced).code == module.code
    assert skipped >= 5


def test_prepass_changes_nothing_on_real_sources() -> None:
    paths = _real_sources()
    assert len(paths) >= 10, paths
    for path in paths:
        full, pruned = _both_ways(path.read_bytes(), "shim")
        assert pruned == full, path


def test_files_the_prepass_skips_are_unchanged_by_the_full_codemod() -> None:
    """Files without the word ``torchvision`` are never parsed: the full passes leave them
    as they are and report nothing."""
    import libcst as cst
    from libcst.codemod import CodemodContext

    from tvcompat._migrate.codemod import _Migrator

    spec_dir = Path(tvcompat.__file__).parent
    paths = [p for p in sorted(spec_dir.rglob("*.py")) if b"torchvision" not in p.read_bytes()]
    paths += [GOLDEN.parent.parent / "test_layers.py"]
    assert len(paths) >= 5
    for path in paths:
        source = path.read_bytes()
        if b"torchvision" in source:
            continue
        migrator = _Migrator(CodemodContext(), "shim")
        migrator.prune = False
        module = cst.parse_module(source)
        assert migrator.transform_module(module).code == module.code, path
        assert migrator.findings == [], path


def test_a_module_level_torchvision_name_turns_pruning_off() -> None:
    from tvcompat._migrate import prepass

    assert prepass.candidate_words("import torchvision\n") == {"torchvision"}
    assert prepass.candidate_words("from torchvision.models import resnet50 as r\n") == {
        "torchvision",
        "r",
    }
    for source in (
        "torchvision = object()\n",
        "class torchvision: pass\n",
        "from torchvision.models import *\n",
        "import numpy as torchvision\n",
        "def f(torchvision): pass\n",
        "print 'python 2'\n",
    ):
        assert prepass.candidate_words(source) is None, source


@pytest.mark.parametrize("case", CASES)
def test_start_positions_are_position_providers(case: str) -> None:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    from tvcompat._migrate import prepass

    module = cst.parse_module(golden(case, "before"))
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    expected = wrapper.resolve(PositionProvider)
    position = prepass.start_positions(module)
    for node, where in expected.items():
        assert position(node) == (where.start.line, where.start.column), node


def test_statements_out_of_reach_are_skipped_with_the_same_result() -> None:
    """A long module: the rewrite sees the statements that can reach torchvision only."""
    blocks = [
        "import torchvision\nfrom torchvision import models\n",
        *(
            f"def f{i}(x):\n    y = x + {i}\n    m = models.resnet18(pretrained=True)\n"
            "    return m\n\n"
            f"class C{i}:\n    a = {i}\n\n    def g(self):\n        return self.a\n\n"
            f"model = torchvision.models.vgg16({i % 2 == 0})\nfeatures = model.features\n"
            for i in range(20)
        ),
    ]
    source = "".join(blocks)
    full, pruned = _both_ways(source, "shim")
    assert pruned == full
    assert len(full[1]) == 40
    assert all(f.rewritten for f in full[1])
    import libcst as cst

    from tvcompat._migrate import prepass

    module = cst.parse_module(source)
    statements = prepass.Statements()
    keep = prepass.keep_test(prepass.candidate_words(source))
    assert keep is not None
    reduced = prepass.reduce(module, statements, keep, nested=True)
    assert reduced is not None
    # in each function ``y = ...`` and ``return m``; each class whole; ``features = ...``
    assert sum(len(run) for run in reduced.originals.values()) == 80


def test_a_stray_stand_in_reruns_the_full_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mocked: a pass losing a stand-in cannot happen with libcst's passes as they are."""
    from tvcompat._migrate import prepass

    real = prepass.restore
    calls: list[int] = []

    def lose_once(module: Any, reduced: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise prepass.Mismatch("lost")
        return real(module, reduced)

    monkeypatch.setattr(prepass, "restore", lose_once)
    source = golden("keyword_flags", "before") + "\n\nx = 1\n"
    after, findings = _migrate.migrate_source(source, "shim")
    assert calls
    assert after == golden("keyword_flags", "shim") + "\n\nx = 1\n"
    assert findings
