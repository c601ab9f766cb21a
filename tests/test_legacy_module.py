"""Names later torchvision releases removed, at a stable place."""

from __future__ import annotations

import inspect
from pathlib import Path

import torch.hub

from _files import write_state_dict
from tvcompat import legacy
from tvcompat._versions import capabilities


def test_model_urls() -> None:
    assert legacy.model_urls["resnet50"].endswith("/resnet50-0676ba61.pth")
    assert legacy.model_urls["r3d_18"].endswith("/r3d_18-b3b3357e.pth")
    assert legacy.quant_model_urls["resnet50_fbgemm"].endswith("resnet50_fbgemm_bf931d71.pth")
    assert legacy.module_model_urls("resnet")["resnet18"].endswith("resnet18-f37072fd.pth")


def test_load_state_dict_from_url_loads_what_torch_hub_loads(hub_dir: Path) -> None:
    """Same arguments and result as ``torch.hub.load_state_dict_from_url`` for a real weights
    file (the refusal of poisoned ones: tests/test_safety.py)."""
    url = legacy.model_urls["resnet18"]
    write_state_dict(hub_dir / "checkpoints" / url.rpartition("/")[2])
    ours = legacy.load_state_dict_from_url(url, progress=False, map_location="cpu")
    theirs = torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu")
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert [*inspect.signature(legacy.load_state_dict_from_url).parameters][:6] == [
        *inspect.signature(torch.hub.load_state_dict_from_url).parameters
    ][:6]


def test_model_urls_equal_the_installed_release_where_it_has_them() -> None:
    if not capabilities().model_urls_dicts:
        import torchvision.models.video.resnet as video  # kept there through 0.29

        assert dict.items(video.model_urls) == legacy.module_model_urls("video.resnet").items()
        return
    from torchvision.models import resnet

    real = dict(dict.items(resnet.model_urls))
    assert legacy.module_model_urls("resnet") == real
