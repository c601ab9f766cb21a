"""End to end: tvcompat's builders and prefetch load the served weights through the mirror and
the torch hub cache, on every torchvision of the matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import tvcompat
from _files import write_state_dict
from test_downloads import assert_backbone_loaded, load
from tvcompat import _catalog
from tvcompat.downloads import (
    prefetch,
    set_mirror,
    set_offline,
    verify_cache,
)
from tvcompat.errors import DownloadError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Served
    from https_server import HTTPSServer

pytestmark = pytest.mark.usefixtures("hub_dir", "tvc_settings", "trust_test_ca")


def assert_state_equal(state: dict[str, Any], expected: dict[str, Any]) -> None:
    import torch

    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected)


def test_builder_loads_the_mirrored_weights(
    https_server: HTTPSServer, served: dict[str, Served], official_urls: dict[str, str]
) -> None:
    item = served["resnet18"]
    set_mirror(https_server.base_url())
    model = tvcompat.resnet18(pretrained=True)
    assert_state_equal(model.state_dict(), load(item.path))
    assert https_server.requests(item.url_path) == 1
    model = tvcompat.resnet18(weights="IMAGENET1K_V1")  # the same entry, now cached
    assert https_server.requests(item.url_path) == 1


def test_detection_builder_loads_its_backbone_through_the_mirror(
    https_server: HTTPSServer, served: dict[str, Served], official_urls: dict[str, str]
) -> None:
    item = served["mobilenet_v3_large"]
    set_mirror(https_server.base_url())
    model = tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(pretrained_backbone=True)
    assert_backbone_loaded(model, load(item.path))
    assert https_server.requests(item.url_path) == 1


def test_prefetch_then_build_offline(
    https_server: HTTPSServer,
    served: dict[str, Served],
    official_urls: dict[str, str],
    hub_dir: Path,
) -> None:
    set_mirror(https_server.base_url())
    (resnet,) = prefetch("resnet18", pretrained=True, progress=False)
    (backbone,) = prefetch("fasterrcnn_mobilenet_v3_large_320_fpn", pretrained_backbone=True)
    assert resnet == hub_dir / "checkpoints" / served["resnet18"].name
    assert backbone == hub_dir / "checkpoints" / served["mobilenet_v3_large"].name

    set_offline(True)
    set_mirror(None)
    assert_state_equal(
        tvcompat.resnet18(pretrained=True).state_dict(), load(served["resnet18"].path)
    )
    model = tvcompat.detection.fasterrcnn_mobilenet_v3_large_320_fpn(pretrained_backbone=True)
    assert_backbone_loaded(model, load(served["mobilenet_v3_large"].path))
    for stem in ("resnet18", "mobilenet_v3_large"):
        assert https_server.requests(served[stem].url_path) == 1


def test_prefetch_forms(
    https_server: HTTPSServer, served: dict[str, Served], official_urls: dict[str, str]
) -> None:
    set_mirror(https_server.base_url())
    name = served["resnet18"].name
    assert prefetch("resnet18", progress=False)[0].name == name  # no weights argument
    assert prefetch("resnet18", weights="DEFAULT", progress=False)[0].name == name
    entry = tvcompat.ResNet18_Weights.IMAGENET1K_V1
    assert prefetch(entry, progress=False)[0].name == name
    assert prefetch("resnet18", pretrained=False) == ()
    with pytest.raises(TypeError, match="no builder arguments"):
        prefetch(entry, pretrained=True)
    assert https_server.requests(served["resnet18"].url_path) == 1


def test_offline_builder_error_names_the_entry_and_the_fix(hub_dir: Path) -> None:
    set_offline(True)
    with pytest.raises(DownloadError) as info:
        tvcompat.resnet18(pretrained=True)
    message = str(info.value)
    assert "resnet18-f37072fd.pth (ResNet18_Weights.IMAGENET1K_V1)" in message
    assert str(hub_dir / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "`tvcompat download MODEL --weights ResNet18_Weights.IMAGENET1K_V1`" in message


def test_verify_cache_names_torchvision_entries(checkpoints_dir: Path) -> None:
    corrupt = checkpoints_dir / "resnet18-f37072fd.pth"
    corrupt.write_bytes(b"not resnet18")
    quantized = write_state_dict(checkpoints_dir / "resnet18_fbgemm_16fa66dd.pth")
    found = {f.path.name: f for f in verify_cache()}
    assert found[corrupt.name].status == "corrupt"
    assert found[corrupt.name].weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert found[quantized.name].status == "unchecked"
    assert found[quantized.name].weights == "ResNet18_QuantizedWeights.IMAGENET1K_FBGEMM_V1"
    assert _catalog.filename_index()["efficientnet_b0_rwightman-3dd342df.pth"][0] == (
        "EfficientNet_B0_Weights"
    )


@pytest.fixture
def checkpoints_dir(hub_dir: Path) -> Path:
    folder = hub_dir / "checkpoints"
    folder.mkdir(parents=True)
    return folder
