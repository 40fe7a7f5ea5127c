"""The agent's half of the debugger: paused workers register here, the head tunnels through here.

Workers on this node announce paused sessions over a Unix socket in the session dir
(debugger/relay_protocol.py); the relay forwards them to the head over `Ingest/Debug`, a
gRPC stream the agent dials out (the head never dials an agent). When the head asks to open
a tunnel for a session, the relay connects to that worker's debugpy port on 127.0.0.1 (the
port comes from the worker's own registration, never from the head), presents the access
token the worker registered with it (debugger/debugpy_auth.py), and carries the bytes.
Runs its own asyncio loop in one daemon thread. With `credentials` (the agent's --tls-ca) the
stream to the head is TLS, like the shipper's.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import grpc
from google.protobuf.descriptor import FieldDescriptor

from rayscope.agent.side_streams import LoopThread, open_call, redial_forever, write_outbox
from rayscope.agent.tls import open_aio_channel
from rayscope.debugger import debugpy_auth
from rayscope.debugger import relay_protocol as rp
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import DEBUG, method_path

log = logging.getLogger(__name__)

METHOD = method_path(DEBUG)
READ_CHUNK = 64 * 1024
PORT_WAIT_S = 15.0


@dataclass
class _WorkerConn:
    writer: asyncio.StreamWriter
    sessions: set[str] = field(default_factory=set)


@dataclass
class _Tunnel:
    writer: asyncio.StreamWriter
    pump: Optional[asyncio.Task[None]] = None


class DebugRelay(LoopThread):
    what = "debug relay"

    def __init__(self, session_dir: str, head: str, token_reader: Callable[[], str],
                 node_id: str, node_ip: str, session_name: str,
                 credentials: Optional[grpc.ChannelCredentials] = None) -> None:
        super().__init__("rayscope-debug-relay")
        self.socket_path = rp.socket_path(session_dir)
        self.head = head
        self.token_reader = token_reader
        self.credentials = credentials  # None: plaintext, as without --tls-ca
        self.hello = pb.DebugHello(node_id=node_id, node_ip=node_ip, session_name=session_name)
        self.sessions: dict[str, pb.DebugSessionUp] = {}
        self.ports: dict[str, int] = {}  # session id -> the worker's debugpy port on 127.0.0.1
        self.tokens: dict[str, str] = {}  # session id -> that port's access token (debugpy_auth)
        self.owners: dict[str, _WorkerConn] = {}
        self.tunnels: dict[int, _Tunnel] = {}
        self.outbox: Optional[asyncio.Queue[pb.DebugAgentMessage]] = None
        self.ready = threading.Event()

    async def _main(self) -> None:
        self._halt = asyncio.Event()
        self.outbox = asyncio.Queue()
        server = await self._listen()
        self.ready.set()
        head = asyncio.create_task(redial_forever(self._head_once, self._close_all_tunnels, "debug", self.head))
        try:
            await self._halt.wait()
        finally:
            head.cancel()
            server.close()
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)

    # ------------------------------------------------------------------ workers
    async def _listen(self) -> asyncio.AbstractServer:
        d = os.path.dirname(self.socket_path)
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(self.socket_path).st_mode):
                os.unlink(self.socket_path)  # a previous agent's; workers reconnect to ours
        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self._worker, path=self.socket_path)
        finally:
            os.umask(old)
        log.info("debug relay: workers register at %s", self.socket_path)
        return server

    async def _worker(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _WorkerConn(writer)
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    if msg.get("op") == "up":
                        self._up(conn, session_up(msg["session"]), int(msg["port"]), str(msg.get("token", "")))
                    elif msg.get("op") == "down":
                        self._down(str(msg["session_id"]))
                    else:
                        log.warning("debug relay: unknown worker message %r", line[:200])
                except (ValueError, KeyError, TypeError) as err:
                    log.warning("debug relay: bad worker message (%s): %r", err, line[:200])
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for sid in list(conn.sessions):
                self._down(sid)
            writer.close()

    def _up(self, conn: _WorkerConn, info: pb.DebugSessionUp, port: int, token: str) -> None:
        self.sessions[info.session_id] = info
        self.ports[info.session_id] = port
        self.tokens[info.session_id] = token
        self.owners[info.session_id] = conn
        conn.sessions.add(info.session_id)
        self._send(pb.DebugAgentMessage(up=info))

    def _down(self, session_id: str) -> None:
        if self.sessions.pop(session_id, None) is None:
            return
        self.ports.pop(session_id, None)
        self.tokens.pop(session_id, None)
        conn = self.owners.pop(session_id, None)
        if conn is not None:
            conn.sessions.discard(session_id)
        self._send(pb.DebugAgentMessage(down=pb.DebugSessionDown(session_id=session_id)))

    def _send(self, msg: pb.DebugAgentMessage) -> None:
        if self.outbox is not None:
            self.outbox.put_nowait(msg)

    # ------------------------------------------------------------------ head
    async def _head_once(self) -> None:
        assert self.outbox is not None
        async with open_aio_channel(self.head, self.credentials) as channel:
            call = open_call(channel, METHOD, pb.DebugAgentMessage, pb.DebugHeadMessage, self.token_reader())
            while not self.outbox.empty():  # a fresh stream starts from a full snapshot
                self.outbox.get_nowait()
            await call.write(pb.DebugAgentMessage(hello=self.hello))
            for info in self.sessions.values():
                await call.write(pb.DebugAgentMessage(up=info))
            writer = asyncio.create_task(write_outbox(call, self.outbox))
            try:
                while True:
                    msg = await call.read()
                    if not isinstance(msg, pb.DebugHeadMessage):  # grpc.aio.EOF: the head closed it
                        return
                    await self._handle(msg)
            finally:
                writer.cancel()
                call.cancel()

    async def _handle(self, msg: pb.DebugHeadMessage) -> None:
        kind = msg.WhichOneof("kind")
        if kind == "open":
            await self._open(msg.open.tunnel_id, msg.open.session_id)
        elif kind == "data":
            t = self.tunnels.get(msg.data.tunnel_id)
            if t is not None:
                t.writer.write(msg.data.data)
                with contextlib.suppress(ConnectionError):
                    await t.writer.drain()
        elif kind == "close":
            await self._close_tunnel(msg.close.tunnel_id, notify=False)
        elif kind == "resume":
            conn = self.owners.get(msg.resume.session_id)
            if conn is not None:
                conn.writer.write(rp.resume_message(msg.resume.session_id))

    # ------------------------------------------------------------------ tunnels
    async def _open(self, tunnel_id: int, session_id: str) -> None:
        port = await self._port_of(session_id)
        if port is None:
            self._send(pb.DebugAgentMessage(closed=pb.TunnelClosed(
                tunnel_id=tunnel_id, reason=f"session {session_id} is gone (worker resumed or died)")))
            return
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as err:
            self._send(pb.DebugAgentMessage(closed=pb.TunnelClosed(
                tunnel_id=tunnel_id, reason=f"cannot reach the worker's debugger on 127.0.0.1:{port}: {err}")))
            return
        try:
            said = await debugpy_auth.authorize(reader, writer, self.tokens.get(session_id, ""))
        except debugpy_auth.AuthorizeFailed as err:
            writer.close()
            self._send(pb.DebugAgentMessage(closed=pb.TunnelClosed(tunnel_id=tunnel_id, reason=str(err))))
            return
        tunnel = _Tunnel(writer)
        self.tunnels[tunnel_id] = tunnel
        self._send(pb.DebugAgentMessage(opened=pb.TunnelOpened(tunnel_id=tunnel_id)))
        for data in said:  # whatever the debugger said before answering the token goes to the client
            self._send(pb.DebugAgentMessage(data=pb.TunnelData(tunnel_id=tunnel_id, data=data)))
        tunnel.pump = asyncio.create_task(self._pump(tunnel_id, reader))

    async def _port_of(self, session_id: str) -> Optional[int]:
        """The worker announces itself before debugpy listens (port 0); wait for the port."""
        for _ in range(int(PORT_WAIT_S / 0.05)):
            port = self.ports.get(session_id)
            if port != 0:
                return port
            await asyncio.sleep(0.05)
        return None

    async def _pump(self, tunnel_id: int, reader: asyncio.StreamReader) -> None:
        reason = ""
        try:
            while data := await reader.read(READ_CHUNK):
                self._send(pb.DebugAgentMessage(data=pb.TunnelData(tunnel_id=tunnel_id, data=data)))
        except ConnectionError as err:
            reason = f"the worker's debugger connection failed: {err}"
        if self.tunnels.pop(tunnel_id, None) is not None:
            self._send(pb.DebugAgentMessage(closed=pb.TunnelClosed(tunnel_id=tunnel_id, reason=reason)))

    async def _close_tunnel(self, tunnel_id: int, notify: bool) -> None:
        t = self.tunnels.pop(tunnel_id, None)
        if t is None:
            return
        if t.pump is not None:
            t.pump.cancel()
        t.writer.close()
        if notify:
            self._send(pb.DebugAgentMessage(closed=pb.TunnelClosed(tunnel_id=tunnel_id)))

    async def _close_all_tunnels(self) -> None:
        for tid in list(self.tunnels):
            await self._close_tunnel(tid, notify=False)


# What a worker's `up` message must carry; its other fields may be absent (None).
_REQUIRED = ("session_id", "cluster_id", "reason", "pid", "paused_at")
_PYTHON_TYPES: dict[int, tuple[type, ...]] = {
    FieldDescriptor.TYPE_STRING: (str,), FieldDescriptor.TYPE_INT32: (int,), FieldDescriptor.TYPE_DOUBLE: (int, float),
}


def session_up(raw: Any) -> pb.DebugSessionUp:
    """The wire message for a paused worker's announcement (the `session` of its `up` message).

    The fields are the wire's (DebugSessionUp), checked by hand: the agent runs on every node and
    must not load pydantic or the head's API models for this (tests/test_import_boundaries.py).
    ValueError names the first bad field; fields the wire does not carry (`state`, `node_ip`, ...)
    are ignored, None is left unset."""
    if not isinstance(raw, dict):
        raise ValueError(f"session must be an object, not {type(raw).__name__}")
    up = pb.DebugSessionUp()
    for f in pb.DebugSessionUp.DESCRIPTOR.fields:
        value = raw.get(f.name)
        if value is None:
            if f.name in _REQUIRED:
                raise ValueError(f"session.{f.name} is missing")
            continue
        want = _PYTHON_TYPES[f.type]
        if isinstance(value, bool) or not isinstance(value, want):
            raise ValueError(f"session.{f.name} must be {want[-1].__name__}, not {type(value).__name__}")
        setattr(up, f.name, value)  # an int32 out of range is a ValueError too
    if up.reason not in rp.REASONS:
        raise ValueError(f"session.reason must be one of {', '.join(rp.REASONS)}, not {up.reason!r}")
    return up
