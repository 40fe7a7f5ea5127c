"""The worker <-> node agent channel: where the agent's Unix socket is, and what goes over it.

Why a Unix socket in the node's session dir: a paused worker must reach its own node's agent
without any credential of its own. The socket file lives under Ray's session dir with mode
0600 in a 0700 directory, so only the user running Ray (who can ptrace the workers anyway)
can register sessions or receive resume commands. Nothing listens on a network address.

One JSON object per line. Worker -> agent: ``{"op": "up", "port": P, "token": T, "session": {DebugSessionUp fields}}`` and
``{"op": "down", "session_id": ...}``. Agent -> worker: ``{"op": "resume", "session_id": ...}``.
A closed connection means every session it announced is gone (the worker died or resumed).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any, Literal, get_args

SOCKET_NAME = "debug.sock"
# Why a worker paused: the one list (the API model DebugSession.reason uses it too).
Reason = Literal["breakpoint", "exception"]
REASONS: tuple[str, ...] = get_args(Reason)
MAX_UNIX_PATH = 100  # Linux allows 107 bytes; keep a margin


def socket_path(session_dir: str) -> str:
    """The agent's socket for a Ray session dir; worker and agent compute it the same way.

    ``<session>/rayscope/debug.sock`` when that is short enough for a Unix socket, else a
    per-user 0700 dir under the temp dir keyed by the resolved session dir.
    """
    real = os.path.realpath(session_dir)
    path = os.path.join(real, "rayscope", SOCKET_NAME)
    if len(path.encode()) <= MAX_UNIX_PATH:
        return path
    digest = hashlib.sha256(real.encode()).hexdigest()[:20]
    return os.path.join(tempfile.gettempdir(), f"rayscope-{os.getuid()}", f"dbg-{digest}.sock")


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def up_message(session: dict[str, Any], port: int, token: str) -> bytes:
    """`session`: the fields of the wire's DebugSessionUp (the agent checks them). `port`: the worker's debugpy
    port on 127.0.0.1, 0 while debugpy is still starting. `token`: the access token that port demands
    (debugpy_auth), "" with port 0. Neither leaves the node."""
    return encode({"op": "up", "port": port, "token": token, "session": session})


def down_message(session_id: str) -> bytes:
    return encode({"op": "down", "session_id": session_id})


def resume_message(session_id: str) -> bytes:
    return encode({"op": "resume", "session_id": session_id})

