"""Process settings: the ``pretrained=True`` policy, weights mirror, offline mode, timeout.

Each setting is read from its API override first, then its environment variable, then its
default, and can say where its value came from (``tvcompat doctor`` prints that).
Environment variables are read at use time, not at import, so tests and users may set them
late.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Generic, Literal, TypeVar

from tvcompat.errors import InvalidSettingError

__all__ = [
    "PretrainedPolicy",
    "Setting",
    "download_timeout",
    "get_pretrained_policy",
    "get_setting",
    "get_settings",
    "mirror",
    "offline",
    "set_download_timeout",
    "set_mirror",
    "set_offline",
    "set_pretrained_policy",
]

PretrainedPolicy = Literal["legacy", "default"]
T = TypeVar("T")
_UNSET: object = object()


@dataclass(frozen=True)
class Setting(Generic[T]):
    """A setting's effective value and its source: ``"api"`` (set by a ``set_*`` call),
    ``"env:NAME"`` (an environment variable) or ``"default"``.

    From :func:`get_settings`, an environment variable whose value is invalid gives
    ``value=None`` and ``error`` the reason (the setting itself raises
    :class:`~tvcompat.errors.InvalidSettingError` where it is used).
    """

    name: str
    value: T
    source: str
    error: str | None = None


_overrides: dict[str, object] = {}


def _env(name: str) -> str | None:
    raw = os.environ.get(name)
    return raw if raw not in (None, "") else None


def _policy_setting() -> Setting[PretrainedPolicy]:
    if "policy" in _overrides:
        return Setting("pretrained_policy", _overrides["policy"], "api")  # type: ignore[arg-type]
    raw = _env("TVCOMPAT_PRETRAINED")
    if raw is not None:
        value = raw.strip().lower()
        if value not in ("legacy", "default"):
            raise InvalidSettingError(
                f"TVCOMPAT_PRETRAINED={raw!r} is not valid: set it to 'legacy' (pretrained=True "
                "loads the weights torchvision's legacy path loads) or 'default' "
                "(pretrained=True loads the weights enum's DEFAULT)."
            )
        return Setting("pretrained_policy", value, "env:TVCOMPAT_PRETRAINED")  # type: ignore[arg-type]
    return Setting("pretrained_policy", "legacy", "default")


def get_pretrained_policy() -> PretrainedPolicy:
    """What ``pretrained=True`` means: ``"legacy"`` (torchvision's legacy weights, the
    default) or ``"default"`` (the weights enum's ``DEFAULT`` member)."""
    return _policy_setting().value


def set_pretrained_policy(policy: PretrainedPolicy | None) -> None:
    """Set what ``pretrained=True`` means process-wide; ``None`` returns to the environment
    variable ``TVCOMPAT_PRETRAINED`` (or ``"legacy"``)."""
    if policy is None:
        _overrides.pop("policy", None)
        return
    if policy not in ("legacy", "default"):
        raise InvalidSettingError(f"policy must be 'legacy' or 'default', not {policy!r}")
    _overrides["policy"] = policy


def _mirror_setting() -> Setting[str | None]:
    if "mirror" in _overrides:
        return Setting("mirror", _overrides["mirror"], "api")  # type: ignore[arg-type]
    raw = _env("TVCOMPAT_WEIGHTS_MIRROR")
    if raw is not None:
        return Setting("mirror", raw, "env:TVCOMPAT_WEIGHTS_MIRROR")
    return Setting("mirror", None, "default")


def mirror() -> str | None:
    """The weights mirror (base URL or local folder) in force, or ``None``."""
    return _mirror_setting().value


def set_mirror(location: str | os.PathLike[str] | None) -> None:
    """Use ``location`` (a base URL or a local folder) instead of the official weights host;
    ``None`` returns to ``TVCOMPAT_WEIGHTS_MIRROR`` (or no mirror)."""
    if location is None:
        _overrides.pop("mirror", None)
    else:
        _overrides["mirror"] = os.fspath(location)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _offline_setting() -> Setting[bool]:
    if "offline" in _overrides:
        return Setting("offline", bool(_overrides["offline"]), "api")
    raw = _env("TVCOMPAT_OFFLINE")
    if raw is not None:
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise InvalidSettingError(f"TVCOMPAT_OFFLINE={raw!r} is not valid: use 1 or 0.")
        return Setting("offline", value in _TRUE, "env:TVCOMPAT_OFFLINE")
    return Setting("offline", False, "default")


def offline() -> bool:
    """Whether a missing weights file fails at once instead of being downloaded."""
    return _offline_setting().value


def set_offline(value: bool | None) -> None:
    """Turn offline mode on/off process-wide; ``None`` returns to ``TVCOMPAT_OFFLINE``."""
    if value is None:
        _overrides.pop("offline", None)
    else:
        _overrides["offline"] = bool(value)


DEFAULT_TIMEOUT = 60.0


def _timeout_setting() -> Setting[float]:
    if "timeout" in _overrides:
        return Setting("download_timeout", float(_overrides["timeout"]), "api")  # type: ignore[arg-type]
    raw = _env("TVCOMPAT_DOWNLOAD_TIMEOUT")
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise InvalidSettingError(
                f"TVCOMPAT_DOWNLOAD_TIMEOUT={raw!r} is not valid: give a positive number "
                "of seconds."
            )
        return Setting("download_timeout", value, "env:TVCOMPAT_DOWNLOAD_TIMEOUT")
    return Setting("download_timeout", DEFAULT_TIMEOUT, "default")


def download_timeout() -> float:
    """Seconds a weights download may stall (connect or between reads) before failing."""
    return _timeout_setting().value


def set_download_timeout(seconds: float | None) -> None:
    """Set the download timeout; ``None`` returns to ``TVCOMPAT_DOWNLOAD_TIMEOUT`` (or 60 s)."""
    if seconds is None:
        _overrides.pop("timeout", None)
        return
    if seconds <= 0:
        raise InvalidSettingError(f"the download timeout must be positive, not {seconds!r}")
    _overrides["timeout"] = float(seconds)


_READERS: dict[str, tuple[Callable[[], Setting[object]], str]] = {
    "pretrained_policy": (_policy_setting, "TVCOMPAT_PRETRAINED"),  # type: ignore[dict-item]
    "mirror": (_mirror_setting, "TVCOMPAT_WEIGHTS_MIRROR"),  # type: ignore[dict-item]
    "offline": (_offline_setting, "TVCOMPAT_OFFLINE"),  # type: ignore[dict-item]
    "download_timeout": (_timeout_setting, "TVCOMPAT_DOWNLOAD_TIMEOUT"),  # type: ignore[dict-item]
}


def get_setting(name: str) -> Setting[object]:
    """One setting (``"pretrained_policy"``, ``"mirror"``, ``"offline"`` or
    ``"download_timeout"``) with its value and source; never raises for an invalid
    environment variable (see :class:`Setting`)."""
    try:
        reader, env = _READERS[name]
    except KeyError:
        raise InvalidSettingError(
            f"there is no setting {name!r}; the settings are {', '.join(_READERS)}."
        ) from None
    try:
        return reader()
    except InvalidSettingError as exc:
        return Setting(name, None, f"env:{env}", str(exc))


def get_settings() -> list[Setting[object]]:
    """Every setting with its value and source (what ``tvcompat doctor`` prints)."""
    return [get_setting(name) for name in _READERS]
