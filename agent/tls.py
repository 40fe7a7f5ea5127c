"""The agent's side of the head's optional TLS: `--tls-ca FILE` turns it on for every channel.

Both the shipper (Ingest/Stream) and the debug relay (Ingest/Debug) dial the head through
these helpers, so the two can never disagree about TLS. The CA file is read once at startup
(a wrong path is a clear startup error, not a reconnect loop); without it the channels stay
insecure exactly as before. Ray's RAY_TLS_* variables are deliberately not read here: only the
flag turns TLS on (docs/architecture.md: TLS).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import grpc


class TlsCaError(ValueError):
    """The --tls-ca file cannot be used; `str(err)` is one line."""


def channel_credentials(ca_file: Optional[str]) -> Optional[grpc.ChannelCredentials]:
    """Credentials verifying the head's certificate against `ca_file`; None means plaintext."""
    if not ca_file:
        return None
    try:
        with open(ca_file, "rb") as f:
            pem = f.read()
    except OSError as exc:
        raise TlsCaError(f"cannot read --tls-ca {ca_file}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise TlsCaError(f"--tls-ca {ca_file} holds no PEM certificate")
    return grpc.ssl_channel_credentials(root_certificates=pem)


def open_channel(head: str, credentials: Optional[grpc.ChannelCredentials],
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A blocking channel to the head: TLS with credentials, insecure without."""
    if credentials is None:
        return grpc.insecure_channel(head, options=list(options))
    return grpc.secure_channel(head, credentials, options=list(options))


def open_aio_channel(head: str, credentials: Optional[grpc.ChannelCredentials],
                     options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """The asyncio twin of `open_channel` (the debug relay runs on its own event loop)."""
    if credentials is None:
        return grpc.aio.insecure_channel(head, options=list(options))
    return grpc.aio.secure_channel(head, credentials, options=list(options))
