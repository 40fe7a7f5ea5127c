"""`rayscope.debugger.dap` against a real debugpy in a subprocess (TCP), and through a real
WebSocket server that carries the DAP bytes as binary messages the way the head's tunnel does."""
from __future__ import annotations

import socket
import threading

import pytest
from websockets.sync.server import ServerConnection, serve

from dap_debuggee import Debuggee, debuggee, line_of  # noqa: F401 - the fixture
from rayscope.debugger.dap import (
    DapClient,
    DapClosed,
    DapProtocolError,
    DapRequestFailed,
    DapTimeout,
    FrameDecoder,
    PathMapping,
    TcpTransport,
    WebSocketTransport,
    encode_message,
    tunnel_url,
)


def test_attach_inspect_step_breakpoint_continue(debuggee: Debuggee) -> None:
    script = str(debuggee.script)
    with DapClient.tcp("127.0.0.1", debuggee.port) as dap:
        dap.attach([PathMapping(str(debuggee.script.parent), str(debuggee.script.parent))])
        stopped = dap.wait_stopped()
        top = dap.stack_trace(stopped.thread_id)[0]
        assert (top.name, top.path, top.line) == ("work", script, line_of("STEP_HERE"))
        values = {v.name: v.value for v in dap.locals(top.id)}
        assert values["n"] == "20" and values["total"] == "40"
        assert dap.evaluate("n + total", top.id).value == "60"

        dap.next(stopped.thread_id)
        stepped = dap.wait_stopped()
        assert stepped.reason == "step"
        assert dap.stack_trace(stepped.thread_id)[0].line == line_of("BREAK_HERE")
        assert dap.evaluate("total", dap.stack_trace(stepped.thread_id)[0].id).value == "41"

        dap.step_out(stepped.thread_id)
        out = dap.wait_stopped()
        assert dap.stack_trace(out.thread_id)[0].name == "<module>"
        dap.continue_(out.thread_id)
        dap.wait_event("terminated", timeout=30)
    assert "RESULT 41" in debuggee.finish()


def test_line_breakpoint_set_at_attach_is_hit(debuggee: Debuggee) -> None:
    script = str(debuggee.script)
    with DapClient.tcp("127.0.0.1", debuggee.port) as dap:
        verified = dap.attach(breakpoints={script: [line_of("BREAK_HERE")]})
        assert verified[f"{script}:{line_of('BREAK_HERE')}"].verified
        first = dap.wait_stopped()
        dap.continue_(first.thread_id)
        hit = dap.wait_stopped()
        assert hit.reason == "breakpoint"
        assert dap.stack_trace(hit.thread_id)[0].line == line_of("BREAK_HERE")
        dap.disconnect()
    assert "RESULT 41" in debuggee.finish()


def test_errors_are_one_line_and_typed(debuggee: Debuggee) -> None:
    with DapClient.tcp("127.0.0.1", debuggee.port, timeout=10) as dap:
        dap.attach()
        stopped = dap.wait_stopped()
        frame = dap.stack_trace(stopped.thread_id)[0]
        with pytest.raises(DapRequestFailed) as bad:
            dap.evaluate("no_such_name + 1", frame.id)
        assert "no_such_name" in str(bad.value) and "\n" not in str(bad.value)
        with pytest.raises(DapTimeout, match="no 'never' event .* within 0.2 s"):
            dap.wait_event("never", timeout=0.2)
        dap.disconnect()  # detaching leaves the debuggee running to its end
    assert "RESULT 41" in debuggee.finish()
    assert debuggee.proc.returncode == 0


def test_connect_refused_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DapClosed, match=f"cannot connect to the debug adapter at 127.0.0.1:{port}"):
        TcpTransport.connect("127.0.0.1", port, timeout=2)


def test_peer_closing_fails_waiting_requests() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted: list[socket.socket] = []

    def accept_then_close() -> None:
        conn, _ = server.accept()
        accepted.append(conn)
        conn.recv(4096)
        conn.close()

    t = threading.Thread(target=accept_then_close, daemon=True)
    t.start()
    with DapClient.tcp("127.0.0.1", server.getsockname()[1]) as dap:
        with pytest.raises(DapClosed, match="threads: the debug adapter closed the connection"):
            dap.request("threads", timeout=10)
    server.close()


def test_frame_decoder_handles_split_and_joined_frames() -> None:
    a = encode_message({"type": "event", "event": "a", "seq": 1})
    b = encode_message({"type": "event", "event": "b", "seq": 2, "body": {"text": "ü"}})
    stream = a + b
    decoder = FrameDecoder()
    got = [m for i in range(len(stream)) for m in decoder.feed(stream[i : i + 1])]
    assert [m["event"] for m in got] == ["a", "b"] and got[1]["body"]["text"] == "ü"
    assert [m["event"] for m in FrameDecoder().feed(stream)] == ["a", "b"]
    with pytest.raises(DapProtocolError, match="bad DAP header"):
        FrameDecoder().feed(b"Content-Type: x\r\n\r\n{}")
    with pytest.raises(DapProtocolError, match="not JSON"):
        FrameDecoder().feed(b"Content-Length: 2\r\n\r\nno")


def test_tunnel_url() -> None:
    assert tunnel_url("http://h:8290", "/api/v1/debug/tunnel?ticket=T") == "ws://h:8290/api/v1/debug/tunnel?ticket=T"
    assert tunnel_url("https://h", "/api/v1/debug/tunnel?ticket=T").startswith("wss://h/api/v1/")


def _ws_bridge(target_port: int, reject: bool) -> tuple[object, int]:
    """A WebSocket server speaking like the head's tunnel: binary messages <-> a TCP DAP port,
    or a 4401 close like a used ticket."""

    def handler(ws: ServerConnection) -> None:
        if reject:
            ws.close(4401, "ticket already used")
            return
        tcp = socket.create_connection(("127.0.0.1", target_port))

        def pump_back() -> None:
            while data := tcp.recv(65536):
                ws.send(data)
            ws.close()

        threading.Thread(target=pump_back, daemon=True).start()
        for message in ws:
            tcp.sendall(message if isinstance(message, bytes) else message.encode())
        tcp.close()

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.socket.getsockname()[1]


def test_websocket_transport_carries_a_session(debuggee: Debuggee) -> None:
    server, port = _ws_bridge(debuggee.port, reject=False)
    try:
        with DapClient(WebSocketTransport.connect(f"ws://127.0.0.1:{port}/tunnel?ticket=x")) as dap:
            dap.attach()
            stopped = dap.wait_stopped()
            top = dap.stack_trace(stopped.thread_id)[0]
            assert (top.name, top.line) == ("work", line_of("STEP_HERE"))
            dap.disconnect()
        assert "RESULT 41" in debuggee.finish()
    finally:
        server.shutdown()


def test_websocket_close_code_is_reported() -> None:
    server, port = _ws_bridge(0, reject=True)
    try:
        dap = DapClient(WebSocketTransport.connect(f"ws://127.0.0.1:{port}/tunnel?ticket=x"))
        with pytest.raises(DapClosed, match=r"closed the debug tunnel \(4401\): ticket already used"):
            dap.initialize()
            dap.wait_event("never", timeout=10)
        dap.close()
    finally:
        server.shutdown()
