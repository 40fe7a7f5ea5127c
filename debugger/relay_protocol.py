"""The worker <-> node agent channel: where the agent's Unix socket is, and what goes over it.

Why a Unix socket in the node's session dir: a paused worker must reach its own node's agent
without any credential of its own. The socket file lives under Ray's session dir with mode
0600 in a 0700 directory, so only the user running Ray (who can ptrace the workers anyway)
can register sessions or receive resume commands. Nothing listens on a network address.

One JSON object per line. Worker -> agent: ``{"op": "up", "port": P, "session": {PausedSession fields}}`` and
``{"op": "down", "session_id": ...}``. Agent -> worker: ``{"op": "resume", "session_id": ...}``.
A closed connection means every session it announced is gone (the worker died or resumed).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal, Optional, get_args

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


def up_message(session: dict[str, Any], port: int) -> bytes:
    """`session`: PausedSession fields (the agent checks them). `port`: the worker's debugpy port
    on 127.0.0.1, 0 while debugpy is still starting; it never leaves the node."""
    return encode({"op": "up", "port": port, "session": session})


def down_message(session_id: str) -> bytes:
    return encode({"op": "down", "session_id": session_id})


def resume_message(session_id: str) -> bytes:
    return encode({"op": "resume", "session_id": session_id})


@dataclass(frozen=True)
class PausedSession:
    """What a paused worker announces in its `up` message (the agent relays it to the head as
    `DebugSessionUp`; the head builds the API's DebugSession from that).

    A plain dataclass checked by hand, not the API model: the agent runs on every node and must not
    load pydantic or the head's modules for it (tests/test_import_boundaries.py).
    """

    session_id: str
    cluster_id: str
    reason: str  # one of REASONS
    node_id: str
    pid: int
    paused_at: float
    exception: Optional[str] = None
    job_id: Optional[str] = None
    task_id: Optional[str] = None
    attempt: Optional[int] = None
    actor_id: Optional[str] = None
    function: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    worker_id: Optional[str] = None
    working_dir: Optional[str] = None

    @classmethod
    def from_message(cls, raw: Any) -> "PausedSession":
        """Check the `session` object of an `up` message; ValueError names the first bad field.
        Fields this version does not know (e.g. `state`, `node_ip`) are ignored."""
        if not isinstance(raw, dict):
            raise ValueError(f"session must be an object, not {type(raw).__name__}")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw or raw[f.name] is None:
                if f.default is MISSING:
                    raise ValueError(f"session.{f.name} is missing")
                continue
            v = raw[f.name]
            want = _FIELD_TYPES[f.name]
            if want is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not isinstance(v, want) or isinstance(v, bool):
                raise ValueError(f"session.{f.name} must be {want.__name__}, not {type(v).__name__}")
            values[f.name] = v
        if values["reason"] not in REASONS:
            raise ValueError(f"session.reason must be one of {', '.join(REASONS)}, not {values['reason']!r}")
        return cls(**values)


_INT_FIELDS = {"pid", "attempt", "line"}
_FIELD_TYPES: dict[str, type] = {
    f.name: int if f.name in _INT_FIELDS else float if f.name == "paused_at" else str for f in fields(PausedSession)
}
