"""``tvcompat doctor --online``: a real TLS handshake with the weights host, explained.

The handshake uses the context a download would use (Python's default one, or the CA file
given), through the HTTPS proxy a download would use. When it fails on the certificate, it is
tried again with certifi's bundle and, to see who presented the certificate, without
verification; the report then says in plain words what is wrong and lists the fixes in the
order to try them: certifi, a CA file, a mirror and, last, no verification.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import tempfile
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from tvcompat import _settings
from tvcompat._net.tls import make_cafile_policy

__all__ = ["Attempt", "OnlineReport", "check", "default_url"]

OFFICIAL_URL = "https://download.pytorch.org"


def default_url() -> str:
    """Where downloads go: the mirror when it is a URL, else the official weights host."""
    mirror = _settings.mirror()
    if mirror is not None and urlsplit(mirror).scheme.lower() == "https":
        return mirror
    return OFFICIAL_URL


@dataclass
class Attempt:
    """One handshake: with which certificates, and how it went."""

    label: str
    ok: bool
    kind: str | None = None  # verify, tls, dns, refused, timeout, proxy, network
    error: str | None = None
    tls_version: str | None = None
    peer: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "with": self.label,
            "ok": self.ok,
            "kind": self.kind,
            "error": self.error,
            "tls_version": self.tls_version,
            "peer": self.peer,
        }


@dataclass
class OnlineReport:
    url: str
    host: str
    port: int
    proxy: str | None
    attempts: list[Attempt] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[0].ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "proxy": self.proxy,
            "ok": self.ok,
            "attempts": [a.as_dict() for a in self.attempts],
            "explanation": self.explanation,
            "fixes": self.fixes,
        }


def _name(parts: Any) -> str:
    """``(('organizationName', 'X'),), ...`` -> ``"O=X, CN=Y"``."""
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
    }
    items = [f"{short.get(k, k)}={v}" for rdn in parts or () for k, v in rdn]
    return ", ".join(items) or "?"


def _describe_cert(decoded: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": _name(decoded.get("subject")),
        "issuer": _name(decoded.get("issuer")),
        "not_after": decoded.get("notAfter"),
    }


def _decode_der(der: bytes) -> dict[str, Any] | None:
    """Subject and issuer of a certificate that was not verified (stdlib only)."""
    decode: Callable[[str], dict[str, Any]] | None = getattr(ssl._ssl, "_test_decode_cert", None)  # type: ignore[attr-defined]
    if decode is None:  # pragma: no cover - CPython has it on every supported version
        return None
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(ssl.DER_cert_to_PEM_cert(der))
        return _describe_cert(decode(path))
    except (ssl.SSLError, OSError, ValueError):  # pragma: no cover - defensive
        return None
    finally:
        os.unlink(path)


def _proxy_for(host: str) -> str | None:
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _connection(
    host: str, port: int, context: ssl.SSLContext, timeout: float, proxy: str | None
) -> http.client.HTTPSConnection:
    if proxy is None:
        return http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, context=context, timeout=timeout
    )
    headers = {}
    if parts.username:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    conn.set_tunnel(host, port, headers)
    return conn


_VERIFY_WORDS = {
    2: "the certificate's issuer is not among the trusted CAs",
    9: "the certificate is not valid yet: check this machine's clock",
    10: "the certificate has expired: check this machine's clock, or an old intercepting proxy",
    18: "the server sent a self-signed certificate",
    19: "the certificate chain ends in a self-signed CA that is not trusted here",
    20: "the certificate chain ends in a CA that is not trusted here",
    62: "the certificate is not for this host name: something between you and the host "
    "answered instead (a proxy or a captive portal)",
}


def _handshake(
    label: str, host: str, port: int, context: ssl.SSLContext, *, timeout: float, proxy: str | None
) -> Attempt:
    try:
        conn = _connection(host, port, context, timeout, proxy)
    except ValueError as exc:  # HTTPS_PROXY=http://[::1 ...
        return Attempt(label, False, "proxy", f"the proxy {proxy!r} is not a valid URL ({exc})")
    try:
        conn.connect()
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True)
        decoded = sock.getpeercert()
        peer = _describe_cert(decoded) if decoded else (_decode_der(der) if der else None)
        return Attempt(label, True, tls_version=sock.version(), peer=peer)
    except ssl.SSLCertVerificationError as exc:
        words = _VERIFY_WORDS.get(exc.verify_code or -1, "")
        detail = exc.verify_message or str(exc)
        text = f"certificate verify failed: {detail}" + (f" ({words})" if words else "")
        return Attempt(label, False, "verify", text)
    except ssl.SSLError as exc:
        return Attempt(label, False, "tls", f"TLS error: {exc.reason or exc}")
    except socket.gaierror as exc:
        return Attempt(label, False, "dns", f"cannot resolve {host}: {exc.strerror or exc}")
    except ConnectionRefusedError:
        return Attempt(label, False, "refused", f"connection to {host}:{port} refused")
    except (socket.timeout, TimeoutError):
        return Attempt(label, False, "timeout", f"no answer within {timeout:g} s")
    except OSError as exc:
        kind = "proxy" if "Tunnel connection failed" in str(exc) else "network"
        return Attempt(label, False, kind, str(exc) or type(exc).__name__)
    finally:
        conn.close()


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check(
    url: str | None = None, *, cafile: str | None = None, timeout: float = 10.0
) -> OnlineReport:
    """Handshake with ``url``'s host (default: where downloads go) and explain the result."""
    url = url or default_url()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.hostname or ""
    port = parts.port or 443
    proxy = _proxy_for(host)
    report = OnlineReport(url, host, port, proxy)
    if cafile is not None:
        label = f"the CA file {cafile}"
        context = make_cafile_policy(cafile, None).make()
    else:
        label = "Python's default CA certificates"
        context = ssl._create_default_https_context()
    first = _handshake(label, host, port, context, timeout=timeout, proxy=proxy)
    report.attempts.append(first)
    if first.ok:
        return report
    via = f" through the proxy {proxy}" if proxy else ""
    if first.kind != "verify":
        _explain_network(report, first, via)
        return report
    import certifi  # noqa: PLC0415 - needed only when verification failed

    with_certifi = _handshake(
        "certifi's CA bundle",
        host,
        port,
        ssl.create_default_context(cafile=certifi.where()),
        timeout=timeout,
        proxy=proxy,
    )
    seen = _handshake(
        "no verification (to see the certificate)",
        host,
        port,
        _unverified(),
        timeout=timeout,
        proxy=proxy,
    )
    report.attempts += [with_certifi, seen]
    _explain_verify(report, (first, with_certifi, seen), cafile, via)
    return report


def _explain_network(report: OnlineReport, first: Attempt, via: str) -> None:
    where = f"{report.host}:{report.port}{via}"
    reasons = {
        "dns": f"The name {report.host} could not be resolved: no network, no DNS, or a network "
        "that only reaches the internet through a proxy.",
        "refused": f"{where} refused the connection: a firewall, or the wrong host/port.",
        "timeout": f"{where} did not answer: a firewall drops the traffic, or a proxy is needed.",
        "proxy": f"The proxy refused to open a tunnel to {report.host}: {first.error}.",
        "tls": f"The TLS handshake with {where} failed ({first.error}): often a proxy or "
        "firewall that interferes with TLS, or a port that does not speak TLS.",
    }
    report.explanation.append(
        reasons.get(first.kind or "", f"Connecting to {where} failed: {first.error}.")
    )
    report.fixes += [
        "If you must go through a proxy, set HTTPS_PROXY (and NO_PROXY for local hosts); "
        "torch.hub, torchvision and tvcompat all use it.",
        "Use a mirror you can reach: TVCOMPAT_WEIGHTS_MIRROR=<https URL or local folder> "
        "(same file names), filled with `tvcompat download MODEL` on a machine that has access.",
        "Or prefetch there and copy the torch hub cache (`tvcompat cache verify` checks it), "
        "then run with TVCOMPAT_OFFLINE=1.",
    ]


def _explain_verify(
    report: OnlineReport, attempts: tuple[Attempt, Attempt, Attempt], cafile: str | None, via: str
) -> None:
    first, with_certifi, seen = attempts
    host = report.host
    issuer = seen.peer["issuer"] if seen.ok and seen.peer else None
    report.explanation.append(
        f"The certificate presented for {host}{via} is not trusted by {first.label}."
    )
    if issuer:
        report.explanation.append(f"It was issued by: {issuer}.")
    if with_certifi.ok:
        report.explanation.append(
            "certifi's bundle (Mozilla's public roots) does verify it: this Python lacks root "
            "certificates (python.org installs on macOS, minimal containers)."
        )
    elif issuer:
        report.explanation.append(
            "certifi's bundle does not verify it either: a certificate from a private CA, "
            "typically a TLS-intercepting proxy or antivirus of your organisation."
        )
    certifi_fix = (
        "certifi: `tvcompat download MODEL --certifi`, or `with tvcompat.certifi_downloads():` "
        "in Python (on python.org macOS installs, running 'Install Certificates.command' once "
        "fixes it for every program)"
    )
    report.fixes.append(
        certifi_fix + (" -- this fixes it here." if with_certifi.ok else " -- does not help here.")
    )
    ca_fix = (
        "your organisation's CA file (ask IT for the root CA certificate, PEM): "
        "`tvcompat download MODEL --cafile ca.pem`, `with tvcompat.cafile_downloads("
        "cafile='ca.pem'):`, or SSL_CERT_FILE=ca.pem for every Python program; "
        "`tvcompat doctor --online --cafile ca.pem` checks it"
    )
    if cafile is not None:
        ca_fix += f" -- the CA file {cafile} does not verify it"
    report.fixes.append(ca_fix)
    report.fixes.append(
        "a mirror you can verify: TVCOMPAT_WEIGHTS_MIRROR=<https URL or local folder> with the "
        "same file names (filled with `tvcompat download MODEL` on a machine that has access)"
    )
    report.fixes.append(
        "last resort, no certificate verification: `tvcompat download MODEL --insecure` or "
        "`with tvcompat.insecure_downloads():` (weights files are still checked against the "
        "sha256 prefix in their names)"
    )
