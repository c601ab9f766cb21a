"""Exceptions and the warning category tvcompat raises.

Every exception tvcompat raises on purpose subclasses :class:`TvcompatError` *and* the
builtin that code already catches for that kind of fault (``ValueError``, ``TypeError``,
``LookupError``/``KeyError``, ``OSError``/``FileNotFoundError``, ``ImportError``,
``RuntimeError``), and its message names the fix. The one exception to that rule:
``AttributeError`` from a module's ``__getattr__`` (``tvcompat.no_such_name``) stays a plain
``AttributeError``, because Python's attribute protocol (``hasattr``, ``from x import y``,
``getattr(m, n, default)``) expects exactly that type.
"""

from __future__ import annotations

import pickle

__all__ = [
    "BuilderNotAvailableError",
    "CatalogError",
    "ConflictingArgumentsError",
    "DownloadError",
    "InvalidArgumentError",
    "InvalidSettingError",
    "InvalidValueError",
    "MissingDependencyError",
    "MissingFileError",
    "NoPretrainedWeightsError",
    "TorchvisionTooOldError",
    "TrainingStateError",
    "TvcompatError",
    "TvcompatWarning",
    "UnknownLegacyNameError",
    "UnknownModelError",
    "UnknownWeightsError",
    "UnsafeWeightsFileError",
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


class InvalidArgumentError(TvcompatError, TypeError):
    """A call with an argument the function does not take, too many positional arguments, or
    an argument of the wrong type."""


class InvalidValueError(TvcompatError, ValueError):
    """An argument or input of an accepted type whose value cannot work."""


class InvalidSettingError(InvalidValueError):
    """A setting (environment variable or API setter) with a value tvcompat cannot use."""


class MissingFileError(TvcompatError, FileNotFoundError):
    """A file or folder named by the caller does not exist."""


class MissingDependencyError(TvcompatError, ImportError):
    """An optional package the request needs is not installed (the message names it)."""


class UnknownLegacyNameError(TvcompatError, KeyError):
    """A legacy name (``model_urls[...]`` key, module) that no torchvision release had."""

    def __str__(self) -> str:  # KeyError quotes its argument; the message reads better bare
        return str(self.args[0]) if self.args else ""


class TrainingStateError(TvcompatError, RuntimeError):
    """The training step was used in a state it cannot work in (the message says which)."""


class CatalogError(TvcompatError, RuntimeError):
    """tvcompat's generated weights catalog does not match the code reading it (a broken or
    mixed installation; the message names the regeneration command)."""


class UnsafeWeightsFileError(TvcompatError, pickle.UnpicklingError):
    """A weights file that references code, not only tensors (tampered with, or not a
    weights file): refused before it is unpickled. The message names the file and the fix."""
