"""A small typed Debug Adapter Protocol client (used by tests, `ray-debug attach` and `forward`).

Why our own: the DAP clients on PyPI are editor plugins or unmaintained, and we need exactly one
thing: speak DAP to debugpy over either a plain TCP socket (a worker's loopback port, Ray's own
debugpy port) or the head's WebSocket tunnel (binary messages carrying the raw, Content-Length
framed DAP bytes). The byte transport is pluggable; framing, request/response matching, the
event queue and timeouts live here once.

Every failure is a `DapError` whose `str()` is one line a CLI can print as is.
"""
from __future__ import annotations

import inspect
import itertools
import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Optional, Protocol, Sequence
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TIMEOUT_S = 15.0
MAX_QUEUED_EVENTS = 10_000  # unread events beyond this are dropped oldest-first (and counted)
_HEADER_END = b"\r\n\r\n"
_MAX_HEADER = 4096


# ---------------------------------------------------------------- errors


class DapError(Exception):
    """Any DAP client failure; `str(err)` is one line."""


class DapTimeout(DapError):
    """An expected response or event did not arrive in time."""


class DapClosed(DapError):
    """The connection ended (peer closed, tunnel refused the ticket, transport error)."""


class DapProtocolError(DapError):
    """The peer sent bytes that are not DAP."""


class DapRequestFailed(DapError):
    """The adapter answered a request with `success: false`."""

    def __init__(self, command: str, message: str, body: Optional[dict[str, Any]] = None) -> None:
        detail = ""
        if body and isinstance(body.get("error"), dict):
            detail = str(body["error"].get("format") or "")
        text = (message or detail or "failed").strip()
        lines = [line for line in text.splitlines() if line.strip()]
        super().__init__(f"{command}: {lines[-1].strip() if lines else text}")  # a traceback's last line
        self.command = command
        self.message = text  # in full (a traceback for a failed evaluate)
        self.body = body or {}


# ---------------------------------------------------------------- framing


def encode_message(message: dict[str, Any]) -> bytes:
    """One DAP message with its Content-Length header."""
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


class FrameDecoder:
    """Turns a byte stream, fed in arbitrary chunks, into decoded DAP messages."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        out: list[dict[str, Any]] = []
        while True:
            end = self._buf.find(_HEADER_END)
            if end < 0:
                if len(self._buf) > _MAX_HEADER:
                    raise DapProtocolError("no DAP header (Content-Length) in the first 4 KiB")
                return out
            length = self._content_length(bytes(self._buf[:end]))
            start = end + len(_HEADER_END)
            if len(self._buf) < start + length:
                return out
            body = bytes(self._buf[start : start + length])
            del self._buf[: start + length]
            try:
                message = json.loads(body)
            except ValueError as exc:
                raise DapProtocolError(f"a DAP message is not JSON: {exc}") from None
            if not isinstance(message, dict) or "type" not in message:
                raise DapProtocolError("a DAP message has no 'type'")
            out.append(message)

    @staticmethod
    def _content_length(header: bytes) -> int:
        for line in header.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                try:
                    return int(value.strip())
                except ValueError:
                    break
        raise DapProtocolError(f"bad DAP header: {header[:80]!r}")


# ---------------------------------------------------------------- transports


class Transport(Protocol):
    """A bidirectional byte stream. `recv` returns b"" at the end of the stream."""

    def send(self, data: bytes) -> None: ...

    def recv(self) -> bytes: ...

    def close(self) -> None: ...


class TcpTransport:
    """A plain TCP connection, e.g. to a debugpy port."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT_S) -> "TcpTransport":
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise DapClosed(f"cannot connect to the debug adapter at {host}:{port}: {exc.strerror or exc}") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise DapClosed(f"the debug connection broke: {exc.strerror or exc}") from None

    def recv(self) -> bytes:
        try:
            return self._sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def tunnel_url(head_url: str, tunnel_path: str) -> str:
    """`http://h:8290` + `/api/v1/debug/tunnel?ticket=T` -> `ws://h:8290/api/v1/debug/tunnel?ticket=T`."""
    parts = urlsplit(head_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise DapError(f"the head URL {head_url!r} is not http(s)")
    path, _, query = tunnel_path.partition("?")
    return urlunsplit((scheme, parts.netloc, path, query, ""))


class WebSocketTransport:
    """The head's debug tunnel: binary WebSocket messages carrying raw DAP bytes both ways."""

    def __init__(self, ws: Any, url: str) -> None:
        self._ws = ws
        self._url = url
        self.close_reason: Optional[str] = None  # "4401 ticket expired" after the head closed it

    @classmethod
    def connect(
        cls, url: str, headers: Optional[dict[str, str]] = None, timeout: float = DEFAULT_TIMEOUT_S,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> "WebSocketTransport":
        """`ssl_context` verifies a wss:// head (the CLI's --tls-ca); None: websockets' default."""
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        shown = url.split("?", 1)[0]
        options: dict[str, Any] = {}
        if "legacy" in inspect.signature(connect).parameters:  # websockets >= 17: a plain connection
            options["legacy"] = True
        if ssl_context is not None and url.startswith("wss://"):
            options["ssl"] = ssl_context
        try:
            ws = connect(
                url, additional_headers=headers or {}, open_timeout=timeout, max_size=None,
                compression=None, close_timeout=2, **options,
            )
        except InvalidStatus as exc:
            raise DapClosed(f"the head refused the debug tunnel at {shown}: HTTP {exc.response.status_code}") from None
        except ssl.SSLError as exc:  # before OSError: it is one
            raise DapClosed(f"cannot open the debug tunnel at {shown}: TLS handshake failed ({exc}); "
                            "pass --tls-ca FILE with the CA that signed the head's certificate") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise DapClosed(f"cannot open the debug tunnel at {shown}: {exc}") from None
        return cls(ws, shown)

    def send(self, data: bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            self._ws.send(data)
        except ConnectionClosed as exc:
            raise DapClosed(self._closed_text(exc)) from None

    def recv(self) -> bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            message = self._ws.recv()
        except ConnectionClosed as exc:
            self.close_reason = self._closed_text(exc)
            return b""
        return message.encode("utf-8") if isinstance(message, str) else bytes(message)

    def close(self) -> None:
        self._ws.close()

    def _closed_text(self, exc: Exception) -> str:
        rcvd = getattr(exc, "rcvd", None)
        if rcvd is not None and rcvd.code not in (1000, 1001):
            reason = rcvd.reason or "no reason given"
            return f"the head closed the debug tunnel ({rcvd.code}): {reason}"
        return "the debug tunnel was closed"


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Event:
    """A DAP event (`stopped`, `output`, `terminated`, …)."""

    event: str
    body: dict[str, Any]
    seq: int = 0


@dataclass(frozen=True)
class Thread:
    id: int
    name: str


@dataclass(frozen=True)
class StackFrame:
    id: int
    name: str
    path: Optional[str]
    line: int
    column: int = 0

    @classmethod
    def from_dap(cls, raw: dict[str, Any]) -> "StackFrame":
        source = raw.get("source") or {}
        return cls(
            id=int(raw["id"]), name=str(raw.get("name", "")), path=source.get("path"),
            line=int(raw.get("line", 0)), column=int(raw.get("column", 0)),
        )


@dataclass(frozen=True)
class Scope:
    name: str
    variables_reference: int
    expensive: bool = False


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    type: Optional[str] = None
    variables_reference: int = 0


@dataclass(frozen=True)
class Breakpoint:
    verified: bool
    line: Optional[int]
    message: Optional[str] = None


@dataclass(frozen=True)
class Stopped:
    """Where a `stopped` event left the debuggee."""

    reason: str
    thread_id: Optional[int]
    description: Optional[str] = None
    text: Optional[str] = None  # exception text for reason "exception"


@dataclass(frozen=True)
class PathMapping:
    local_root: str
    remote_root: str

    def to_dap(self) -> dict[str, str]:
        return {"localRoot": self.local_root, "remoteRoot": self.remote_root}


@dataclass
class _Pending:
    command: str
    done: threading.Event = field(default_factory=threading.Event)
    response: Optional[dict[str, Any]] = None


class PendingResponse:
    """A request in flight; `result()` waits for the adapter's answer."""

    def __init__(self, client: "DapClient", seq: int, pending: _Pending) -> None:
        self._client = client
        self.seq = seq
        self._pending = pending

    def result(self, timeout: Optional[float] = None) -> dict[str, Any]:
        """The response body; raises `DapRequestFailed`, `DapTimeout` or `DapClosed`."""
        return self._client._await(self.seq, self._pending, timeout)


# ---------------------------------------------------------------- the client


class DapClient:
    """A DAP client over any `Transport`. A reader thread routes responses to their requests
    and queues events; the caller's thread sends and waits. Use as a context manager."""

    def __init__(self, transport: Transport, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.transport = transport
        self.timeout = timeout
        self.dropped_events = 0
        self._seq = itertools.count(1)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._events: Deque[Event] = deque()
        self._closed: Optional[str] = None
        self._reader = threading.Thread(target=self._read_loop, name="dap-reader", daemon=True)
        self._reader.start()

    # -- construction helpers

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float = DEFAULT_TIMEOUT_S) -> "DapClient":
        return cls(TcpTransport.connect(host, port, timeout), timeout)

    @classmethod
    def websocket(
        cls, url: str, headers: Optional[dict[str, str]] = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> "DapClient":
        return cls(WebSocketTransport.connect(url, headers, timeout), timeout)

    def __enter__(self) -> "DapClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> Optional[str]:
        """Why the connection ended, or None while it is open."""
        return self._closed

    def close(self) -> None:
        if self._closed is None:
            self._mark_closed("the debug connection was closed by the client")
        self.transport.close()
        self._reader.join(timeout=2)

    # -- reading

    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        reason = "the debug adapter closed the connection"
        try:
            while True:
                data = self.transport.recv()
                if not data:
                    reason = getattr(self.transport, "close_reason", None) or reason
                    break
                for message in decoder.feed(data):
                    self._dispatch(message)
        except DapError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - the reader must never die silently
            reason = f"the debug connection failed: {exc}"
        self._mark_closed(reason)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "response":
            with self._cond:
                pending = self._pending.get(int(message.get("request_seq", -1)))
                if pending is not None:
                    pending.response = message
                    pending.done.set()
        elif kind == "event":
            event = Event(str(message.get("event")), message.get("body") or {}, int(message.get("seq", 0)))
            with self._cond:
                if len(self._events) >= MAX_QUEUED_EVENTS:
                    self._events.popleft()
                    self.dropped_events += 1
                self._events.append(event)
                self._cond.notify_all()
        elif kind == "request":  # a reverse request (runInTerminal, startDebugging): we support none
            self._send_raw({
                "type": "response", "request_seq": message.get("seq"), "command": message.get("command"),
                "success": False, "message": "not supported by this client",
            })

    def _mark_closed(self, reason: str) -> None:
        with self._cond:
            if self._closed is None:
                self._closed = reason
            for pending in self._pending.values():
                pending.done.set()
            self._cond.notify_all()

    # -- requests

    def _send_raw(self, message: dict[str, Any]) -> int:
        with self._send_lock:
            seq = next(self._seq)
            message["seq"] = seq
            self.transport.send(encode_message(message))
        return seq

    def send_request(self, command: str, arguments: Optional[dict[str, Any]] = None) -> PendingResponse:
        """Send a request without waiting; `.result()` on the answer waits."""
        if self._closed is not None:
            raise DapClosed(self._closed)
        pending = _Pending(command)
        message: dict[str, Any] = {"type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        with self._send_lock:  # register before the bytes leave, so a fast answer is never missed
            seq = next(self._seq)
            message["seq"] = seq
            with self._cond:
                self._pending[seq] = pending
            try:
                self.transport.send(encode_message(message))
            except DapError:
                with self._cond:
                    self._pending.pop(seq, None)
                raise
        return PendingResponse(self, seq, pending)

    def _await(self, seq: int, pending: _Pending, timeout: Optional[float]) -> dict[str, Any]:
        limit = self.timeout if timeout is None else timeout
        pending.done.wait(limit)
        with self._cond:
            self._pending.pop(seq, None)
        response = pending.response
        if response is None:
            if self._closed is not None:
                raise DapClosed(f"{pending.command}: {self._closed}")
            raise DapTimeout(f"{pending.command}: no answer from the debug adapter within {limit:g} s")
        if not response.get("success", False):
            raise DapRequestFailed(pending.command, str(response.get("message") or ""), response.get("body"))
        return response.get("body") or {}

    def request(
        self, command: str, arguments: Optional[dict[str, Any]] = None, timeout: Optional[float] = None
    ) -> dict[str, Any]:
        """Send a request and return its response body."""
        return self.send_request(command, arguments).result(timeout)

    # -- events

    def wait_event(
        self, name: str, timeout: Optional[float] = None,
        predicate: Optional[Callable[[Event], bool]] = None,
    ) -> Event:
        """Remove and return the first queued (or next arriving) event called `name`."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        with self._cond:
            while True:
                for event in self._events:
                    if event.event == name and (predicate is None or predicate(event)):
                        self._events.remove(event)
                        return event
                if self._closed is not None:
                    raise DapClosed(f"waiting for '{name}': {self._closed}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DapTimeout(f"no '{name}' event from the debug adapter within {limit:g} s")
                self._cond.wait(left)

    def take_events(self, names: Optional[Sequence[str]] = None) -> list[Event]:
        """Remove and return the queued events (only those named, if given)."""
        with self._cond:
            taken = [e for e in self._events if names is None or e.event in names]
            for event in taken:
                self._events.remove(event)
        return taken

    def next_event(self, timeout: float) -> Optional[Event]:
        """The oldest queued event, waiting up to `timeout`; None when nothing came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._events:
                if self._closed is not None:
                    raise DapClosed(self._closed)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._events.popleft()

    # -- the session: attach / detach

    def initialize(self, client_id: str = "rayscope") -> dict[str, Any]:
        return self.request("initialize", {
            "clientID": client_id, "clientName": client_id, "adapterID": "python",
            "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True,
            "supportsVariableType": True, "supportsRunInTerminalRequest": False,
        })

    def attach(
        self,
        path_mappings: Sequence[PathMapping] = (),
        breakpoints: Optional[dict[str, Sequence[int]]] = None,
        exception_filters: Sequence[str] = (),
        client_id: str = "rayscope",
        timeout: Optional[float] = None,
    ) -> dict[str, Breakpoint]:
        """The whole attach handshake: initialize, attach (justMyCode off, so Ray workers stop),
        breakpoints, configurationDone. debugpy answers `attach` only after `configurationDone`,
        so the attach answer is awaited last. Returns the breakpoints as the adapter verified them."""
        self.initialize(client_id)
        attach = self.send_request("attach", {
            "justMyCode": False, "redirectOutput": False, "subProcess": False,
            "pathMappings": [m.to_dap() for m in path_mappings],
        })
        self.wait_event("initialized", timeout)
        verified: dict[str, Breakpoint] = {}
        for path, lines in (breakpoints or {}).items():
            for line, bp in zip(lines, self.set_breakpoints(path, lines)):
                verified[f"{path}:{line}"] = bp
        self.request("setExceptionBreakpoints", {"filters": list(exception_filters)}, timeout)
        self.request("configurationDone", {}, timeout)
        attach.result(timeout)
        return verified

    def disconnect(self, terminate: bool = False, timeout: float = 5.0) -> None:
        """Detach; with `terminate=False` the debuggee keeps running."""
        try:
            self.request("disconnect", {"restart": False, "terminateDebuggee": terminate}, timeout)
        except DapClosed:
            pass  # the adapter may close before it answers

    # -- inspection

    def threads(self) -> list[Thread]:
        body = self.request("threads")
        return [Thread(int(t["id"]), str(t.get("name", ""))) for t in body.get("threads", [])]

    def stack_trace(self, thread_id: int, levels: int = 0) -> list[StackFrame]:
        args: dict[str, Any] = {"threadId": thread_id, "startFrame": 0}
        if levels:
            args["levels"] = levels
        body = self.request("stackTrace", args)
        return [StackFrame.from_dap(f) for f in body.get("stackFrames", [])]

    def scopes(self, frame_id: int) -> list[Scope]:
        body = self.request("scopes", {"frameId": frame_id})
        return [
            Scope(str(s.get("name")), int(s.get("variablesReference", 0)), bool(s.get("expensive", False)))
            for s in body.get("scopes", [])
        ]

    def variables(self, variables_reference: int) -> list[Variable]:
        body = self.request("variables", {"variablesReference": variables_reference})
        return [
            Variable(str(v.get("name")), str(v.get("value", "")), v.get("type"), int(v.get("variablesReference", 0)))
            for v in body.get("variables", [])
        ]

    def locals(self, frame_id: int) -> list[Variable]:
        """The variables of a frame's first ("Locals") scope, without debugpy's grouping rows."""
        scopes = self.scopes(frame_id)
        if not scopes:
            return []
        return [v for v in self.variables(scopes[0].variables_reference) if not _is_group_row(v)]

    def evaluate(self, expression: str, frame_id: Optional[int] = None, context: str = "repl") -> Variable:
        args: dict[str, Any] = {"expression": expression, "context": context}
        if frame_id is not None:
            args["frameId"] = frame_id
        body = self.request("evaluate", args)
        return Variable(expression, str(body.get("result", "")), body.get("type"), int(body.get("variablesReference", 0)))

    def set_breakpoints(self, path: str, lines: Sequence[int]) -> list[Breakpoint]:
        """Replace the line breakpoints of one file (DAP semantics: the list is the whole set)."""
        body = self.request("setBreakpoints", {
            "source": {"path": path}, "breakpoints": [{"line": int(n)} for n in lines],
            "lines": [int(n) for n in lines],
        })
        return [
            Breakpoint(bool(b.get("verified")), b.get("line"), b.get("message"))
            for b in body.get("breakpoints", [])
        ]

    # -- execution control (each returns once the adapter accepted; wait for `stopped` after)

    def continue_(self, thread_id: int) -> None:
        self.request("continue", {"threadId": thread_id})

    def next(self, thread_id: int) -> None:
        self.request("next", {"threadId": thread_id})

    def step_in(self, thread_id: int) -> None:
        self.request("stepIn", {"threadId": thread_id})

    def step_out(self, thread_id: int) -> None:
        self.request("stepOut", {"threadId": thread_id})

    def pause(self, thread_id: int) -> None:
        self.request("pause", {"threadId": thread_id})

    def wait_stopped(self, timeout: Optional[float] = None) -> Stopped:
        """The next `stopped` event, typed."""
        body = self.wait_event("stopped", timeout).body
        return Stopped(
            reason=str(body.get("reason", "")), thread_id=body.get("threadId"),
            description=body.get("description"), text=body.get("text"),
        )


def _is_group_row(var: Variable) -> bool:
    """debugpy lists 'special variables' / 'function variables' / 'class variables' as rows."""
    return var.name in ("special variables", "function variables", "class variables", "protected variables")

