"""Import hygiene and the one place that knows versions."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torchvision

from tvcompat._versions import capabilities, parse, torchvision_version


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, ssl, warnings, urllib.request\n"
        "filters = list(warnings.filters); factory = ssl._create_default_https_context\n"
        "opener = urllib.request._opener\n"
        "import tvcompat, tvcompat.detection, tvcompat.quantization, tvcompat.legacy\n"
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'heavy import'\n"
        "assert warnings.filters == filters, 'warnings filters changed'\n"
        "assert ssl._create_default_https_context is factory, 'ssl factory changed'\n"
        "assert urllib.request._opener is opener, 'urllib opener changed'\n"
        "print('clean')\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_dir_lists_lazy_names() -> None:
    import tvcompat

    names = dir(tvcompat)
    assert {"resnet50", "ResNet50_Weights", "get_model", "silence_deprecations"} <= set(names)
    assert "fasterrcnn_resnet50_fpn" in dir(tvcompat.detection)


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ("0.29.1+cu130", (0, 29, 1)),
        ("0.10.1+cu102", (0, 10, 1)),
        ("2.14.1", (2, 14, 1)),
        ("0.16.0a0+git123", (0, 16, 0)),
    ],
)
def test_parse_local_tags(text: str, release: tuple[int, ...]) -> None:
    assert parse(text).release == release


def test_installed_version_matches_module() -> None:
    assert torchvision_version().release == parse(torchvision.__version__).release


def test_capabilities_match_the_installed_torchvision() -> None:
    """Each flag is checked against what the installed torchvision really has."""
    import importlib.util

    caps = capabilities()
    models = torchvision.models
    assert caps.weights_api == hasattr(models, "ResNet50_Weights")
    assert caps.registration_api == hasattr(models, "list_models")
    assert caps.get_weight == hasattr(models, "get_weight")
    assert caps.weights_enum_public == hasattr(models, "WeightsEnum")
    if caps.registration_api:
        params = inspect.signature(models.list_models).parameters
        assert caps.list_models_filters == ("include" in params)
    from torchvision.models import resnet

    assert caps.model_urls_dicts == hasattr(resnet, "model_urls")
    assert caps.models_utils_module == (
        importlib.util.find_spec("torchvision.models.utils") is not None
    )
    assert all(isinstance(v, bool) for v in caps.as_dict().values())
