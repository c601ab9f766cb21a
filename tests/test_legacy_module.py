"""Names later torchvision releases removed, at a stable place."""

from __future__ import annotations

import torch.hub

from tvcompat import legacy
from tvcompat._versions import capabilities


def test_model_urls() -> None:
    assert legacy.model_urls["resnet50"].endswith("/resnet50-0676ba61.pth")
    assert legacy.model_urls["r3d_18"].endswith("/r3d_18-b3b3357e.pth")
    assert legacy.quant_model_urls["resnet50_fbgemm"].endswith("resnet50_fbgemm_bf931d71.pth")
    assert legacy.module_model_urls("resnet")["resnet18"].endswith("resnet18-f37072fd.pth")
    assert legacy.load_state_dict_from_url is torch.hub.load_state_dict_from_url


def test_model_urls_equal_the_installed_release_where_it_has_them() -> None:
    if not capabilities().model_urls_dicts:
        import torchvision.models.video.resnet as video  # kept there through 0.29

        assert dict.items(video.model_urls) == legacy.module_model_urls("video.resnet").items()
        return
    from torchvision.models import resnet

    real = dict(dict.items(resnet.model_urls))
    assert legacy.module_model_urls("resnet") == real
