"""`ray-debug forward`: a local 127.0.0.1 port any DAP client can attach to.

Every client connection gets its own fresh single-use ticket and tunnel; the bytes are piped
unchanged, so the DAP conversation is entirely the client's (nvim-dap, VS Code, …).
"""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from rayscope.cli.client import HeadClient, HeadError
from rayscope.cli.ray_debug.sessions import NoSession, client_identity, open_tunnel, request_ticket
from rayscope.dashboard.models import DebugSession
from rayscope.debugger.dap import DapError, WebSocketTransport

Log = Callable[[str], None]


@dataclass(frozen=True)
class AttachConfig:
    """What a DAP client needs to attach to the forwarded port."""

    port: int
    local_root: str
    remote_root: Optional[str]  # the worker's working dir; None: no path mapping
    session_id: str

    def vscode(self) -> dict:
        config = {
            "name": f"Ray: attach {self.session_id[:8]}",
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": "127.0.0.1", "port": self.port},
            "justMyCode": False,
        }
        if self.remote_root:
            config["pathMappings"] = [{"localRoot": "${workspaceFolder}", "remoteRoot": self.remote_root}]
        return config

    def nvim_dap(self) -> str:
        mappings = (
            f", pathMappings = {{ {{ localRoot = {json.dumps(self.local_root)}, "
            f"remoteRoot = {json.dumps(self.remote_root)} }} }}" if self.remote_root else ""
        )
        return (
            "require('dap').run({ type = 'python', request = 'attach', name = 'Ray "
            f"{self.session_id[:8]}', connect = {{ host = '127.0.0.1', port = {self.port} }}, "
            f"justMyCode = false{mappings} }})"
        )

    def text(self) -> str:
        return "\n".join([
            "VS Code (.vscode/launch.json, \"configurations\"):",
            json.dumps(self.vscode(), indent=2),
            "",
            "nvim-dap (:lua):",
            self.nvim_dap(),
        ])

    def as_json(self) -> str:
        return json.dumps({
            "port": self.port, "session_id": self.session_id, "vscode": self.vscode(),
            "nvim_dap": self.nvim_dap(),
        })


def listen_local(port: int) -> socket.socket:
    """The local end: loopback only, like every Rayscope listener."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", port))
    except OSError as exc:
        server.close()
        raise HeadError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    server.listen(4)
    return server


def _pipe_tcp_to_ws(conn: socket.socket, ws: WebSocketTransport) -> None:
    try:
        while data := conn.recv(65536):
            ws.send(data)
    except (OSError, DapError):
        pass
    ws.close()


def _pipe_ws_to_tcp(conn: socket.socket, ws: WebSocketTransport) -> None:
    try:
        while data := ws.recv():
            conn.sendall(data)
    except OSError:
        pass
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def serve_one(client: HeadClient, session: DebugSession, conn: socket.socket, timeout: float, log: Log) -> bool:
    """Pipe one DAP client through a fresh tunnel until either side closes.
    Returns False when the session is gone (nothing more to forward)."""
    try:
        ticket = request_ticket(client, session.session_id, client_identity("ray-debug-forward"))
        ws = open_tunnel(client, ticket, timeout)
    except (HeadError, DapError) as exc:
        log(f"error: {exc}")
        conn.close()
        return not isinstance(exc, NoSession)
    log(f"client connected; tunnel open to session {session.session_id}")
    back = threading.Thread(target=_pipe_ws_to_tcp, args=(conn, ws), daemon=True)
    back.start()
    _pipe_tcp_to_ws(conn, ws)
    back.join(timeout=5)
    conn.close()
    log(f"client disconnected{': ' + ws.close_reason if ws.close_reason else ''}")
    return True


def forward(
    client: HeadClient, session: DebugSession, server: socket.socket, timeout: float, log: Log,
    stop: Optional[threading.Event] = None,
) -> None:
    """Accept DAP clients one after another until Ctrl-C, `stop`, or the session is gone."""
    server.settimeout(0.5)
    while stop is None or not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        if not serve_one(client, session, conn, timeout, log):
            return
