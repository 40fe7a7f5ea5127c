"""The head's optional TLS (`--tls-cert FILE --tls-key FILE`): one certificate for both listeners.

Why one module: the gRPC ingest (Stream and Debug) and uvicorn (REST API + WebSocket) must serve
the same certificate, and a bad pair must stop the head at startup with one clear line rather
than as a traceback from inside uvicorn's task or a silently unusable gRPC port.
Without the flags nothing changes: plain HTTP and an insecure gRPC port, as before.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TlsConfigError(SystemExit):
    """A certificate/key the head cannot use; `str(err)` is the one line printed on exit."""


@dataclass(frozen=True)
class ServerTls:
    """A certificate chain and its private key, both read and checked to match."""

    cert_file: Path
    key_file: Path
    cert_pem: bytes
    key_pem: bytes

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """For `add_secure_port`: no client certificates (agents authenticate with the token)."""
        return grpc.ssl_server_credentials([(self.key_pem, self.cert_pem)])

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config keywords; uvicorn applies them to the pre-bound socket too
        (`loop.create_server(sock=..., ssl=config.ssl)`)."""
        return {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"rayscope head: cannot read {what} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        raise TlsConfigError(f"rayscope head: {what} {path} is not a PEM file")
    return data


def load_server_tls(cert_file: Path, key_file: Path) -> ServerTls:
    """Read and check the pair with OpenSSL (what uvicorn will do) before anything listens, so a
    typo or a key of another certificate is one line on stderr, not a half-started head."""
    cert_pem = _read(cert_file, "--tls-cert")
    key_pem = _read(key_file, "--tls-key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except ssl.SSLError as exc:
        raise TlsConfigError(f"rayscope head: --tls-cert {cert_file} and --tls-key {key_file} cannot be used "
                             f"together: {_ssl_reason(exc)}") from None
    return ServerTls(cert_file, key_file, cert_pem, key_pem)


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason code in words where it is a common mistake."""
    reason = getattr(exc, "reason", None) or str(exc)
    if reason == "KEY_VALUES_MISMATCH":
        return "the key does not belong to the certificate"
    if reason in ("PEM_LIB", "NO_START_LINE"):
        return "not a PEM certificate/key (or an encrypted key: the key must not need a passphrase)"
    return str(reason)


def add_grpc_port(server: grpc.aio.Server, address: str, tls: ServerTls | None) -> int:
    """The ingest port, TLS when configured; returns the bound port (0 on failure, like gRPC)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.grpc_credentials())


def url_scheme(tls: ServerTls | None) -> str:
    return "https" if tls is not None else "http"
