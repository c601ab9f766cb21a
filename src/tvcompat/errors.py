"""Exceptions and the warning category tvcompat raises.

Every error subclasses the builtin torchvision users already catch (``ValueError``,
``TypeError``, ``OSError``) *and* :class:`TvcompatError`, and its message names the fix.
"""

from __future__ import annotations

__all__ = [
    "BuilderNotAvailableError",
    "ConflictingArgumentsError",
    "DownloadError",
    "NoPretrainedWeightsError",
    "TorchvisionTooOldError",
    "TvcompatError",
    "TvcompatWarning",
    "UnknownModelError",
    "UnknownWeightsError",
    "WeightsMismatchError",
]


class TvcompatWarning(UserWarning):
    """Warnings tvcompat itself emits (never torchvision's deprecation warnings)."""


class TvcompatError(Exception):
    """Base class of every tvcompat error."""


class UnknownModelError(TvcompatError, ValueError):
    """No builder of that name in the installed torchvision (close matches are suggested)."""


class UnknownWeightsError(TvcompatError, ValueError):
    """No weights entry of that name for this model (close matches are suggested)."""


class WeightsMismatchError(TvcompatError, TypeError):
    """Weights of another model (or quantized weights without ``quantize=True``)."""


class NoPretrainedWeightsError(TvcompatError, ValueError):
    """``pretrained=True`` on a model that has no legacy pretrained weights."""


class ConflictingArgumentsError(TvcompatError, ValueError, TypeError):
    """Arguments that contradict each other (``pretrained`` vs ``weights``, ``num_classes`` vs
    the weights' categories, ...)."""


class TorchvisionTooOldError(TvcompatError, ValueError):
    """The request needs a newer torchvision than the installed one (the message names it)."""


class BuilderNotAvailableError(TorchvisionTooOldError):
    """The builder was added in a torchvision newer than the installed one."""


class DownloadError(TvcompatError, OSError):
    """A weights file could not be downloaded or failed verification."""
