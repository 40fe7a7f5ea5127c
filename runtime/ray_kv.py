"""Publishing and finding the Rayscope head through Ray's internal KV.

The head host writes ``{"http_url", "grpc_address"}`` under namespace ``rayscope``, key
``head``; ``rayscope start --address`` on any other host reads it to learn where its
agent ships. Talks to GCS with Ray's own client, so Ray's token auth applies.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator, Mapping

from rayscope.runtime.auth_token import ray_auth_enabled
from rayscope.runtime.reach import unreachable_reason

__all__ = ["HeadAddress", "KvError", "publish_head", "read_head"]

_NAMESPACE = b"rayscope"
_KEY = b"head"
_TIMEOUT_S = 10


class KvError(RuntimeError):
    """GCS could not be reached or holds something unreadable."""


@dataclass(frozen=True)
class HeadAddress:
    http_url: str
    grpc_address: str


def _client(gcs_address: str, env: Mapping[str, str]):
    """A GcsClient that sends the cluster token when Ray's token auth is on."""
    for key in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        if key in env:
            os.environ[key] = env[key]
    if ray_auth_enabled(env) and os.environ.get("RAY_AUTH_MODE") != "token":
        os.environ["RAY_AUTH_MODE"] = "token"
    from ray._raylet import Config, GcsClient  # type: ignore[attr-defined]  # Cython, not in its stub

    Config.initialize("")  # re-read RAY_AUTH_MODE, as Ray itself does after changing it
    return GcsClient(address=gcs_address)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Ray's C++ client logs its retries straight to fd 2; our caller prints one line instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "InvalidAuthToken" in text or type(exc).__name__ == "AuthenticationError":
        return ("it rejected this host's token (InvalidAuthToken): copy the head host's ~/.ray/auth_token "
                "here (or point RAY_AUTH_TOKEN_PATH at a copy)")
    return text.split(". ")[0]


def publish_head(gcs_address: str, head: HeadAddress, env: Mapping[str, str]) -> None:
    try:
        _client(gcs_address, env).internal_kv_put(
            _KEY, json.dumps(asdict(head)).encode(), True, _NAMESPACE, timeout=_TIMEOUT_S
        )
    except Exception as exc:  # Ray raises several types (RpcError, AuthenticationError...)
        raise KvError(f"cannot publish the head address in GCS {gcs_address}: {exc}") from None


def read_head(gcs_address: str, env: Mapping[str, str]) -> HeadAddress | None:
    unreachable = unreachable_reason(gcs_address)
    if unreachable is not None:
        raise KvError(f"cannot reach the Ray cluster at {gcs_address}: {unreachable}")
    try:
        with _quiet_stderr():
            raw = _client(gcs_address, env).internal_kv_get(_KEY, _NAMESPACE, timeout=_TIMEOUT_S)
    except Exception as exc:
        raise KvError(f"the Ray cluster at {gcs_address} did not say where its Rayscope head is: {_reason(exc)}") from None
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return HeadAddress(http_url=str(data["http_url"]), grpc_address=str(data["grpc_address"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise KvError(f"GCS key rayscope/head is not a Rayscope head address: {exc}") from None
