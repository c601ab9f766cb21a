"""Scoped certificate policies, proved against real HTTPS servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from _scopes import insecure
from tvcompat._net import tls as _ssl
from tvcompat.downloads import (
    cafile_downloads,
    certifi_downloads,
    ensure_cached,
    insecure_downloads,
    truststore_downloads,
    uninstall_ssl_dispatcher,
)
from tvcompat.errors import DownloadError, TvcompatWarning

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import TLS, Served
    from https_server import HTTPSServer

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


def hub_download(url: str, dst: Path) -> None:
    """torch.hub's own downloader: the global urllib opener and the default context."""
    import torch.hub

    torch.hub.download_url_to_file(url, str(dst), progress=False)


@pytest.fixture(autouse=True)
def _fresh_dispatcher() -> Iterator[None]:
    """Each test starts without the dispatcher and with no global urllib opener."""
    uninstall_ssl_dispatcher()
    urllib.request.install_opener(None)
    factory = ssl._create_default_https_context
    yield
    uninstall_ssl_dispatcher()
    urllib.request.install_opener(None)
    assert ssl._create_default_https_context is factory


@pytest.fixture
def blob(served: dict[str, Served]) -> Served:
    return served["blob"]


# --------------------------------------------------------------------------------------------
# Default, insecure, after the block
# --------------------------------------------------------------------------------------------


def test_default_fails_then_insecure_loads_then_fails_again(
    https_server: HTTPSServer, blob: Served, tmp_path: Path, hub_dir: Path
) -> None:
    url = https_server.url(blob.url_path)
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "a")
    with pytest.raises(DownloadError, match=VERIFY_FAILED):
        ensure_cached(url, progress=False)

    with insecure():
        hub_download(url, tmp_path / "b")
        cached = ensure_cached(url, progress=False)
    assert (tmp_path / "b").read_bytes() == blob.path.read_bytes()
    assert cached.read_bytes() == blob.path.read_bytes()

    cached.unlink()
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "c")
    with pytest.raises(DownloadError, match=VERIFY_FAILED):
        ensure_cached(url, progress=False)
    assert not (tmp_path / "c").exists()


def test_verification_returns_after_an_exception_in_the_block(
    https_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    url = https_server.url(blob.url_path)

    def load_then_fail() -> None:
        hub_download(url, tmp_path / "a")
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError), insecure():
        load_then_fail()
    assert (tmp_path / "a").exists()
    assert _ssl.active_policy() is None
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "b")


def test_global_opener_built_before_the_first_scope_still_follows_scopes(
    https_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    # The notebook case: a first download fails (building urllib's global opener, which on
    # Python >= 3.12 keeps its SSL context), then the user retries inside a scope.
    url = https_server.url(blob.url_path)
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "a")
    with insecure():
        hub_download(url, tmp_path / "b")
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "c")


def test_insecure_warns_once_per_block_at_the_with_line() -> None:
    # the line numbers are the point: one `with` per line
    with pytest.warns(TvcompatWarning) as record:  # noqa: PT031
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        with insecure_downloads():  # noqa: SIM117
            with insecure_downloads():  # nested: a block of its own, a warning of its own
                pass
    assert len(record) == 2
    assert record[0].filename == __file__
    assert (record[0].lineno, record[1].lineno) == (line, line + 1)


def test_insecure_as_decorator_warns_at_the_call_line(
    https_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    @insecure_downloads()
    def fetch(dst: Path) -> str | None:
        hub_download(https_server.url(blob.url_path), dst)
        policy = _ssl.active_policy()
        return policy.description if policy else None

    with pytest.warns(TvcompatWarning) as record:  # noqa: PT031 - the line number is the point
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        assert fetch(tmp_path / "a") == "insecure_downloads()"
    assert [(r.filename, r.lineno) for r in record] == [(__file__, line)]
    assert _ssl.active_policy() is None
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(https_server.url(blob.url_path), tmp_path / "b")


def test_decorating_a_coroutine_function_scopes_its_body() -> None:
    @certifi_downloads()
    async def inside() -> str | None:
        await asyncio.sleep(0)
        policy = _ssl.active_policy()
        return policy.description if policy else None

    assert asyncio.run(inside()) == "certifi_downloads()"
    assert _ssl.active_policy() is None


def test_decorating_a_generator_function_is_refused() -> None:
    def numbers() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        certifi_downloads()(numbers)


# --------------------------------------------------------------------------------------------
# The safe helpers
# --------------------------------------------------------------------------------------------


def test_cafile_helper_loads_with_verification_on(
    https_server: HTTPSServer,
    untrusted_server: HTTPSServer,
    blob: Served,
    tls: TLS,
    tmp_path: Path,
) -> None:
    with cafile_downloads(cafile=tls.ca_file):
        hub_download(https_server.url(blob.url_path), tmp_path / "a")
        # verification is on: a certificate from another CA is still refused
        with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
            hub_download(untrusted_server.url(blob.url_path), tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == blob.path.read_bytes()
    assert untrusted_server.handshakes_ok == 0
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(https_server.url(blob.url_path), tmp_path / "c")


def test_cafile_helper_with_a_ca_folder(
    https_server: HTTPSServer, blob: Served, tls: TLS, tmp_path: Path
) -> None:
    # capath wants OpenSSL's "<subject hash>.0" file names, as `openssl rehash` makes them.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to name the CA file by its subject hash")
    subject_hash = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", str(tls.ca_file)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / f"{subject_hash}.0").write_bytes(tls.ca_file.read_bytes())
    with cafile_downloads(capath=folder):
        hub_download(https_server.url(blob.url_path), tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == blob.path.read_bytes()


def test_cafile_helper_rejects_bad_input_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cafile="):
        cafile_downloads()
    with pytest.raises(FileNotFoundError, match="no CA file"):
        cafile_downloads(cafile=tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        cafile_downloads(cafile=tmp_path / "junk.pem")


def test_certifi_helper_verifies_against_certifis_bundle(
    https_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    # The test CA is not in certifi's bundle: refusing it proves verification is on and
    # uses that bundle.
    with certifi_downloads(), pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(https_server.url(blob.url_path), tmp_path / "a")
    assert https_server.handshakes_ok == 0


def test_truststore_helper(
    https_server: HTTPSServer,
    blob: Served,
    tls: TLS,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        import truststore  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install 'tvcompat\\[truststore\\]'"):
            truststore_downloads()
        return
    with truststore_downloads(), pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(https_server.url(blob.url_path), tmp_path / "a")
    # On Linux the "system store" is OpenSSL's default location, which SSL_CERT_FILE moves.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    with truststore_downloads():
        hub_download(https_server.url(blob.url_path), tmp_path / "b")


def test_scopes_nest_and_the_innermost_wins(
    https_server: HTTPSServer, blob: Served, tls: TLS, tmp_path: Path
) -> None:
    url = https_server.url(blob.url_path)
    with cafile_downloads(cafile=tls.ca_file):
        with certifi_downloads(), pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
            hub_download(url, tmp_path / "a")
        hub_download(url, tmp_path / "b")  # back to the CA file
        with insecure():
            hub_download(url, tmp_path / "c")
        hub_download(url, tmp_path / "d")


def test_one_scope_object_reused_and_shared_by_threads(
    https_server: HTTPSServer, blob: Served, tls: TLS, tmp_path: Path
) -> None:
    scope = cafile_downloads(cafile=tls.ca_file)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(3):
                with scope:
                    hub_download(https_server.url(blob.url_path), tmp_path / f"{i}-{j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert https_server.completed(blob.url_path) == 12


# --------------------------------------------------------------------------------------------
# Threads, tasks and executors
# --------------------------------------------------------------------------------------------


def test_thread_isolation_counted_on_the_server(
    untrusted_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    """One thread downloads inside insecure_downloads() while 8 others download from the
    same server outside it, all through torch.hub (the shared global urllib opener, built
    inside the insecure block) and urllib. The server's certificate comes from a CA nobody
    trusts, so every completed TLS handshake is an unverified connection: there must be
    exactly as many as the insecure thread made."""
    url = untrusted_server.url(blob.url_path)
    n_others, rounds, n_insecure = 8, 4, 12
    inside = threading.Event()
    others_done = threading.Event()
    insecure_ok = 0
    other_results: list[str] = []
    lock = threading.Lock()

    def insecure_worker() -> None:
        nonlocal insecure_ok
        with insecure_downloads():
            # the first urlopen of the process: the global opener is built in here
            hub_download(url, tmp_path / "insecure-0")
            insecure_ok += 1
            inside.set()
            i = 1
            while not others_done.is_set() or i < n_insecure:
                hub_download(url, tmp_path / f"insecure-{i % 3}")
                insecure_ok += 1
                i += 1

    def other_worker(k: int) -> None:
        inside.wait(10)
        for r in range(rounds):
            try:
                if r % 2:
                    hub_download(url, tmp_path / f"other-{k}")
                else:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        response.read()
                outcome = "LOADED"
            except urllib.error.URLError as exc:
                outcome = "refused" if VERIFY_FAILED in str(exc) else repr(exc)
            with lock:
                other_results.append(outcome)

    # The warning comes from the worker thread: record around the whole run.
    with pytest.warns(TvcompatWarning):  # noqa: PT031
        main = threading.Thread(target=insecure_worker)
        main.start()
        others = [threading.Thread(target=other_worker, args=(k,)) for k in range(n_others)]
        for t in others:
            t.start()
        for t in others:
            t.join()
        others_done.set()
        main.join()

    assert other_results == ["refused"] * (n_others * rounds)
    assert insecure_ok >= n_insecure
    # the server counts a refused handshake in its own thread, possibly after the client has
    # already seen the refusal: wait (briefly) for the count to catch up
    deadline = time.monotonic() + 10
    while untrusted_server.handshakes_failed < n_others * rounds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert untrusted_server.handshakes_ok == insecure_ok
    assert untrusted_server.handshakes_failed == n_others * rounds
    assert not any(tmp_path.glob("other-*"))


def test_executor_workers_do_not_inherit_the_scope_unless_given_the_context() -> None:
    def policy() -> str | None:
        found = _ssl.active_policy()
        return found.description if found else None

    with certifi_downloads(), ThreadPoolExecutor(1) as pool:
        assert pool.submit(policy).result() is None
        context = contextvars.copy_context()
        assert pool.submit(context.run, policy).result() == "certifi_downloads()"


def test_asyncio_tasks_inherit_the_scope_they_were_created_in() -> None:
    async def policy() -> str | None:
        found = _ssl.active_policy()
        return found.description if found else None

    async def main() -> tuple[str | None, str | None]:
        with certifi_downloads():
            inside = asyncio.ensure_future(policy())
        outside = asyncio.ensure_future(policy())
        return await inside, await outside

    assert asyncio.run(main()) == ("certifi_downloads()", None)


# --------------------------------------------------------------------------------------------
# The dispatcher
# --------------------------------------------------------------------------------------------


def test_importing_changes_nothing_and_imports_no_torch() -> None:
    import tvcompat

    code = (
        "import ssl, sys, urllib.request\n"
        "factory = ssl._create_default_https_context\n"
        "import tvcompat.downloads as d\n"
        "d.insecure_downloads, d.cafile_downloads, d.ensure_cached\n"
        "assert ssl._create_default_https_context is factory\n"
        "assert urllib.request._opener is None\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    src = str(Path(tvcompat.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_dispatcher_preserves_the_factory_it_replaced(
    https_server: HTTPSServer,
    blob: Served,
    tls: TLS,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A user's own factory (here: one that trusts the test CA) keeps working outside scopes
    # once tvcompat's dispatcher sits in front of it, and comes back on uninstall.
    calls: list[int] = []

    def users_factory(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        calls.append(1)
        return ssl.create_default_context(cafile=str(tls.ca_file))

    monkeypatch.setattr(ssl, "_create_default_https_context", users_factory)
    url = https_server.url(blob.url_path)
    with certifi_downloads(), pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "a")
    assert isinstance(ssl._create_default_https_context, _ssl._Dispatcher)
    hub_download(url, tmp_path / "b")  # outside the scope: the user's factory
    assert calls
    assert uninstall_ssl_dispatcher() is True
    assert ssl._create_default_https_context is users_factory
    assert uninstall_ssl_dispatcher() is False


def test_dispatcher_steps_aside_when_replaced_and_reinstalls_on_next_use(
    https_server: HTTPSServer, blob: Served, tmp_path: Path
) -> None:
    original = ssl._create_default_https_context
    with certifi_downloads():
        pass
    first = ssl._create_default_https_context
    assert isinstance(first, _ssl._Dispatcher)
    # Some other code assigns the factory after tvcompat, e.g. the "common advice"
    # (here with the stdlib default, so that nothing unsafe outlives the test).
    ssl._create_default_https_context = original
    url = https_server.url(blob.url_path)
    with insecure():
        hub_download(url, tmp_path / "a")
    second = ssl._create_default_https_context
    assert isinstance(second, _ssl._Dispatcher)
    assert second is not first
    assert second.previous is original
    assert not isinstance(first(), _ssl._ScopedContext)  # the old one passes through
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        hub_download(url, tmp_path / "b")


def test_dispatcher_kept_when_another_factory_wraps_it() -> None:
    original = ssl._create_default_https_context
    with certifi_downloads():
        pass
    ours = ssl._create_default_https_context

    def wrapper(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        return ours(*args, **kwargs)

    ssl._create_default_https_context = wrapper
    try:
        assert _ssl.install_dispatcher() is False  # still in the chain: nothing to do
        assert isinstance(wrapper(), _ssl._ScopedContext)
        assert uninstall_ssl_dispatcher() is True
        assert ssl._create_default_https_context is wrapper  # not ours to remove
        assert not isinstance(wrapper(), _ssl._ScopedContext)  # passes calls through
    finally:
        ssl._create_default_https_context = original


def test_scoped_context_replays_changes_on_each_scopes_context() -> None:
    with certifi_downloads():
        pass
    context = ssl._create_default_https_context()
    assert isinstance(context, _ssl._ScopedContext)
    context.set_alpn_protocols(["http/1.1"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    with insecure():
        assert context.verify_mode == ssl.CERT_NONE
        assert context.check_hostname is False
        context.check_hostname = False  # scope-local: must not reach verifying contexts
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED
    with certifi_downloads():
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.check_hostname is True
