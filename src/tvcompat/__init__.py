"""tvcompat: one torchvision model API for every torchvision from 0.10 to the newest.

``from tvcompat import resnet50`` then ``resnet50(pretrained=True)`` or
``resnet50(weights="IMAGENET1K_V2")``: both forms work on every release, load the weights
torchvision itself would pick, and emit no deprecation warnings.

Importing tvcompat is free of side effects: no patching, no warning filters, no downloads,
and neither torch nor torchvision is imported until a builder or enum is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tvcompat import errors
from tvcompat.__about__ import __version__

if TYPE_CHECKING:  # pragma: no cover - the names resolve lazily at run time
    from tvcompat import (
        detection,
        downloads,
        legacy,
        optical_flow,
        quantization,
        segmentation,
        training,
        video,
    )
    from tvcompat._deprecations import (
        restore_deprecations,
        silence_deprecations,
        silence_deprecations_globally,
    )
    from tvcompat._install import install, installed, is_installed, uninstall
    from tvcompat._models.registry import (
        get_model,
        get_model_builder,
        get_model_weights,
        get_weight,
        list_models,
        resolve,
    )
    from tvcompat._models.resolve import Resolution
    from tvcompat._settings import (
        Setting,
        get_pretrained_policy,
        get_setting,
        get_settings,
        set_download_timeout,
        set_fast_pretrained,
        set_mirror,
        set_offline,
        set_pretrained_policy,
    )
    from tvcompat._versions import capabilities
    from tvcompat.downloads import (
        CachedFile,
        DownloadScope,
        cafile_downloads,
        certifi_downloads,
        ensure_cached,
        insecure_downloads,
        prefetch,
        truststore_downloads,
        uninstall_ssl_dispatcher,
        verify_cache,
    )
    from tvcompat.errors import (
        BuilderNotAvailableError,
        CatalogError,
        ConflictingArgumentsError,
        DownloadError,
        InvalidArgumentError,
        InvalidSettingError,
        InvalidValueError,
        MissingDependencyError,
        MissingFileError,
        NoPretrainedWeightsError,
        TorchvisionTooOldError,
        TrainingStateError,
        TvcompatError,
        TvcompatWarning,
        UnknownLegacyNameError,
        UnknownModelError,
        UnknownWeightsError,
        UnsafeWeightsFileError,
        WeightsMismatchError,
    )
    from tvcompat.training import StepResult, TrainStep, train_step

#: Every public name of the package and the module that defines it: the one table lazy
#: loading uses. ``tests/test_public_api.py`` checks ``__all__`` (kept literal for type
#: checkers) and the ``TYPE_CHECKING`` imports above against it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "get_model",
            "get_model_builder",
            "get_model_weights",
            "get_weight",
            "list_models",
            "resolve",
        ),
        "tvcompat._models.registry",
    ),
    "Resolution": "tvcompat._models.resolve",
    **dict.fromkeys(
        ("silence_deprecations", "silence_deprecations_globally", "restore_deprecations"),
        "tvcompat._deprecations",
    ),
    **dict.fromkeys(
        (
            "Setting",
            "get_pretrained_policy",
            "get_setting",
            "get_settings",
            "set_pretrained_policy",
            "set_mirror",
            "set_offline",
            "set_download_timeout",
            "set_fast_pretrained",
        ),
        "tvcompat._settings",
    ),
    "capabilities": "tvcompat._versions",
    **dict.fromkeys(("install", "uninstall", "installed", "is_installed"), "tvcompat._install"),
    **dict.fromkeys(
        (
            "insecure_downloads",
            "certifi_downloads",
            "cafile_downloads",
            "truststore_downloads",
            "uninstall_ssl_dispatcher",
            "prefetch",
            "verify_cache",
            "ensure_cached",
            "CachedFile",
            "DownloadScope",
        ),
        "tvcompat.downloads",
    ),
    **dict.fromkeys(("train_step", "TrainStep", "StepResult"), "tvcompat.training"),
    **dict.fromkeys(errors.__all__, "tvcompat.errors"),
}
#: Public submodules (imported on first attribute access).
_SUBMODULES = (
    "detection",
    "segmentation",
    "video",
    "optical_flow",
    "quantization",
    "legacy",
    "downloads",
    "training",
    "errors",
)

__all__ = [
    "BuilderNotAvailableError",
    "CachedFile",
    "CatalogError",
    "ConflictingArgumentsError",
    "DownloadError",
    "DownloadScope",
    "InvalidArgumentError",
    "InvalidSettingError",
    "InvalidValueError",
    "MissingDependencyError",
    "MissingFileError",
    "NoPretrainedWeightsError",
    "Resolution",
    "Setting",
    "StepResult",
    "TorchvisionTooOldError",
    "TrainStep",
    "TrainingStateError",
    "TvcompatError",
    "TvcompatWarning",
    "UnknownLegacyNameError",
    "UnknownModelError",
    "UnknownWeightsError",
    "UnsafeWeightsFileError",
    "WeightsMismatchError",
    "__version__",
    "cafile_downloads",
    "capabilities",
    "certifi_downloads",
    "detection",
    "downloads",
    "ensure_cached",
    "errors",
    "get_model",
    "get_model_builder",
    "get_model_weights",
    "get_pretrained_policy",
    "get_setting",
    "get_settings",
    "get_weight",
    "insecure_downloads",
    "install",
    "installed",
    "is_installed",
    "legacy",
    "list_models",
    "optical_flow",
    "prefetch",
    "quantization",
    "resolve",
    "restore_deprecations",
    "segmentation",
    "set_download_timeout",
    "set_fast_pretrained",
    "set_mirror",
    "set_offline",
    "set_pretrained_policy",
    "silence_deprecations",
    "silence_deprecations_globally",
    "train_step",
    "training",
    "truststore_downloads",
    "uninstall",
    "uninstall_ssl_dispatcher",
    "verify_cache",
    "video",
]


def __getattr__(name: str) -> Any:
    if name.startswith("_"):  # private submodules load through the import system
        raise AttributeError(f"module 'tvcompat' has no attribute {name!r}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"tvcompat.{name}")
    else:
        from tvcompat._models.namespace import family_getattr  # noqa: PLC0415 - lazy: builders

        value = family_getattr(__name__, "classification")(name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    from tvcompat._models.namespace import installed_names  # noqa: PLC0415 - lazy: the catalog

    return sorted({*__all__, *installed_names("classification")})
