"""tvcompat's modules form layers that only point down (docs/architecture.md), with no
import cycle, counting every import: top-level, inside functions, and under TYPE_CHECKING."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tvcompat

ROOT = Path(tvcompat.__file__).parent

#: layer -> module name prefixes (a module belongs to the layer of its longest prefix)
LAYERS: dict[str, tuple[str, ...]] = {
    "base": (
        "tvcompat.__about__",
        "tvcompat.errors",
        "tvcompat._versions",
        "tvcompat._settings",
        "tvcompat._deprecations",
    ),
    "catalog": ("tvcompat._catalog", "tvcompat._catalog_live", "tvcompat._removed"),
    "downloads": ("tvcompat._net",),
    "weights": ("tvcompat._weights", "tvcompat._presets"),
    "models": ("tvcompat._models",),
    "install": ("tvcompat._install",),
    "training": ("tvcompat.training",),
    "api": (
        "tvcompat",
        "tvcompat.downloads",
        "tvcompat.detection",
        "tvcompat.segmentation",
        "tvcompat.video",
        "tvcompat.optical_flow",
        "tvcompat.quantization",
        "tvcompat.legacy",
    ),
    "migrate": ("tvcompat._migrate",),
    "cli": ("tvcompat.cli", "tvcompat.__main__"),
}
_CORE = ("base", "catalog", "downloads", "weights", "models")
#: layer -> the layers it may import from (itself included)
ALLOWED: dict[str, set[str]] = {
    **{layer: set(_CORE[: i + 1]) for i, layer in enumerate(_CORE)},
    "training": {"base", "training"},
    "install": {*_CORE, "install"},
    "api": {*_CORE, "install", "training", "api"},
    "migrate": {*_CORE, "migrate"},
    "cli": set(LAYERS),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(module: str) -> str:
    best = max(
        ((layer, prefix) for layer, prefixes in LAYERS.items() for prefix in prefixes),
        key=lambda lp: len(lp[1]) if module == lp[1] or module.startswith(lp[1] + ".") else -1,
    )
    prefix = best[1]
    assert module == prefix or module.startswith(prefix + "."), f"{module} is in no layer"
    return best[0]


def imports_of(module: str) -> set[str]:
    """The tvcompat modules ``module`` imports anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    layer = layer_of(module)
    upward = sorted(
        f"{module} ({layer}) imports {dep} ({layer_of(dep)})"
        for dep in GRAPH[module]
        if layer_of(dep) not in ALLOWED[layer]
    )
    assert not upward


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_checker_sees_function_level_and_upward_imports() -> None:
    source = "def f():\n    from tvcompat.cli import main\n"
    tree = ast.parse(source)
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names == {"tvcompat.cli"}
    assert layer_of("tvcompat.cli") not in ALLOWED[layer_of("tvcompat._catalog")]
    assert layer_of("tvcompat._models.registry") == "models"
    assert layer_of("tvcompat.detection.backbone_utils") == "api"


_NOQA = re.compile(r"#\s*noqa:\s*PLC0415(?P<rest>.*)$")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_lazy_import_says_why(module: str) -> None:
    for number, line in enumerate(MODULES[module].read_text("utf-8").splitlines(), 1):
        match = _NOQA.search(line)
        if match:
            reason = match["rest"].lstrip(" -:")
            assert len(reason) >= 8, f"{module}:{number}: say why this import is lazy"
