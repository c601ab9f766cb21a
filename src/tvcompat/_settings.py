"""Process settings: the ``pretrained=True`` policy, weights mirror, offline mode, timeout.

Each setting is read from its API override first, then its environment variable, then its
default, and can say where its value came from (``tvcompat doctor`` prints that).
Environment variables are read at use time, not at import, so tests and users may set them
late.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from dataclasses import dataclass
from typing import Callable, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from tvcompat.errors import InvalidArgumentError, InvalidSettingError

__all__ = [
    "MAX_TIMEOUT",
    "MIRROR_SCHEMES",
    "PretrainedPolicy",
    "Setting",
    "download_timeout",
    "fast_pretrained",
    "get_pretrained_policy",
    "get_setting",
    "get_settings",
    "mirror",
    "offline",
    "set_download_timeout",
    "set_fast_pretrained",
    "set_mirror",
    "set_offline",
    "set_pretrained_policy",
    "validate_mirror",
    "validate_timeout",
]

PretrainedPolicy = Literal["legacy", "default"]
T = TypeVar("T")
_UNSET: object = object()


def _shown(what: str, value: object) -> str:
    """``TVCOMPAT_X='v'`` (``what`` ends with ``=``) or ``set_x(): 'v'``."""
    return f"{what}{value!r}" if what.endswith("=") else f"{what} {value!r}"


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


#: the URL schemes a mirror may use (anything else with ``://`` is refused, not taken for a
#: folder); a value without a scheme is a local folder
MIRROR_SCHEMES = ("http", "https", "file")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def validate_mirror(value: str, what: str = "the weights mirror") -> str:
    """``value`` if it can be a weights mirror: an ``http(s)://host[:port]/...`` URL, a
    ``file:`` URL or a local folder; else :class:`~tvcompat.errors.InvalidSettingError` saying
    why (``what`` names the setting in the message). Whether a folder exists is not checked
    here (``tvcompat doctor`` does)."""
    fix = (
        "give an http(s) base URL (https://host/path), a file: URL or a local folder "
        "(TVCOMPAT_WEIGHTS_MIRROR / tvcompat.set_mirror())"
    )
    shown = _shown(what, value)
    if not value.strip():
        raise InvalidSettingError(f"{shown} is empty: {fix}.")
    match = _SCHEME.match(value)
    # one letter before the colon is a Windows drive (C:\weights), not a scheme
    scheme = match.group(1).lower() if match and len(match.group(1)) > 1 else None
    if scheme is None:
        return value
    if scheme not in MIRROR_SCHEMES:
        if "://" in value:
            raise InvalidSettingError(
                f"{shown} is not valid: tvcompat cannot download from {scheme}:// URLs; {fix}."
            )
        return value  # e.g. a folder called "weights:v2"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port that is not a number in 0-65535
    except ValueError as exc:
        raise InvalidSettingError(f"{shown} is not a valid URL ({exc}): {fix}.") from None
    if scheme in ("http", "https") and not parts.hostname:
        raise InvalidSettingError(f"{shown} names no host: {fix}.")
    if port == 0:
        raise InvalidSettingError(f"{shown} has port 0: {fix}.")
    return value


def _mirror_setting() -> Setting[str | None]:
    if "mirror" in _overrides:
        return Setting("mirror", _overrides["mirror"], "api")  # type: ignore[arg-type]
    raw = _env("TVCOMPAT_WEIGHTS_MIRROR")
    if raw is not None:
        validate_mirror(raw, "TVCOMPAT_WEIGHTS_MIRROR=")
        return Setting("mirror", raw, "env:TVCOMPAT_WEIGHTS_MIRROR")
    return Setting("mirror", None, "default")


def mirror() -> str | None:
    """The weights mirror (base URL or local folder) in force, or ``None``."""
    return _mirror_setting().value


def set_mirror(location: str | os.PathLike[str] | None) -> None:
    """Use ``location`` (a base URL or a local folder) instead of the official weights host;
    ``None`` returns to ``TVCOMPAT_WEIGHTS_MIRROR`` (or no mirror). A value that cannot be a
    mirror (``ftp://x``, ``http://[::1``) raises :class:`~tvcompat.errors.InvalidSettingError`."""
    if location is None:
        _overrides.pop("mirror", None)
        return
    try:
        value = os.fspath(location)
    except TypeError:
        raise InvalidArgumentError(
            f"set_mirror() takes a URL or folder (str or path) or None, not "
            f"{type(location).__name__}"
        ) from None
    if not isinstance(value, str):
        raise InvalidArgumentError("set_mirror() takes a str path, not bytes")
    _overrides["mirror"] = validate_mirror(value, "set_mirror():")


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


_FAST_ENV = "TVCOMPAT_FAST_PRETRAINED"


def _fast_setting() -> Setting[bool]:
    if "fast_pretrained" in _overrides:
        return Setting("fast_pretrained", bool(_overrides["fast_pretrained"]), "api")
    raw = _env(_FAST_ENV)
    if raw is not None:
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise InvalidSettingError(
                f"TVCOMPAT_FAST_PRETRAINED={raw!r} is not valid: use 1 (pretrained builds skip "
                "the random initialisation the weights replace) or 0 (torchvision's own path)."
            )
        return Setting("fast_pretrained", value in _TRUE, "env:TVCOMPAT_FAST_PRETRAINED")
    return Setting("fast_pretrained", True, "default")


def fast_pretrained() -> bool:
    """Whether pretrained builds take the fast path (see :func:`set_fast_pretrained`)."""
    return _fast_setting().value


def set_fast_pretrained(enabled: bool | None) -> None:
    """Turn the fast path of pretrained builds on or off process-wide; ``None`` returns to
    the environment variable ``TVCOMPAT_FAST_PRETRAINED`` (``1``/``0``), or on.

    On (the default), a build with weights skips the random initialisation of every tensor
    the weights file replaces and, on torch >= 2.1, maps the cached file instead of reading
    it into a second copy (``load_state_dict(assign=True)``). The model equals the one
    torchvision's own path builds (every tensor bitwise, ``requires_grad``, dtype, device),
    checked after each build: where that check fails, the model is built again
    torchvision's way. Such a build does not draw from torch's global random number
    generator, except a ``quantize=True`` one: its calibration needs torchvision's
    initialisation and random input, which it draws exactly as torchvision does, and what
    it skips is the packing of quantized weights that the load replaces. Off, the build is
    torchvision's own, which draws the random initial values (and thus advances
    ``torch``'s RNG) exactly as ``torchvision.models.X(weights=...)`` does. Builds without
    weights are always torchvision's own.
    """
    if enabled is None:
        _overrides.pop("fast_pretrained", None)
    else:
        _overrides["fast_pretrained"] = bool(enabled)


DEFAULT_TIMEOUT = 60.0
#: the longest download timeout (seconds, about 11.6 days): sockets refuse much longer ones
MAX_TIMEOUT = 1_000_000.0


def validate_timeout(value: object, what: str = "the download timeout") -> float:
    """``value`` as seconds if it can be a download timeout: a finite number in
    ``(0, MAX_TIMEOUT]`` (a string is parsed); else
    :class:`~tvcompat.errors.InvalidSettingError` saying why."""
    seconds: float | None = None
    if isinstance(value, bool):  # True is 1 to Python, not one second to anybody
        seconds = None
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            seconds = None
    elif isinstance(value, numbers.Real):
        seconds = float(value)
    if seconds is None or not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise InvalidSettingError(
            f"{_shown(what, value)} is not valid: give a positive number of seconds (finite, at "
            f"most {MAX_TIMEOUT:.0f})."
        )
    return seconds


def _timeout_setting() -> Setting[float]:
    if "timeout" in _overrides:
        return Setting("download_timeout", float(_overrides["timeout"]), "api")  # type: ignore[arg-type]
    raw = _env("TVCOMPAT_DOWNLOAD_TIMEOUT")
    if raw is not None:
        value = validate_timeout(raw, "TVCOMPAT_DOWNLOAD_TIMEOUT=")
        return Setting("download_timeout", value, "env:TVCOMPAT_DOWNLOAD_TIMEOUT")
    return Setting("download_timeout", DEFAULT_TIMEOUT, "default")


def download_timeout() -> float:
    """Seconds a weights download may stall (connect or between reads) before failing."""
    return _timeout_setting().value


def set_download_timeout(seconds: float | None) -> None:
    """Set the download timeout; ``None`` returns to ``TVCOMPAT_DOWNLOAD_TIMEOUT`` (or 60 s).
    Anything but a positive, finite number of seconds (at most ``MAX_TIMEOUT``) raises
    :class:`~tvcompat.errors.InvalidSettingError`."""
    if seconds is None:
        _overrides.pop("timeout", None)
        return
    value: object = seconds
    if isinstance(value, str):  # the API takes numbers; strings are the environment's
        raise InvalidSettingError(
            f"set_download_timeout() takes a number of seconds, not the string {value!r}"
        )
    _overrides["timeout"] = validate_timeout(value, "set_download_timeout():")


_READERS: dict[str, tuple[Callable[[], Setting[object]], str]] = {
    "pretrained_policy": (_policy_setting, "TVCOMPAT_PRETRAINED"),  # type: ignore[dict-item]
    "mirror": (_mirror_setting, "TVCOMPAT_WEIGHTS_MIRROR"),  # type: ignore[dict-item]
    "offline": (_offline_setting, "TVCOMPAT_OFFLINE"),  # type: ignore[dict-item]
    "download_timeout": (_timeout_setting, "TVCOMPAT_DOWNLOAD_TIMEOUT"),  # type: ignore[dict-item]
    "fast_pretrained": (_fast_setting, _FAST_ENV),  # type: ignore[dict-item]
}


def get_setting(name: str) -> Setting[object]:
    """One setting (``"pretrained_policy"``, ``"mirror"``, ``"offline"``,
    ``"download_timeout"`` or ``"fast_pretrained"``) with its value and source; never
    raises for an invalid environment variable (see :class:`Setting`)."""
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
