"""Shared fixtures: no network but loopback, a private torch hub cache, and HTTPS servers that
serve real (randomly initialised) torchvision state dicts."""

from __future__ import annotations

import hashlib
import ipaddress
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `https_server`, whatever the import mode

from https_server import HTTPSServer

if TYPE_CHECKING:
    from collections.abc import Iterator

OFFICIAL = "https://download.pytorch.org/models"


# --------------------------------------------------------------------------------------------
# Nothing leaves the machine
# --------------------------------------------------------------------------------------------


def _loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Refuse name lookups and connections to anything but loopback, and point TORCH_HOME
    at a temporary folder, for the whole session: tests never touch the internet or
    ~/.cache, even when something is wrong."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            raise OSError(f"tests may not reach the network (lookup of {host!r} refused)")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _loopback(address[0]):
            raise OSError(f"tests may not reach the network (connection to {address!r} refused)")

    def guarded_connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
        mp.setattr(socket.socket, "connect", guarded_connect)
        mp.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
        for name in (
            "TVCOMPAT_PRETRAINED",
            "TVCOMPAT_WEIGHTS_MIRROR",
            "TVCOMPAT_OFFLINE",
            "TVCOMPAT_DOWNLOAD_TIMEOUT",
            "TVCOMPAT_FAST_PRETRAINED",
        ):
            mp.delenv(name, raising=False)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            mp.delenv(name, raising=False)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield


@pytest.fixture(autouse=True)
def _pretrained_policy() -> Iterator[None]:
    """Every test starts and ends with no ``set_pretrained_policy`` override (what
    ``pretrained=True`` means comes from ``TVCOMPAT_PRETRAINED``, cleared above, or the
    default), whatever a test sets or fails to reset."""
    from tvcompat import _settings

    _settings.set_pretrained_policy(None)
    yield
    _settings.set_pretrained_policy(None)


@pytest.fixture
def hub_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh torch hub folder for one test (``torch.hub.set_dir``, restored after)."""
    import torch.hub

    previous = torch.hub._hub_dir
    folder = tmp_path / "hub"
    torch.hub.set_dir(str(folder))
    try:
        yield folder
    finally:
        torch.hub._hub_dir = previous


@pytest.fixture
def tvc_settings() -> Iterator[None]:
    """Restore tvcompat's mirror/offline/timeout overrides after the test."""
    from tvcompat import _settings

    yield
    _settings.set_mirror(None)
    _settings.set_offline(None)
    _settings.set_download_timeout(None)


# --------------------------------------------------------------------------------------------
# Certificates and servers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLS:
    ca_file: Path  # the CA of `https_server`: trusted only where a test says so
    other_ca_file: Path  # the CA of `untrusted_server`: never trusted by any test
    ca: Any
    other_ca: Any


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    other.cert_pem.write_to_path(str(folder / "other-ca.pem"))
    return TLS(folder / "ca.pem", folder / "other-ca.pem", ca, other)


@pytest.fixture
def trust_test_ca(tls: TLS) -> Iterator[None]:
    """Downloads in the test verify certificates against the test CA (`https_server`)."""
    from tvcompat.downloads import cafile_downloads

    with cafile_downloads(cafile=tls.ca_file):
        yield


@dataclass(frozen=True)
class Served:
    """A file served by the test servers, named ``<stem>-<its real sha256[:8]>.pth``."""

    stem: str
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def url_path(self) -> str:
        return f"models/{self.name}"

    @property
    def official_url(self) -> str:
        return f"{OFFICIAL}/{self.name}"


def _name_by_hash(folder: Path, stem: str, data_file: Path) -> Served:
    digest = hashlib.sha256(data_file.read_bytes()).hexdigest()
    path = folder / f"{stem}-{digest[:8]}.pth"
    data_file.replace(path)
    return Served(stem, path, digest)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Served]:
    """Real state dicts of randomly initialised torchvision models (and a small blob),
    made once per session."""
    import torch
    import torchvision

    folder = tmp_path_factory.mktemp("served")
    models = torchvision.models
    torch.manual_seed(0)
    builders = {
        "resnet18": models.resnet18,
        "mobilenet_v3_large": models.mobilenet_v3_large,  # a detection backbone
    }
    files: dict[str, Served] = {}
    for stem, build in builders.items():
        raw = folder / f"{stem}.tmp"
        torch.save(build().state_dict(), raw)
        files[stem] = _name_by_hash(folder, stem, raw)
    raw = folder / "blob.tmp"
    raw.write_bytes(random.Random(0).getrandbits(8 << 20).to_bytes(1 << 20, "little"))
    files["blob"] = _name_by_hash(folder, "blob", raw)
    return files


def _serve_all(server: HTTPSServer, files: dict[str, Served]) -> None:
    for item in files.values():
        server.add(item.url_path, item.path)


@pytest.fixture(scope="session")
def _servers(tls: TLS, served: dict[str, Served]) -> Iterator[tuple[HTTPSServer, HTTPSServer]]:
    trusted = HTTPSServer(tls.ca.issue_cert("127.0.0.1", "localhost"))
    untrusted = HTTPSServer(tls.other_ca.issue_cert("127.0.0.1", "localhost"))
    with trusted, untrusted:
        _serve_all(trusted, served)
        _serve_all(untrusted, served)
        yield trusted, untrusted


@pytest.fixture
def https_server(_servers: tuple[HTTPSServer, HTTPSServer]) -> HTTPSServer:
    """The HTTPS server whose CA is ``tls.ca_file`` (counters and failures reset)."""
    _servers[0].reset()
    return _servers[0]


@pytest.fixture
def untrusted_server(_servers: tuple[HTTPSServer, HTTPSServer]) -> HTTPSServer:
    """An HTTPS server whose CA no test trusts: only a client that does not verify completes a
    handshake, so ``handshakes_ok`` counts unverified connections."""
    _servers[1].reset()
    return _servers[1]


# --------------------------------------------------------------------------------------------
# Entry URLs pointed at the served files
# --------------------------------------------------------------------------------------------


_ENTRIES = {
    "resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
    "mobilenet_v3_large": ("MobileNet_V3_Large_Weights", "IMAGENET1K_V1"),
}


@pytest.fixture
def official_urls(
    served: dict[str, Served], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Point torchvision's resnet18 and mobilenet_v3_large entries at the served files' names
    on the official host (``https://download.pytorch.org/models/...``).

    This mocks what cannot exist here: the official weights bytes. The served files are random
    state dicts whose names carry their own sha256 prefix, so the entries must name them.
    torchvision >= 0.13: the ``url`` of the weights enum member's ``Weights`` value (tvcompat
    uses torchvision's enums there); older: the modules' ``model_urls`` dicts and the ``url`` of
    tvcompat's stand-in enum member. Restored after the test. Returns stem → patched URL.
    """
    import torchvision

    from tvcompat._versions import capabilities

    urls = {stem: item.official_url for stem, item in served.items() if stem != "blob"}
    models = torchvision.models
    if capabilities().weights_api:
        members = {
            "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
            "mobilenet_v3_large": models.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
        }
        for stem, member in members.items():
            monkeypatch.setattr(member.value, "url", urls[stem])
    else:
        import importlib

        tables = {
            "resnet18": ("torchvision.models.resnet", "resnet18"),
            "mobilenet_v3_large": ("torchvision.models.mobilenetv3", "mobilenet_v3_large"),
        }
        for stem, (module, key) in tables.items():
            table = importlib.import_module(module).model_urls
            monkeypatch.setitem(table, key, urls[stem])
    # tvcompat's stand-in values are frozen dataclasses: set and restore by hand.
    from tvcompat import _weights

    restore: list[tuple[Any, str]] = []
    if not capabilities().weights_api:
        for stem, (enum_name, member) in _ENTRIES.items():
            value = _weights.enum_class(enum_name)[member].value
            restore.append((value, value.url))
            object.__setattr__(value, "url", urls[stem])
    try:
        yield urls
    finally:
        for value, url in restore:
            object.__setattr__(value, "url", url)
