"""Settings are validated where they are read, by their API setters and by ``tvcompat
doctor``: a timeout that is not a positive finite number, a mirror that is no URL tvcompat
can download from, and a mirror folder that does not exist never reach a download."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tvcompat import _settings
from tvcompat._net import paths as _paths
from tvcompat.cli import main
from tvcompat.downloads import ensure_cached, set_download_timeout, set_mirror
from tvcompat.errors import InvalidArgumentError, InvalidSettingError, TvcompatError

pytestmark = pytest.mark.usefixtures("tvc_settings")

URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
BAD_TIMEOUTS = ["nan", "inf", "-inf", "0", "-1", "1e7", "soon"]
BAD_MIRRORS = ["http://[::1", "ftp://x", "http://", "https://host:99999/w", "sftp://h/w", " "]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "hub"
    monkeypatch.setattr(_paths, "hub_dir", lambda: folder)
    return folder


@pytest.mark.parametrize("raw", BAD_TIMEOUTS)
def test_an_invalid_timeout_variable_is_refused_where_it_is_read(
    raw: str, monkeypatch: pytest.MonkeyPatch, hub_dir: Path
) -> None:
    monkeypatch.setenv("TVCOMPAT_DOWNLOAD_TIMEOUT", raw)
    setting = _settings.get_setting("download_timeout")
    assert setting.value is None
    assert setting.error is not None
    assert f"TVCOMPAT_DOWNLOAD_TIMEOUT={raw!r} is not valid" in setting.error
    with pytest.raises(InvalidSettingError, match="positive number of seconds"):
        _settings.download_timeout()
    with pytest.raises(InvalidSettingError):  # before any connection is made
        ensure_cached(URL)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, -5.0, 1e7, True, "5"])
def test_set_download_timeout_refuses_what_the_variable_refuses(value: object) -> None:
    with pytest.raises(InvalidSettingError):
        set_download_timeout(value)  # type: ignore[arg-type]
    assert _settings.get_setting("download_timeout").source == "default"


def test_valid_timeouts_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVCOMPAT_DOWNLOAD_TIMEOUT", "2.5")
    assert _settings.download_timeout() == 2.5
    set_download_timeout(7)
    assert _settings.download_timeout() == 7.0
    set_download_timeout(_settings.MAX_TIMEOUT)
    assert _settings.download_timeout() == _settings.MAX_TIMEOUT


@pytest.mark.parametrize("raw", BAD_MIRRORS)
def test_an_invalid_mirror_variable_is_refused_where_it_is_read(
    raw: str, monkeypatch: pytest.MonkeyPatch, hub_dir: Path
) -> None:
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", raw)
    setting = _settings.get_setting("mirror")
    assert (setting.value, setting.source) == (None, "env:TVCOMPAT_WEIGHTS_MIRROR")
    assert setting.error is not None
    assert "TVCOMPAT_WEIGHTS_MIRROR=" in setting.error
    with pytest.raises(InvalidSettingError):
        _settings.mirror()
    with pytest.raises(InvalidSettingError):
        ensure_cached(URL)


@pytest.mark.parametrize("value", BAD_MIRRORS)
def test_set_mirror_refuses_what_the_variable_refuses(value: str) -> None:
    with pytest.raises(InvalidSettingError):
        set_mirror(value)
    assert _settings.mirror() is None


def test_ftp_is_not_taken_for_a_folder() -> None:
    with pytest.raises(InvalidSettingError, match="cannot download from ftp:// URLs"):
        set_mirror("ftp://x")


def test_set_mirror_of_the_wrong_type() -> None:
    with pytest.raises(InvalidArgumentError):
        set_mirror(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["https://mirror.example/w", "http://127.0.0.1:8080", "file:///srv/w", "/srv/w", "w:v2"],
)
def test_valid_mirrors_are_taken(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_mirror(value)
    assert _settings.mirror() == value
    set_mirror(None)
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", value)
    assert _settings.mirror() == value


# --------------------------------------------------------------------------------------------
# doctor
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("TVCOMPAT_DOWNLOAD_TIMEOUT", "nan"),
        ("TVCOMPAT_DOWNLOAD_TIMEOUT", "inf"),
        ("TVCOMPAT_WEIGHTS_MIRROR", "http://[::1"),
        ("TVCOMPAT_WEIGHTS_MIRROR", "ftp://x"),
    ],
)
def test_doctor_reports_an_invalid_setting(
    name: str,
    raw: str,
    hub: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, raw)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"INVALID: {name}={raw!r} is not" in out
    assert main(["doctor", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    key = "download_timeout" if "TIMEOUT" in name else "mirror"
    assert data["settings"][key]["source"] == "invalid"


def test_doctor_online_with_an_invalid_mirror_says_why_it_skipped(
    hub: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", "http://[::1")
    assert main(["doctor", "--online"]) == 1
    out = capsys.readouterr().out
    assert "online check skipped: TVCOMPAT_WEIGHTS_MIRROR='http://[::1' is not a valid URL" in out


@pytest.mark.parametrize("form", ["path", "file-url", "a-file"])
def test_doctor_flags_a_missing_mirror_folder(
    form: str,
    hub: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "weights-mirror"
    value = folder.as_uri() if form == "file-url" else str(folder)
    if form == "a-file":
        folder.write_text("not a folder")
    monkeypatch.setenv("TVCOMPAT_WEIGHTS_MIRROR", value)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    what = "is a file, not a folder" if form == "a-file" else "does not exist"
    assert f"the weights mirror folder {folder} (env:TVCOMPAT_WEIGHTS_MIRROR) {what}" in out
    folder.unlink(missing_ok=True)
    folder.mkdir()
    assert main(["doctor"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3", "x"])
def test_doctor_timeout_option_is_checked(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--online", "--timeout", value]) == 2
    assert "--timeout" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["http://[::1", "https://host:99999", "https://"])
def test_doctor_url_option_is_checked(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--online", "--url", url]) == 2
    assert f"--url {url}" in capsys.readouterr().err


def test_invalid_settings_are_tvcompat_errors() -> None:
    assert issubclass(InvalidSettingError, TvcompatError)
    assert issubclass(InvalidSettingError, ValueError)
