"""torchvision's own dataset downloads (``download=True``) under tvcompat's certificate scopes,
against the real HTTPS servers on 127.0.0.1.

Two real dataset classes, two download paths of ``torchvision.datasets.utils`` (both urllib on
every torchvision 0.10 → 0.29: a first GET in ``_get_redirect_url``, then ``_urlretrieve``):

* ``MNIST``: for each file of ``resources``, a loop over ``mirrors`` calling
  ``download_and_extract_archive`` (download, md5 check, gunzip); a ``URLError`` is caught, the
  next mirror tried, and a ``RuntimeError`` raised when none is left.
* ``SEMEION``: ``download_url(self.url, ...)`` straight, nothing extracted; the ``URLError``
  reaches the caller.

The dataset files are made here (valid idx-ubyte files, gzipped; a ``semeion.data`` text file)
and the classes' URL and md5 attributes pointed at the servers: torchvision checks the md5.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pytest

from _scopes import insecure
from tvcompat.downloads import (
    cafile_downloads,
    set_mirror,
    set_offline,
    uninstall_ssl_dispatcher,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import TLS
    from https_server import HTTPSServer

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"

MNIST_TRAIN_LABELS = [3, 1, 4, 1, 5, 9]
MNIST_TEST_LABELS = [2, 6, 5, 3]
SEMEION_LABELS = [7, 0, 2, 8, 1]
CONCURRENT_TRIES = 20
N_MNIST_FILES = 4  # MNIST.resources: train and test images and labels

pytestmark = [
    # torchvision 0.10 with torch 1.9 reads idx files through a read-only numpy buffer
    # (torch warns once per process); torchvision <= 0.20 calls Image.fromarray(..., mode="L"),
    # which Pillow 11.3-11.x deprecates. Neither is tvcompat's business.
    pytest.mark.filterwarnings("ignore:The given NumPy array is not writeable:UserWarning"),
    pytest.mark.filterwarnings("ignore:'mode' parameter is deprecated:DeprecationWarning"),
]


# --------------------------------------------------------------------------------------------
# Dataset files, made here
# --------------------------------------------------------------------------------------------


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _mnist_images(labels: list[int]) -> np.ndarray:
    """One 28x28 uint8 image per label, each different (a block whose place is the index)."""
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, i : i + 10, 2 * i : 2 * i + 10] = 25 * (label + 1)
    return images


def _idx(array: np.ndarray) -> bytes:
    """The idx-ubyte format: magic ``0x0000 08 <ndim>`` (8: unsigned byte), the sizes as
    big-endian int32, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@dataclass(frozen=True)
class DatasetFiles:
    folder: Path
    mnist: list[tuple[str, str]]  # (file name, md5), MNIST.resources' layout
    train_images: np.ndarray
    semeion: Path
    semeion_md5: str
    semeion_images: np.ndarray

    def serve(self, server: HTTPSServer) -> None:
        for name, _ in self.mnist:
            server.add(f"datasets/mnist/{name}", self.folder / "mnist" / name)
        server.add("datasets/semeion/semeion.data", self.semeion)

    def mnist_paths(self) -> list[str]:
        return [f"datasets/mnist/{name}" for name, _ in self.mnist]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> DatasetFiles:
    folder = tmp_path_factory.mktemp("dataset-files")
    (folder / "mnist").mkdir()
    train_images = _mnist_images(MNIST_TRAIN_LABELS)
    contents = {
        "train-images-idx3-ubyte.gz": _idx(train_images),
        "train-labels-idx1-ubyte.gz": _idx(np.array(MNIST_TRAIN_LABELS)),
        "t10k-images-idx3-ubyte.gz": _idx(_mnist_images(MNIST_TEST_LABELS)),
        "t10k-labels-idx1-ubyte.gz": _idx(np.array(MNIST_TEST_LABELS)),
    }
    mnist = []
    for name, data in contents.items():  # the order of torchvision's MNIST.resources
        path = folder / "mnist" / name
        path.write_bytes(gzip.compress(data, mtime=0))
        mnist.append((name, _md5(path)))

    # semeion.data: per line 256 pixels in [0, 1] (16x16) then the label one-hot (10 values).
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 2, size=(len(SEMEION_LABELS), 256)).astype(float)
    lines = []
    for row, label in zip(pixels, SEMEION_LABELS):
        one_hot = ["1" if k == label else "0" for k in range(10)]
        lines.append(" ".join([*(f"{v:.4f}" for v in row), *one_hot]))
    semeion = folder / "semeion.data"
    semeion.write_text("\n".join(lines) + "\n")
    semeion_images = (pixels * 255).astype(np.uint8).reshape(-1, 16, 16)
    return DatasetFiles(folder, mnist, train_images, semeion, _md5(semeion), semeion_images)


# --------------------------------------------------------------------------------------------
# Dataset classes pointed at a server
# --------------------------------------------------------------------------------------------


@dataclass
class Datasets:
    """The dataset files, and the dataset classes' URL attributes pointed at a server
    (restored after the test)."""

    files: DatasetFiles
    monkeypatch: pytest.MonkeyPatch

    def point_mnist_at(self, server: HTTPSServer) -> None:
        """``MNIST.mirrors``: URL prefixes, tried in order for each ``resources`` entry
        ``(file name, md5)`` (torchvision 0.10 → 0.29). Older releases had no ``mirrors`` and
        full URLs in ``resources``; that layout is handled too, and anything else refused, so
        a future change fails here instead of downloading from somewhere else."""
        from torchvision.datasets import MNIST

        if isinstance(MNIST.__dict__.get("mirrors"), list):
            self.monkeypatch.setattr(MNIST, "mirrors", [server.url("datasets/mnist/")])
            self.monkeypatch.setattr(MNIST, "resources", list(self.files.mnist))
        elif all(str(url).startswith("http") for url, _ in MNIST.resources):
            urls = [(server.url(f"datasets/mnist/{name}"), md5) for name, md5 in self.files.mnist]
            self.monkeypatch.setattr(MNIST, "resources", urls)
        else:  # pragma: no cover - a torchvision this test does not know
            pytest.fail(f"unknown MNIST download layout: {MNIST.resources!r}")
        self.files.serve(server)

    def point_semeion_at(self, server: HTTPSServer) -> None:
        """``SEMEION.url`` / ``filename`` / ``md5_checksum`` (the same on 0.10 → 0.29)."""
        from torchvision.datasets import SEMEION

        for name in ("url", "filename", "md5_checksum"):
            assert isinstance(SEMEION.__dict__.get(name), str), f"SEMEION.{name} has changed"
        self.monkeypatch.setattr(SEMEION, "url", server.url("datasets/semeion/semeion.data"))
        self.monkeypatch.setattr(SEMEION, "filename", "semeion.data")
        self.monkeypatch.setattr(SEMEION, "md5_checksum", self.files.semeion_md5)
        self.files.serve(server)


@pytest.fixture
def datasets(files: DatasetFiles, monkeypatch: pytest.MonkeyPatch) -> Datasets:
    return Datasets(files, monkeypatch)


@dataclass
class Spy:
    """Every exception leaving ``download_and_extract_archive`` as MNIST calls it (the real
    function, passed through), with the name of the thread it was raised in. MNIST catches
    the ``URLError`` and prints it (≤ 0.20) or folds it into its ``RuntimeError`` (≥ 0.24):
    this sees it on every release."""

    errors: list[tuple[str, BaseException]]

    def in_thread(self, name: str) -> list[BaseException]:
        return [exc for thread, exc in self.errors if thread == name]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    import torchvision.datasets.mnist as mnist_module

    real = mnist_module.download_and_extract_archive
    found = Spy([])
    lock = threading.Lock()

    def recording(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        except BaseException as exc:
            with lock:
                found.errors.append((threading.current_thread().name, exc))
            raise

    monkeypatch.setattr(mnist_module, "download_and_extract_archive", recording)
    return found


@pytest.fixture(autouse=True)
def _fresh_dispatcher() -> Iterator[None]:
    """Each test starts without the dispatcher and with no global urllib opener (torchvision
    downloads through ``urllib.request.urlopen``, which builds and keeps one)."""
    uninstall_ssl_dispatcher()
    urllib.request.install_opener(None)
    yield
    uninstall_ssl_dispatcher()
    urllib.request.install_opener(None)


def mnist(root: Path) -> Any:
    from torchvision.datasets import MNIST

    return MNIST(str(root), train=True, download=True)


def semeion(root: Path) -> Any:
    from torchvision.datasets import SEMEION

    return SEMEION(str(root), download=True)


def check_mnist(dataset: Any, files: DatasetFiles) -> None:
    assert len(dataset) == len(MNIST_TRAIN_LABELS)
    assert tuple(dataset.data.shape) == (len(MNIST_TRAIN_LABELS), 28, 28)
    assert np.array_equal(dataset.data.numpy(), files.train_images)
    assert dataset.targets.tolist() == MNIST_TRAIN_LABELS
    image, label = dataset[2]
    assert image.size == (28, 28)
    assert image.mode == "L"
    assert label == MNIST_TRAIN_LABELS[2]


def check_semeion(dataset: Any, files: DatasetFiles) -> None:
    assert len(dataset) == len(SEMEION_LABELS)
    assert np.array_equal(dataset.data, files.semeion_images)
    image, label = dataset[3]
    assert image.size == (16, 16)
    assert label == SEMEION_LABELS[3]


def mnist_refused(spy: Spy, root: Path) -> None:
    """MNIST's download in this thread fails, the reason being the certificate, and nothing is
    kept."""
    thread = threading.current_thread().name
    before = len(spy.in_thread(thread))
    with pytest.raises(RuntimeError, match=r"Error downloading train-images-idx3-ubyte\.gz"):
        mnist(root)
    errors = spy.in_thread(thread)[before:]
    assert len(errors) == 1  # one mirror, the first file: MNIST gives up there
    assert isinstance(errors[0], urllib.error.URLError)
    assert VERIFY_FAILED in str(errors[0])
    assert not any(p.is_file() for p in root.rglob("*"))


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """The server counts a refused handshake in its own thread, possibly just after the
    client has given up."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_mnist_fails_without_a_scope_loads_insecure_then_fails_again(
    untrusted_server: HTTPSServer,
    datasets: Datasets,
    spy: Spy,
    tmp_path: Path,
) -> None:
    datasets.point_mnist_at(untrusted_server)

    # No scope: the notebook case, where the first try fails (and, on Python >= 3.12, leaves
    # urllib's global opener built with a verifying context).
    mnist_refused(spy, tmp_path / "before")
    assert untrusted_server.handshakes_ok == 0

    with insecure():
        dataset = mnist(tmp_path / "inside")
    check_mnist(dataset, datasets.files)
    # every file: one GET in _get_redirect_url, one in _urlretrieve, each its own connection
    for path in datasets.files.mnist_paths():
        assert untrusted_server.requests(path) == 2
    assert untrusted_server.handshakes_ok == 2 * N_MNIST_FILES
    raw = tmp_path / "inside" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        [name for name, _ in datasets.files.mnist]
        + [name[: -len(".gz")] for name, _ in datasets.files.mnist]
    )

    # After the block, this thread verifies again.
    mnist_refused(spy, tmp_path / "after")
    assert untrusted_server.handshakes_ok == 2 * N_MNIST_FILES


def test_mnist_with_the_servers_ca_file(
    https_server: HTTPSServer,
    tls: TLS,
    datasets: Datasets,
    spy: Spy,
    tmp_path: Path,
) -> None:
    datasets.point_mnist_at(https_server)
    mnist_refused(spy, tmp_path / "before")  # Python's default CAs do not include the test CA

    with cafile_downloads(cafile=tls.ca_file):
        dataset = mnist(tmp_path / "inside")
    check_mnist(dataset, datasets.files)
    assert https_server.handshakes_ok == 2 * N_MNIST_FILES

    mnist_refused(spy, tmp_path / "after")


def test_semeion_plain_download_url_under_each_scope(
    https_server: HTTPSServer,
    untrusted_server: HTTPSServer,
    tls: TLS,
    datasets: Datasets,
    tmp_path: Path,
) -> None:
    """SEMEION calls ``download_url`` itself: the ``URLError`` reaches the caller unchanged."""
    datasets.point_semeion_at(untrusted_server)
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        semeion(tmp_path / "untrusted-before")
    assert not (tmp_path / "untrusted-before" / "semeion.data").exists()

    with insecure():
        check_semeion(semeion(tmp_path / "untrusted-inside"), datasets.files)
    assert untrusted_server.handshakes_ok == 2  # _get_redirect_url, then _urlretrieve

    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        semeion(tmp_path / "untrusted-after")

    datasets.point_semeion_at(https_server)
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        semeion(tmp_path / "trusted-before")
    with cafile_downloads(cafile=tls.ca_file):
        check_semeion(semeion(tmp_path / "trusted-inside"), datasets.files)
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        semeion(tmp_path / "trusted-after")
    assert https_server.handshakes_ok == 2


def test_a_concurrent_thread_outside_the_scope_still_verifies(
    untrusted_server: HTTPSServer,
    datasets: Datasets,
    spy: Spy,
    tmp_path: Path,
) -> None:
    """The main thread downloads MNIST again and again inside insecure_downloads() while
    another thread downloads it from the same server outside any scope. Nobody trusts the
    server's CA, so each completed TLS handshake is an unverified connection: all must be the
    main thread's (two per file per download), and every try of the other thread must be
    refused (one refused handshake each)."""
    datasets.point_mnist_at(untrusted_server)
    inside = threading.Event()
    outcomes: list[str] = []

    def outside() -> None:
        inside.wait(10)
        for i in range(CONCURRENT_TRIES):
            try:
                mnist(tmp_path / f"outside-{i}")
                outcomes.append("LOADED")
            except RuntimeError:
                outcomes.append("refused")

    worker = threading.Thread(target=outside, name="outside")
    worker.start()  # before the block: nothing to inherit, whatever the Python
    loaded = 0
    try:
        with insecure():
            inside.set()
            while (worker.is_alive() or loaded < 3) and loaded < 200:
                check_mnist(mnist(tmp_path / f"inside-{loaded}"), datasets.files)
                loaded += 1
    finally:
        inside.set()
        worker.join(30)

    assert outcomes == ["refused"] * CONCURRENT_TRIES
    refusals = spy.in_thread("outside")
    assert len(refusals) == CONCURRENT_TRIES
    assert all(VERIFY_FAILED in str(exc) for exc in refusals)
    assert spy.in_thread(threading.current_thread().name) == []
    assert not any(p.is_file() for p in tmp_path.glob("outside-*/**/*"))

    wait_for(lambda: untrusted_server.handshakes_failed >= CONCURRENT_TRIES)
    for path in datasets.files.mnist_paths():
        assert untrusted_server.requests(path) == 2 * loaded
    assert untrusted_server.handshakes_ok == 2 * N_MNIST_FILES * loaded
    assert untrusted_server.handshakes_failed == CONCURRENT_TRIES

    # After the block, the main thread verifies again.
    mnist_refused(spy, tmp_path / "after")
    assert untrusted_server.handshakes_ok == 2 * N_MNIST_FILES * loaded


@pytest.mark.usefixtures("tvc_settings")
def test_weights_settings_do_not_apply_to_datasets(
    https_server: HTTPSServer,
    tls: TLS,
    datasets: Datasets,
    tmp_path: Path,
) -> None:
    """Offline mode and the weights mirror are for weights files (``ensure_cached``):
    torchvision's dataset downloads go to the dataset's own URL regardless, as documented."""
    datasets.point_semeion_at(https_server)
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    set_mirror(str(empty))
    set_offline(True)
    with cafile_downloads(cafile=tls.ca_file):
        check_semeion(semeion(tmp_path / "data"), datasets.files)
    assert https_server.requests("datasets/semeion/semeion.data") == 2
