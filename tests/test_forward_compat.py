"""A torchvision newer than tvcompat's catalog: its new builders and weights are served.

The installed torchvision stands in for a newer release: the fixture registers a builder and
a weights enum the catalog has never seen, exactly as a release defines them (torchvision's
own ``register_model``, ``handle_legacy_interface``, ``Weights``/``WeightsEnum``), and
exports them from ``torchvision.models``. Its weights files are generated and put into a
fresh hub cache under the URL's name (hash prefix included): nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Optional

import pytest
import torch
import torchvision

import tvcompat
from tvcompat._versions import capabilities
from tvcompat.errors import UnknownWeightsError

pytestmark = pytest.mark.skipif(
    not capabilities().registration_api,
    reason="torchvision < 0.14 has no model registry to learn new builders from",
)

NAME = "tinynet_fwd"


class TinyNet(torch.nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


@dataclass
class Release:
    """What the simulated newer release defines."""

    enum: Any
    builder: Any
    files: dict[str, dict[str, torch.Tensor]]  # member name -> its state dict


def _file(checkpoints: Path, stem: str, seed: int) -> tuple[str, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    state = TinyNet().state_dict()
    tmp = checkpoints / f"{stem}.tmp"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    name = f"{stem}-{digest}.pth"
    tmp.rename(checkpoints / name)
    return f"https://download.pytorch.org/models/{name}", state


@pytest.fixture
def release(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Release]:
    from torchvision.models import _api
    from torchvision.models._utils import _ovewrite_named_param, handle_legacy_interface
    from torchvision.transforms._presets import ImageClassification

    checkpoints = hub_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    url1, state1 = _file(checkpoints, "tinynet_v1", 1)
    url2, state2 = _file(checkpoints, "tinynet_v2", 2)
    meta = {"categories": [f"c{i}" for i in range(10)], "min_size": (1, 1), "_docs": "tiny"}
    transforms = partial(ImageClassification, crop_size=32)

    class TinyNet_Weights(_api.WeightsEnum):
        IMAGENET1K_V1 = _api.Weights(url=url1, transforms=transforms, meta=dict(meta))
        IMAGENET1K_V2 = _api.Weights(url=url2, transforms=transforms, meta=dict(meta))
        DEFAULT = IMAGENET1K_V2

    def tinynet_fwd(*, weights: Any = None, progress: bool = True, **kwargs: Any) -> TinyNet:
        weights = TinyNet_Weights.verify(weights)
        if weights is not None:
            _ovewrite_named_param(kwargs, "num_classes", len(weights.meta["categories"]))
        model = TinyNet(**kwargs)
        if weights is not None:
            # as the installed release's builders call it (check_hash= exists from 0.16)
            extra = {"check_hash": True} if capabilities().builders_check_hash else {}
            model.load_state_dict(weights.get_state_dict(progress=progress, **extra))
        return model

    # the annotation torchvision's registry reads (this module's annotations are strings)
    tinynet_fwd.__annotations__["weights"] = Optional[TinyNet_Weights]
    tinynet_fwd = handle_legacy_interface(weights=("pretrained", TinyNet_Weights.IMAGENET1K_V1))(
        tinynet_fwd
    )
    _api.register_model(NAME)(tinynet_fwd)
    monkeypatch.setattr(torchvision.models, NAME, tinynet_fwd, raising=False)
    monkeypatch.setattr(torchvision.models, "TinyNet_Weights", TinyNet_Weights, raising=False)
    monkeypatch.delitem(tvcompat.__dict__, NAME, raising=False)
    try:
        yield Release(
            TinyNet_Weights, tinynet_fwd, {"IMAGENET1K_V1": state1, "IMAGENET1K_V2": state2}
        )
    finally:
        _api.BUILTIN_MODELS.pop(NAME, None)
        tvcompat.__dict__.pop(NAME, None)


def _same(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    got = model.state_dict()
    return got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)


def test_listed_and_found_like_torchvision(release: Release) -> None:
    assert NAME in tvcompat.list_models()
    assert tvcompat.list_models(include="tinynet*") == [NAME]
    assert NAME in tvcompat.list_models(module=tvcompat)
    assert NAME in dir(tvcompat)
    assert "TinyNet_Weights" in dir(tvcompat)
    assert tvcompat.get_model_weights(NAME) is release.enum
    assert tvcompat.get_weight("TinyNet_Weights.DEFAULT") is release.enum.IMAGENET1K_V2
    assert tvcompat.TinyNet_Weights is release.enum
    assert callable(tvcompat.get_model_builder(NAME))


def test_legacy_pretrained_is_that_torchvision_s_own_pick(release: Release) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tvcompat's call emits none of torchvision's warnings
        model = tvcompat.get_model(NAME, pretrained=True)
    assert _same(model, release.files["IMAGENET1K_V1"])
    # torchvision's own legacy path (it warns) loads the same weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torchvision.models.get_model(NAME, pretrained=True)
    assert _same(theirs, release.files["IMAGENET1K_V1"])
    assert tvcompat.resolve(NAME, pretrained=True).weights == tvcompat_entry("IMAGENET1K_V1")
    assert tvcompat.resolve(NAME, pretrained=False).weights is None


def tvcompat_entry(member: str) -> Any:
    from tvcompat._weights import Entry

    return Entry("TinyNet_Weights", member)


@pytest.mark.parametrize(
    ("weights", "member"),
    [("DEFAULT", "IMAGENET1K_V2"), ("IMAGENET1K_V1", "IMAGENET1K_V1"), (None, None)],
)
def test_new_form_by_name_enum_and_default(
    release: Release, weights: str | None, member: str | None
) -> None:
    builder = getattr(tvcompat, NAME)
    torch.manual_seed(0)
    model = builder(weights=weights)
    if member is None:
        torch.manual_seed(0)
        assert _same(model, TinyNet().state_dict())
    else:
        assert _same(model, release.files[member])
        assert _same(builder(weights=getattr(release.enum, member)), release.files[member])


def test_bad_weights_refused_before_anything_loads(release: Release) -> None:
    with pytest.raises(UnknownWeightsError, match="IMAGENET1K_V1"):
        tvcompat.get_model(NAME, weights="IMAGENET1K_V9")
    with pytest.raises(TypeError, match="unexpected keyword argument 'pretrained_backbone'"):
        tvcompat.get_model(NAME, pretrained_backbone=True)


def test_gone_once_unregistered(release: Release) -> None:
    from torchvision.models import _api

    assert NAME in tvcompat.list_models()
    _api.BUILTIN_MODELS.pop(NAME)
    assert NAME not in tvcompat.list_models()


@pytest.fixture
def newer_member(hub_dir: Path) -> Iterator[tuple[Any, dict[str, torch.Tensor]]]:
    """``ResNet18_Weights`` as a newer release might have it: a new member ``IMAGENET1K_V9``
    the catalog lacks, which ``DEFAULT`` now names (enum members are added the way the
    ``enum`` module stores them, and removed after the test)."""
    from torchvision.models import _api

    cls = torchvision.models.ResNet18_Weights
    old = cls.IMAGENET1K_V1
    checkpoints = hub_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(9)
    state = torchvision.models.resnet18().state_dict()
    tmp = checkpoints / "resnet18.tmp"
    torch.save(state, tmp)
    name = f"resnet18-v9-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(checkpoints / name)
    member = object.__new__(cls)
    member._name_ = "IMAGENET1K_V9"
    member._value_ = _api.Weights(
        url=f"https://download.pytorch.org/models/{name}",
        transforms=old.transforms,
        meta={**old.meta, "_docs": "a newer release's entry"},
    )
    saved = (dict(cls._member_map_), list(cls._member_names_), cls.__dict__.get("DEFAULT"))
    cls._member_map_["IMAGENET1K_V9"] = member
    cls._member_map_["DEFAULT"] = member
    cls._member_names_.append("IMAGENET1K_V9")
    type.__setattr__(cls, "IMAGENET1K_V9", member)
    type.__setattr__(cls, "DEFAULT", member)
    try:
        yield member, state
    finally:
        cls._member_map_.clear()
        cls._member_map_.update(saved[0])
        cls._member_names_[:] = saved[1]
        type.__delattr__(cls, "IMAGENET1K_V9")
        if saved[2] is None:
            type.__delattr__(cls, "DEFAULT")
        else:
            type.__setattr__(cls, "DEFAULT", saved[2])


def test_new_member_of_a_known_enum(newer_member: tuple[Any, dict[str, torch.Tensor]]) -> None:
    member, state = newer_member
    assert _same(tvcompat.resnet18(weights="IMAGENET1K_V9"), state)
    assert _same(tvcompat.resnet18(weights="DEFAULT"), state)  # DEFAULT as the release says
    assert _same(tvcompat.resnet18(weights=member), state)
    assert tvcompat.get_weight("ResNet18_Weights.IMAGENET1K_V9") is member
    # the legacy form still loads what torchvision's legacy path loads: IMAGENET1K_V1
    assert str(tvcompat.resolve("resnet18", pretrained=True).weights) == (
        "ResNet18_Weights.IMAGENET1K_V1"
    )
