"""A real HTTPS file server on 127.0.0.1 for download tests and the benchmark.

Threaded, TLS through the ``ssl`` module with a certificate from a throwaway ``trustme`` CA,
switchable failures per path, and counters kept on the server side: requests per path, bodies
sent in full per path, and TLS handshakes completed or failed (a client that does not verify
completes a handshake with a certificate it does not trust; a verifying one aborts it).

Run as a script (``python tests/https_server.py FOLDER``) it serves FOLDER on an ephemeral
port with a new CA, prints ``<port> <ca.pem path>`` on one line and serves until stdin closes.
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import os
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import trustme

Failure = Literal["tamper", "reset", "truncate", "404", "hang"]
CHUNK = 256 * 1024


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        owner._count("requests", path)
        owner._count("open", path)
        try:
            self._serve(owner, path)
        finally:
            owner._count("open", path, -1)

    def _serve(self, owner: HTTPSServer, path: str) -> None:
        self.close_connection = True
        failure = owner.failures.get(path)
        if failure == "hang":
            owner.release.wait(60)  # until the test is over
            return
        file = owner.files.get(path)
        if file is None or failure == "404":
            self.send_error(404)
            return
        size = file.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        limit = size // 2 if failure in ("reset", "truncate") else size
        delay = owner.delays.get(path, 0.0)
        sent = 0
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        with file.open("rb", buffering=0) as source:
            while sent < limit:
                n = source.readinto(view[: min(CHUNK, limit - sent)])
                if not n:
                    break
                if failure == "tamper" and sent <= size // 2 < sent + n:
                    buffer[size // 2 - sent] ^= 0xFF
                self.wfile.write(view[:n])
                sent += n
                if delay:
                    time.sleep(delay)
        if failure == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if failure == "truncate":
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        owner._count("completed", path)


class _TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner: HTTPSServer, context: ssl.SSLContext) -> None:
        self.owner = owner
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the connection's own thread, so a client that stalls it
        # never blocks accept().
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.owner._count("handshakes", "failed")
            return
        self.owner._count("handshakes", "ok")
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose in these tests


class HTTPSServer:
    """Serve ``files`` (URL path → file) over HTTPS with ``cert`` on 127.0.0.1."""

    def __init__(self, cert: trustme.LeafCert | None = None, *, certfile: str | None = None):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if cert is not None:
            cert.configure_cert(context)
        elif certfile is not None:
            context.load_cert_chain(certfile)
        self.files: dict[str, Path] = {}
        self.failures: dict[str, Failure] = {}
        self.delays: dict[str, float] = {}
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._counters: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self._server = _TLSServer(self, context)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> HTTPSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def base_url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url()}/{path.lstrip('/')}"

    def add(self, path: str, file: Path) -> str:
        """Serve ``file`` at ``path``; return its URL."""
        self.files["/" + path.lstrip("/")] = file
        return self.url(path)

    def fail(self, path: str, failure: Failure | None) -> None:
        key = "/" + path.lstrip("/")
        if failure is None:
            self.failures.pop(key, None)
        else:
            self.failures[key] = failure

    def slow(self, path: str, seconds_per_chunk: float) -> None:
        """Pause after each 256 KiB sent for ``path`` (to make downloads overlap)."""
        self.delays["/" + path.lstrip("/")] = seconds_per_chunk

    def reset(self) -> None:
        """Forget failures, delays and counters, and let hanging requests go (between
        tests)."""
        with self._lock:
            self.failures.clear()
            self.delays.clear()
            self._counters.clear()
            self.release.set()
            self.release = threading.Event()

    def _count(self, counter: str, key: str, n: int = 1) -> None:
        with self._lock:
            self._counters[counter][key] += n

    def requests(self, path: str) -> int:
        with self._lock:
            return self._counters["requests"]["/" + path.lstrip("/")]

    def completed(self, path: str) -> int:
        """Responses to ``path`` sent in full. Handlers still serving it are waited for (up
        to 5 s): a client can have read a whole body before the server's thread counts it."""
        key = "/" + path.lstrip("/")
        deadline = time.monotonic() + 5
        while True:
            with self._lock:
                if not self._counters["open"][key] or time.monotonic() > deadline:
                    return self._counters["completed"][key]
            time.sleep(0.01)

    @property
    def handshakes_ok(self) -> int:
        with self._lock:
            return self._counters["handshakes"]["ok"]

    @property
    def handshakes_failed(self) -> int:
        with self._lock:
            return self._counters["handshakes"]["failed"]


def _main(folder: str) -> None:  # pragma: no cover - used by the benchmark
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = os.path.join(tempfile.mkdtemp(prefix="tvcompat-ca-"), "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    with HTTPSServer(cert) as server:
        for file in Path(folder).rglob("*"):
            if file.is_file():
                server.add(file.relative_to(folder).as_posix(), file)
        sys.stdout.write(f"{server.port} {ca_file}\n")
        sys.stdout.flush()
        sys.stdin.read()  # serve until the parent closes our stdin


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1])
