"""Why the agent cannot talk to the head, in a few words a user can act on.

gRPC folds almost every link failure into UNAVAILABLE with a long C-core string
("failed to connect to all addresses; last error: UNKNOWN: ipv4:…: Tls handshake failed
(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: …"). `rayscope status` and `rayscope start`'s failure
line show the shipper's `stats.last_error`, so it must say "connection refused", "timed out",
"bad token (UNAUTHENTICATED)" or "TLS handshake failed (…)" instead.

One case gRPC cannot tell at all: a plaintext agent dialling a TLS head sees only "Socket
closed". `link_failure_reason` then asks the head itself (`head_speaks_tls`: one TLS
handshake, nothing sent) so the reason names the TLS mismatch rather than guessing.
"""
from __future__ import annotations

import re
import socket
import ssl
from typing import Optional

import grpc

TLS_PROBE_TIMEOUT_S = 3.0

# Substrings of gRPC's details, checked in order; the first match names the reason.
_TLS_REASONS: tuple[tuple[str, str], ...] = (
    ("Hostname Verification Check failed", "the head's certificate does not name the address dialled; "
                                           "add it to the certificate's subjectAltName"),
    ("CERTIFICATE_VERIFY_FAILED", "the head's certificate is not signed by the --tls-ca file"),
    ("WRONG_VERSION_NUMBER", "the head does not speak TLS: start it with --tls-cert/--tls-key or drop --tls-ca"),
    ("Handshake read failed", "the head did not complete the handshake"),
)
_TLS_MARKERS = ("Tls handshake failed", "Ssl handshake failed", "SSL_ERROR", "Handshake read failed",
                "Hostname Verification Check failed")
_CLOSED_MARKERS = ("Socket closed", "Connection reset", "Broken pipe", "Endpoint closing")


def _details(err: grpc.RpcError) -> str:
    details = err.details() if hasattr(err, "details") else None
    return str(details if details is not None else err)


def _code(err: grpc.RpcError) -> Optional[grpc.StatusCode]:
    return err.code() if hasattr(err, "code") else None


def _openssl_text(details: str) -> str:
    """`…CERTIFICATE_VERIFY_FAILED: self signed certificate: OK` -> `self signed certificate`."""
    m = re.search(r"OPENSSL_internal:[A-Z_]+: ([^:]+)", details)
    return m.group(1).strip() if m else ""


def _tls_reason(details: str) -> str:
    for marker, words in _TLS_REASONS:
        if marker in details:
            extra = _openssl_text(details) if marker == "CERTIFICATE_VERIFY_FAILED" else ""
            return f"TLS handshake failed ({words}{': ' + extra if extra else ''})"
    m = re.search(r"OPENSSL_internal:([A-Z_]+)", details)
    return f"TLS handshake failed ({m.group(1) if m else 'see the agent log'})"


def _last_error(details: str) -> str:
    """The useful tail of gRPC's `failed to connect to all addresses; last error: …: ipv4:H:P: X`."""
    tail = details.rsplit("last error:", 1)[-1]
    tail = re.sub(r"^\s*[A-Z_]+:\s*", "", tail)
    tail = re.sub(r"^(ipv4|ipv6|unix):\S+?:\d+:\s*", "", tail)
    return tail.strip() or details.strip()


def describe_rpc_error(err: grpc.RpcError) -> str:
    """A short reason for a failed call to the head: "connection refused", "timed out",
    "bad token (UNAUTHENTICATED)", "TLS handshake failed (…)", "connection closed by the head (…)",
    else "CODE: first line of gRPC's details"."""
    code = _code(err)
    details = _details(err)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return "bad token (UNAUTHENTICATED)"
    if any(marker in details for marker in _TLS_MARKERS):
        return _tls_reason(details)
    lower = details.lower()
    if "connection refused" in lower:
        return "connection refused"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or "timed out" in lower or "timeout" in lower:
        return "timed out"
    if "errors resolving" in lower or "dns resolution failed" in lower:
        return f"cannot resolve the head's host ({_last_error(details).splitlines()[0]})"
    if "no route to host" in lower or "network is unreachable" in lower:
        return "no route to the head's host"
    if any(marker in details for marker in _CLOSED_MARKERS):
        return f"connection closed by the head ({_last_error(details).splitlines()[0]})"
    name = code.name if code is not None else type(err).__name__
    first = _last_error(details).splitlines()[0] if details.strip() else ""
    return f"{name}: {first}" if first else name


def _split_address(address: str) -> Optional[tuple[str, int]]:
    """`host:port`, `[v6]:port`, `dns:///host:port` -> (host, port); None if it is not one."""
    target = address.split("///", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def head_speaks_tls(address: str, timeout: float = TLS_PROBE_TIMEOUT_S) -> bool:
    """True when a TLS handshake with `address` completes, or the peer answers it with a TLS
    alert: either way the peer speaks TLS. Nothing is verified and nothing is sent after the
    handshake, so no secret leaves the agent."""
    parts = _split_address(address)
    if parts is None:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection(parts, timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=None):
                return True
    except ssl.SSLError as exc:
        return "ALERT" in str(exc).upper()
    except OSError:
        return False


def link_failure_reason(err: grpc.RpcError, head: str, tls: bool) -> str:
    """`describe_rpc_error`, plus the one mismatch gRPC hides: a plaintext agent whose connection
    the head closed, where the head turns out to speak TLS."""
    reason = describe_rpc_error(err)
    if not tls and reason.startswith("connection closed") and head_speaks_tls(head):
        return "TLS mismatch: the head serves TLS, this agent connects without it (start it with --tls-ca FILE)"
    return reason
