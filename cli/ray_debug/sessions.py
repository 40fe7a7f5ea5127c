"""The head's debug-session API as `ray-debug` needs it: list, pick, wait, ticket, tunnel.

One place turns "INDEX or SESSION_ID" into a session, waits for a new one, and opens a DAP
connection through the head's tunnel with a fresh single-use ticket.
"""
from __future__ import annotations

import os
import socket
import time
from typing import Callable, Optional, Sequence

from rayscope.cli.client import HeadClient, HeadError, HeadNotFound, tls_context
from rayscope.dashboard.models import DebugSession, DebugTicket
from rayscope.debugger.dap import DapClient, PathMapping, WebSocketTransport, tunnel_url

SESSIONS_PATH = "/debug/sessions"
WAIT_POLL_S = 0.2


class NoSession(HeadError):
    """No paused session matches what the user asked for."""


def client_identity(kind: str = "ray-debug") -> str:
    """The `X-Rayscope-Client` value the head records as `attached_by` (who holds a session)."""
    return f"{kind}@{socket.gethostname()}"


def path_mapping(local_root: str, remote_root: Optional[str]) -> Optional[PathMapping]:
    """Local checkout <-> the worker's code root (its working dir, e.g. Ray's unpacked
    working_dir package). None when there is nothing to map: no remote root, the same directory,
    or "/" (which would remap every absolute path)."""
    local = os.path.abspath(local_root)
    if not remote_root or remote_root.rstrip("/") in ("", local.rstrip("/")):
        return None
    return PathMapping(local, remote_root)


def list_sessions(client: HeadClient, job_id: Optional[str] = None) -> list[DebugSession]:
    """Every live session (paused or attached), oldest first: the order `ray-debug list` numbers."""
    params = [("job_id", job_id)] if job_id else []
    rows = list(client.iter_rows(SESSIONS_PATH, DebugSession, params))
    return sorted(rows, key=lambda s: (s.paused_at, s.session_id))


def get_session(client: HeadClient, session_id: str) -> DebugSession:
    return client.get(f"{SESSIONS_PATH}/{session_id}", DebugSession)


def session_exists(client: HeadClient, session_id: str) -> bool:
    """False only when the head says the session is gone; other errors count as "still there"."""
    try:
        get_session(client, session_id)
    except HeadNotFound:
        return False
    except HeadError:
        return True
    return True


def pick_session(sessions: Sequence[DebugSession], which: str) -> DebugSession:
    """`which` is an index of `ray-debug list` or a session id (a unique prefix is enough)."""
    if which.isdigit() and len(which) < 6:
        index = int(which)
        if index >= len(sessions):
            raise NoSession(
                f"no session with index {index}: {len(sessions)} paused (see `ray-debug list`)"
            )
        return sessions[index]
    matches = [s for s in sessions if s.session_id == which] or [
        s for s in sessions if s.session_id.startswith(which)
    ]
    if len(matches) > 1:
        raise NoSession(f"session id prefix {which!r} is ambiguous: {len(matches)} sessions match")
    if not matches:
        raise NoSession(f"no paused session {which!r} (it may have resumed; see `ray-debug list`)")
    return matches[0]


def wait_for_session(
    client: HeadClient, job_id: Optional[str], timeout: Optional[float],
    known: Sequence[str] = (), on_wait: Optional[Callable[[], None]] = None,
) -> DebugSession:
    """Poll until a paused, unattached session not in `known` appears; the oldest such one."""
    deadline = None if timeout is None else time.monotonic() + timeout
    announced = False
    while True:
        fresh = [
            s for s in list_sessions(client, job_id)
            if s.state == "paused" and s.session_id not in known
        ]
        if fresh:
            return fresh[0]
        if not announced and on_wait is not None:
            on_wait()
            announced = True
        if deadline is not None and time.monotonic() >= deadline:
            raise NoSession(f"no session paused within {timeout:g} s")
        time.sleep(WAIT_POLL_S)


def request_ticket(client: HeadClient, session_id: str, identity: str) -> DebugTicket:
    """A single-use ticket; 409 (already attached by …) and 404 (gone) come back as HeadErrors."""
    path = f"{SESSIONS_PATH}/{session_id}/ticket"
    try:
        data = client.post_json(path, headers={"X-Rayscope-Client": identity})
    except HeadNotFound as exc:
        raise NoSession(str(exc)) from None
    return client.parse(path, DebugTicket, data)


def open_tunnel(client: HeadClient, ticket: DebugTicket, timeout: float) -> WebSocketTransport:
    """The WebSocket to the worker's debugpy, through the head and the node's agent; wss:// for an
    https head, verified against the same CA as the HTTP calls (--tls-ca)."""
    headers = {"Authorization": f"Bearer {client.target.token}"} if client.target.token else {}
    return WebSocketTransport.connect(tunnel_url(client.target.url, ticket.tunnel_path), headers, timeout,
                                      ssl_context=tls_context(client.target))


def connect_dap(client: HeadClient, session_id: str, identity: str, timeout: float) -> DapClient:
    """Ticket + tunnel + a DAP client on it (not yet attached)."""
    ticket = request_ticket(client, session_id, identity)
    return DapClient(open_tunnel(client, ticket, timeout), timeout)
