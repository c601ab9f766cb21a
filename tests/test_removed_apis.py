"""The removed-API table (``tvcompat._removed``) against the installed torchvision, and what
``tvcompat.install()`` serves from it: where the release has an entry, install leaves the real
one alone; where it lacks it, install serves the documented object and uninstall takes it
back, by identity. ``python tests/test_removed_apis.py`` prints the docs/run.md table."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import tvcompat
from tvcompat import _removed
from tvcompat._install import standins
from tvcompat._net import cache as _cache
from tvcompat._versions import torchvision_version

ROOT = Path(__file__).resolve().parent.parent
INSTALLED = torchvision_version().release[:2]


def _id(entry: Any) -> str:
    if isinstance(entry, _removed.RemovedModule):
        return entry.module
    return str(entry.qualname)


def _quiet_import(name: str) -> types.ModuleType | None:
    """The module as the installed release has it (its deprecation warnings silenced), or
    ``None`` where it cannot be imported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except ImportError:
            return None


def _native_has(module: types.ModuleType | None, name: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module is not None and hasattr(module, name)


def _from_import(module: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(f"from {module} import {name}", namespace)  # the statement old code runs
    return namespace[name]


@pytest.fixture(autouse=True)
def _uninstalled() -> Any:
    assert not tvcompat.is_installed()
    yield
    tvcompat.uninstall()


# --------------------------------------------------------------------------------------------
# The table itself
# --------------------------------------------------------------------------------------------


def test_table_is_well_formed() -> None:
    modules = [m.module for m in _removed.MODULES]
    names = [n.qualname for n in _removed.NAMES]
    assert len(set(modules)) == len(modules)
    assert len(set(names)) == len(names)
    for entry in (*_removed.MODULES, *_removed.NAMES):
        assert entry.module.startswith("torchvision.")
        assert _removed.version_tuple(entry.removed_in) >= (0, 11)
    seen: set[str] = set()
    for name in _removed.NAMES:
        if name.served == _removed.ALIAS:
            assert name.replacement_module, name
            assert name.replacement_name, name
            target = f"{name.replacement_module}.{name.replacement_name}"
            if _removed.find_name(name.replacement_module, name.replacement_name) is not None:
                assert target in seen, f"{name.qualname}: list {target} first"
        elif name.served == _removed.STANDIN:
            assert name.name in standins.STANDINS
        else:
            assert name.served == _removed.ERROR
            assert name.replacement_module is None
            assert name.doc
        seen.add(name.qualname)
    for module in _removed.MODULES:
        if module.replacement is None:
            assert _removed.names_in(module.module), f"{module.module}: a stand-in of nothing"
    assert _removed.find_module("torchvision.models.utils") is _removed.MODULES[0]
    assert _removed.find_name("torchvision.io", "read_video") is not None
    assert _removed.find_name("torchvision.io", "read_image") is None


@pytest.mark.parametrize("entry", [*_removed.MODULES, *_removed.NAMES], ids=_id)
def test_removed_in_matches_the_installed_release(entry: Any) -> None:
    """Present natively before ``removed_in``, absent from it on (each release of the matrix
    checks itself; the releases in between were checked against their wheels)."""
    if isinstance(entry, _removed.RemovedModule):
        present = _quiet_import(entry.module) is not None
    else:
        host = _quiet_import(entry.module)
        if host is None and not _removed.installed_lacks(entry):
            # a module newer than this release (e.g. convnext before 0.12)
            assert _removed.find_module(entry.module) is None
            pytest.skip(f"{entry.module} is not in torchvision {torchvision_version()}")
        present = _native_has(host, entry.name)
    assert present != _removed.installed_lacks(entry), (
        f"{_id(entry)}: removed_in={entry.removed_in} but torchvision "
        f"{torchvision_version()} {'has' if present else 'lacks'} it"
    )


# --------------------------------------------------------------------------------------------
# What install() serves, and what uninstall() takes back
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", _removed.MODULES, ids=_id)
def test_removed_module(entry: _removed.RemovedModule) -> None:
    parent_name, _, child = entry.module.rpartition(".")
    if not _removed.installed_lacks(entry):
        native = _quiet_import(entry.module)
        assert native is not None
        with tvcompat.installed():
            assert sys.modules[entry.module] is native
            assert importlib.import_module(entry.module) is native
        assert sys.modules[entry.module] is native
        return
    assert entry.module not in sys.modules
    parent = importlib.import_module(parent_name)
    assert child not in vars(parent)
    source = importlib.import_module(entry.replacement) if entry.replacement else None
    public = [n for n in vars(source) if not n.startswith("_")] if source else []
    with tvcompat.installed():
        module = importlib.import_module(entry.module)
        assert getattr(parent, child) is module
        assert _from_import(parent_name, child) is module
        if entry.replacement is not None and not entry.star:
            assert module is importlib.import_module(entry.replacement)
        elif source is not None:  # what ``from <replacement> import *`` bound
            assert public
            assert all(getattr(module, n) is getattr(source, n) for n in public)
        if entry.replacement is None or entry.star:  # torchvision's get_weight reads it
            assert not module.__file__.endswith("__init__.py")
        for name in _removed.names_in(entry.module):
            assert _from_import(entry.module, name.name) is getattr(module, name.name)
    assert entry.module not in sys.modules
    assert child not in vars(parent)
    with pytest.raises(ImportError):
        importlib.import_module(entry.module)


@pytest.mark.parametrize("entry", _removed.NAMES, ids=_id)
def test_removed_name(entry: _removed.RemovedName) -> None:
    host = _quiet_import(entry.module)
    if not _removed.installed_lacks(entry):
        if host is None:
            pytest.skip(f"{entry.module} is not in torchvision {torchvision_version()}")
        native = getattr(host, entry.name)
        with tvcompat.installed():
            assert getattr(host, entry.name) is native
            assert _from_import(entry.module, entry.name) is native
        assert getattr(host, entry.name) is native
        return
    if host is None:  # the module is gone too: it must be a stand-in tvcompat serves
        served_module = _removed.find_module(entry.module)
        assert served_module is not None
        assert served_module.replacement is None or served_module.star
    before = dict(vars(host)) if host is not None else None
    with tvcompat.installed():
        module = importlib.import_module(entry.module)
        if entry.served == _removed.ERROR:
            with pytest.raises(AttributeError, match=f"removed in torchvision {entry.removed_in}"):
                getattr(module, entry.name)
            assert not hasattr(module, entry.name)  # feature detection keeps working
            with pytest.raises(ImportError):  # and so do try/except ImportError fallbacks
                _from_import(entry.module, entry.name)
            with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
                module.no_such_name  # noqa: B018 - the attribute access is the test
        else:
            value = getattr(module, entry.name)
            assert _from_import(entry.module, entry.name) is value
            if entry.served == _removed.ALIAS:
                assert entry.replacement_module is not None
                home = importlib.import_module(entry.replacement_module)
                assert value is getattr(home, str(entry.replacement_name))
            else:
                assert value is standins.build(entry.name)
    if before is not None:
        assert host is not None
        after = dict(vars(host))
        assert after.keys() - {"__warningregistry__"} == before.keys() - {"__warningregistry__"}
        assert all(after[k] is v for k, v in before.items() if k != "__warningregistry__")
    with pytest.raises(ImportError):
        _from_import(entry.module, entry.name)


def test_uninstall_restores_every_module_by_identity() -> None:
    tvcompat.install()  # first round: whatever install imports lazily is imported now
    tvcompat.uninstall()
    modules = dict(sys.modules)
    namespaces = {
        name: dict(vars(m))
        for name, m in modules.items()
        if name.startswith("torchvision") and isinstance(m, types.ModuleType)
    }
    report = tvcompat.install()
    assert report.removed_apis > 0 or INSTALLED < (0, 11)
    tvcompat.uninstall()
    assert sys.modules.keys() == modules.keys()
    assert all(sys.modules[k] is v for k, v in modules.items())
    for name, before in namespaces.items():
        after = dict(vars(sys.modules[name]))
        after.pop("__warningregistry__", None)
        before.pop("__warningregistry__", None)
        assert after.keys() == before.keys(), name
        assert all(after[k] is v for k, v in before.items()), name


def test_the_real_one_is_never_shadowed() -> None:
    """Names present in the installed release, whatever the table says, stay untouched."""
    import torchvision.io
    import torchvision.transforms

    resize = torchvision.transforms.Resize
    with tvcompat.installed():
        assert torchvision.transforms.Resize is resize
        if INSTALLED < (0, 26):
            assert "__getattr__" not in vars(torchvision.io)
    assert "__getattr__" not in vars(torchvision.io)


# --------------------------------------------------------------------------------------------
# The stand-ins behave as the releases that had them did
# --------------------------------------------------------------------------------------------


def test_load_state_dict_from_url_is_tvcompats() -> None:
    assert standins.build("load_state_dict_from_url") is _cache.load_state_dict_from_url


@pytest.mark.skipif(INSTALLED < (0, 13), reason="Conv2dNormActivation is 0.13+")
def test_conv_bn_activation() -> None:
    cls = standins.build("ConvBNActivation")
    assert cls is standins.build("ConvBNActivation")
    assert (cls.__module__, cls.__name__) == ("torchvision.models.mobilenetv2", "ConvBNActivation")
    block = cls(3, 8, stride=2, groups=1)
    conv, norm, act = block
    assert isinstance(conv, nn.Conv2d)
    assert conv.bias is None
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (1, 1))
    assert type(norm) is nn.BatchNorm2d
    assert type(act) is nn.ReLU6
    assert block.out_channels == 8
    assert block(torch.rand(1, 3, 8, 8)).shape == (1, 8, 4, 4)
    old = cls(in_planes=4, out_planes=4, kernel_size=1, norm_layer=nn.Identity)  # 0.10's keywords
    assert isinstance(old[1], nn.Identity)
    assert [*old.state_dict()] == ["0.weight"]
    native = getattr(_quiet_import("torchvision.models.mobilenetv2"), "ConvBNActivation", None)
    if native is not None:  # 0.13: the same modules, parameters and output as the real one
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = native(3, 8, stride=2).eval()
        ours = cls(3, 8, stride=2).eval()
        assert repr(ours).partition("(")[2] == repr(theirs).partition("(")[2]
        ours.load_state_dict(theirs.state_dict())
        x = torch.rand(2, 3, 8, 8)
        assert torch.equal(ours(x), theirs(x))


def test_squeeze_excitation() -> None:
    cls = standins.build("SqueezeExcitation")
    se = cls(16)
    assert [*se.state_dict()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert se.fc1.out_channels == 8  # _make_divisible(16 // 4, 8)
    assert cls(64, squeeze_factor=8).fc1.out_channels == 8
    x = torch.rand(2, 16, 5, 5)
    scale = se.fc2(torch.relu(se.fc1(x.mean((2, 3), keepdim=True))))
    expected = torch.nn.functional.hardsigmoid(scale) * x
    assert torch.allclose(se(x.clone()), expected)
    if INSTALLED < (0, 11):  # 0.10: the same as the real one (0.11-0.13's failed in forward)
        native = _quiet_import("torchvision.models.mobilenetv3")
        assert native is not None
        theirs = native.SqueezeExcitation(16)
        theirs.load_state_dict(se.state_dict())
        assert torch.equal(theirs(x.clone()), se(x.clone()))


@pytest.mark.skipif(INSTALLED < (0, 12), reason="Kinetics is 0.12+")
def test_kinetics400(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import kinetics

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class RecordingVideoClips:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

    monkeypatch.setattr(kinetics, "VideoClips", RecordingVideoClips)
    for folder, file in (("walk", "a.avi"), ("run", "b.mp4"), ("run", "c.txt")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / file).write_bytes(b"")
    cls = standins.build("Kinetics400")
    assert issubclass(cls, kinetics.Kinetics)
    dataset = cls(str(tmp_path), 4, 2)  # 0.10's positional step_between_clips
    assert dataset.classes == ["run", "walk"]
    assert dataset.split_folder == str(tmp_path)
    (videos, frames, step, *_), kwargs = calls[-1]
    assert sorted(Path(v).name for v in videos) == ["a.avi", "b.mp4"]
    assert (frames, step, kwargs.get("output_format", "THWC")) == (4, 2, "THWC")
    with pytest.raises(RuntimeError, match="Please use Kinetics instead"):
        cls(str(tmp_path), 4, num_classes="400")
    native = getattr(kinetics, "Kinetics400", None)
    if native is not None:  # 0.12-0.13: what the real one passes on
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = native(str(tmp_path), 4, step_between_clips=2)
        assert theirs.classes == dataset.classes
        assert calls[-1][0][1:] == calls[-2][0][1:]
        assert calls[-1][1] == calls[-2][1]
        assert sorted(calls[-1][0][0]) == sorted(calls[-2][0][0])


def test_gen_bar_updater(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.hub

    bars: list[Any] = []

    class Bar:
        def __init__(self, total: int | None = None) -> None:
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, n: int) -> None:
            self.n += n

    monkeypatch.setattr(torch.hub, "tqdm", Bar)
    hook = standins.build("gen_bar_updater")()
    hook(0, 10, 100)
    hook(3, 10, 100)
    hook(5, 10, 100)
    assert (bars[0].total, bars[0].n) == (100, 50)
    other = standins.build("gen_bar_updater")()
    other(2, 8, 0)  # urlretrieve passes -1/0 when the server sends no length
    assert (bars[1].total, bars[1].n) == (None, 16)


# --------------------------------------------------------------------------------------------
# docs/run.md lists the table
# --------------------------------------------------------------------------------------------


def _code(text: str) -> str:
    return f"`{text}`"


def _served(entry: Any) -> str:
    if isinstance(entry, _removed.RemovedModule):
        if entry.replacement is None:
            return f"stand-in module: {entry.doc}"
        if entry.star:
            return f"new module holding {_code(entry.replacement)}'s public names (same objects)"
        return f"alias of {_code(entry.replacement)} (the same module)"
    if entry.served == _removed.ALIAS:
        return f"alias of {_code(f'{entry.replacement_module}.{entry.replacement_name}')}"
    if entry.served == _removed.STANDIN:
        return f"stand-in: {entry.doc}"
    return f"`AttributeError` naming {entry.removed_in}: {entry.doc}"


def _braced(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


def render_table() -> str:
    """The docs/run.md table: one row per module, and per name (or group of names that went
    the same way in one release: ``load_state_dict_from_url`` from 30 model modules)."""
    rows: list[tuple[str, str, str]] = [
        (_code(m.module), m.removed_in, _served(m)) for m in _removed.MODULES
    ]
    groups: dict[tuple[Any, ...], list[_removed.RemovedName]] = {}
    for n in _removed.NAMES:
        key = (n.removed_in, n.served, n.replacement_module, n.replacement_name, n.doc)
        groups.setdefault(key, []).append(n)
    for entries in groups.values():
        modules = list(dict.fromkeys(e.module for e in entries))
        names = list(dict.fromkeys(e.name for e in entries))
        if len(names) == 1:
            prefix = modules[0].rpartition(".")[0] if len(modules) > 1 else ""
            if prefix and all(m.startswith(prefix + ".") for m in modules):
                tails = [m[len(prefix) + 1 :] for m in modules]
                what = f"{prefix}.{_braced(tails)}.{names[0]}"
            else:
                what = " ".join(f"{m}.{names[0]}" for m in modules)
            rows.append((_code(what), entries[0].removed_in, _served(entries[0])))
        elif len(modules) == 1:
            what = f"{modules[0]}.{_braced(names)}"
            rows.append((_code(what), entries[0].removed_in, _served(entries[0])))
        else:
            rows += [(_code(e.qualname), e.removed_in, _served(e)) for e in entries]
    rows.sort(key=lambda r: _removed.version_tuple(r[1]))
    lines = ["| module / name | removed in | what `install()` serves |", "|---|---|---|"]
    lines += [f"| {what} | {removed_in} | {served} |" for what, removed_in, served in rows]
    return "\n".join(lines) + "\n"


def test_docs_list_the_table() -> None:
    text = (ROOT / "docs" / "run.md").read_text("utf-8")
    assert "## Removed APIs served by install()" in text
    assert render_table() in text, "regenerate: python tests/test_removed_apis.py"


if __name__ == "__main__":
    print(render_table(), end="")
