"""The breakpoint service end to end (issue 3, acceptance 1 and 2): a real 2-node cluster started
by `rayscope start`, real Ray workers pausing in real debugpy, and the DAP client speaking over
the head's WebSocket tunnel through the worker node's agent. Every scenario runs pinned to the
*worker* node, so the tunnel always crosses head -> other node's agent -> worker."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from debug_helpers import WORKLOAD, Driver, Head, Pushes, line_of
from polling import wait_for
from rayscope.debugger.dap import DapClient, DapClosed, DapRequestFailed


@pytest.fixture(scope="module")
def head(rayscope_cluster) -> Head:
    return Head(rayscope_cluster.http_url, rayscope_cluster.token)


@pytest.fixture
def run(rayscope_cluster, tmp_path) -> Iterator:
    drivers: list[Driver] = []

    def start(mode: str) -> Driver:
        d = Driver.start(rayscope_cluster.env, rayscope_cluster.gcs_address, mode,
                         rayscope_cluster.worker_node_id, tmp_path)
        drivers.append(d)
        return d

    yield start
    for d in drivers:
        d.kill()


def _audit(head: Head) -> list[dict]:
    db = Path(head.get("/cluster").json()["db_path"])
    path = db.with_name(db.stem + ".debug-audit.jsonl")
    if not path.exists():  # written on the first ticket, attach or resume of this head
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _top(dap, thread_id):
    return dap.stack_trace(thread_id)[0]


def _locals(dap, frame_id) -> dict[str, str]:
    return {v.name: v.value for v in dap.locals(frame_id)}


def test_task_breakpoint_attach_locals_step_line_breakpoint_continue(head, run, rayscope_cluster):
    pushes = Pushes.watch(head)
    try:
        driver = run("task")
        [s] = head.wait_sessions(lambda s: s.function == "debug_workload.paused_task")
        # listed with everything a client needs, pushed on /ws too
        assert (s.reason, s.state, s.exception) == ("breakpoint", "paused", None)
        assert (Path(s.file), s.line) == (WORKLOAD, line_of("task_bp"))
        assert s.node_id == rayscope_cluster.worker_node_id and s.node_ip
        assert s.job_id and s.task_id and s.worker_id and s.attempt == 0 and s.actor_id is None
        assert psutil.pid_exists(s.pid) and s.working_dir
        pushed = pushes.first(s.session_id, "paused")
        assert pushed is not None
        print(f"breakpoint() -> /ws push: {pushed[0] - s.paused_at:.3f} s")

        line_bp = line_of("task_line_bp")
        dap = head.attach(s, client="pytest-task", breakpoints={str(WORKLOAD): [line_bp]})
        stop = dap.wait_stopped()
        top = _top(dap, stop.thread_id)
        assert (top.name, Path(top.path), top.line) == ("paused_task", WORKLOAD, line_of("task_next"))
        assert _locals(dap, top.id) == {"n": "7", "total": "21", "label": "'bp-7'"}
        assert dap.evaluate("total * 2 + n", top.id).value == "49"
        attached = head.get(f"/debug/sessions/{s.session_id}").json()
        assert (attached["state"], attached["attached_by"]) == ("attached", "pytest-task")

        dap.next(stop.thread_id)  # step: the next line of the same frame
        stop = dap.wait_stopped()
        assert _top(dap, stop.thread_id).line == line_of("task_next") + 1
        assert dap.evaluate("total", _top(dap, stop.thread_id).id).value == "22"

        dap.continue_(stop.thread_id)  # runs into the line breakpoint set at attach
        stop = dap.wait_stopped()
        top = _top(dap, stop.thread_id)
        assert (stop.reason, top.line, _locals(dap, top.id)["i"]) == ("breakpoint", line_bp, "0")
        dap.set_breakpoints(str(WORKLOAD), [])
        dap.continue_(stop.thread_id)
        dap.disconnect()
        dap.close()
        assert driver.result() == "bp-7:23"
        head.wait_gone(s.session_id)
        wait_for("the 'gone' push on /ws", lambda: pushes.first(s.session_id, "gone"), 10, every=0.05)
    finally:
        pushes.close()
    events = [(a["event"], a.get("client")) for a in _audit(head) if a.get("session_id") == s.session_id]
    assert events == [("ticket", "pytest-task"), ("attach", "pytest-task"), ("detach", "pytest-task")]


def test_actor_method_breakpoint(head, run):
    driver = run("actor")
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.Counter.bump")
    assert s.actor_id and s.line == line_of("actor_bp")
    dap = head.attach(s)
    stop = dap.wait_stopped()
    top = _top(dap, stop.thread_id)
    assert (top.name, top.line) == ("bump", line_of("actor_bp") + 1)
    assert dap.evaluate("self.value", top.id).value == "15"
    dap.continue_(stop.thread_id)
    dap.disconnect()
    dap.close()
    assert driver.result() == "15"


def test_threaded_actor_two_paused_threads_one_client(head, run):
    driver = run("threaded")
    a, b = head.wait_sessions(lambda s: s.function == "debug_workload.Threaded.work", count=2)
    assert a.pid == b.pid and a.session_id != b.session_id and a.task_id != b.task_id
    late_ticket = head.ticket(b.session_id)  # taken before anyone attached
    dap = head.attach(a, client="first-client")
    stops = {dap.wait_stopped().thread_id, dap.wait_stopped().thread_id}
    assert len(stops) == 2  # the one client sees both paused threads
    tags = set()
    for tid in stops:
        top = _top(dap, tid)
        assert (top.name, top.line) == ("work", line_of("threaded_bp") + 1)
        tags.add(_locals(dap, top.id)["tag"])
    assert tags == {"'a'", "'b'"}
    # a second client: clear refusal at ticket time, and for a ticket taken earlier
    r = head.post(f"/debug/sessions/{b.session_id}/ticket", client="second-client")
    assert r.status_code == 409 and "already attached by first-client" in r.json()["error"]
    second = head.tunnel(late_ticket)
    with pytest.raises(DapClosed, match=r"4409.*already attached by first-client"):
        second.initialize()
    second.close()
    dap.continue_(min(stops))  # debugpy's continue resumes every thread of the worker
    assert driver.result() == "['thread-a', 'thread-b']"
    dap.close()


def test_post_mortem_pauses_at_the_raising_frame(head, run):
    driver = run("post_mortem")  # opted in per job: runtime_env env_vars RAY_DEBUG_POST_MORTEM=1
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.failing")
    assert (s.reason, s.exception, s.line) == ("exception", "ValueError: bad input 7", line_of("pm_raise"))
    dap = head.attach(s)
    stop = dap.wait_stopped()
    assert stop.reason == "exception" and stop.description == "bad input 7"
    top = _top(dap, stop.thread_id)
    assert (top.name, top.line) == ("failing", line_of("pm_raise"))
    assert _locals(dap, top.id) == {"x": "7", "ratio": "3.5"}
    dap.continue_(stop.thread_id)
    dap.disconnect()
    dap.close()
    assert driver.result() == "failed ValueError"


def _ray_worker_port(session_dir: Path, pid: int) -> int:
    """The port of Ray's own core-worker gRPC server, from that worker's log."""
    for log in (session_dir / "logs").glob(f"python-core-worker-*_{pid}.log"):
        m = re.search(r"worker server started, listening on port (\d+)", log.read_text())
        if m:
            return int(m.group(1))
    raise AssertionError(f"no core-worker log for pid {pid}")


def _listeners(worker: psutil.Process) -> list:
    return [c.laddr for c in worker.net_connections("inet") if c.status == psutil.CONN_LISTEN]


def _debugpy_listeners(worker: psutil.Process, ray_port: int) -> list:
    """The worker's listeners other than Ray's own core-worker port, once debugpy listens (the session
    is listed before debugpy has started listening)."""
    return wait_for("the paused worker's debugpy listener",
                    lambda: [a for a in _listeners(worker) if a.port != ray_port], timeout=60, every=0.05)


def test_security_loopback_only_tickets_and_resume(head, run, rayscope_cluster):
    driver = run("resume")
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.forgotten")
    worker = psutil.Process(s.pid)
    ray_port = _ray_worker_port(rayscope_cluster.worker_session_dir, s.pid)
    _debugpy_listeners(worker, ray_port)
    found = _listeners(worker)
    assert [a for a in found if a.ip == "127.0.0.1"], found  # debugpy, in process
    assert all(a.ip in ("127.0.0.1", "::1") or a.port == ray_port for a in found), found
    assert worker.children(recursive=True) == []  # no debug adapter process
    [debugpy_addr] = [a for a in found if a.ip == "127.0.0.1" and a.port != ray_port]
    # Any local process can reach that port; without the agent's token it cannot run code there.
    _assert_refused_without_token(debugpy_addr.port)

    # no token: refused before any WebSocket opens
    with pytest.raises(DapClosed, match="HTTP 403"):
        head.tunnel(head.ticket(s.session_id), with_token=False)
    # a ticket this head never issued (another cluster's)
    bogus = head.ticket(s.session_id).model_copy(
        update={"tunnel_path": "/api/v1/debug/tunnel?ticket=not-from-this-head"})
    dap = head.tunnel(bogus)
    with pytest.raises(DapClosed, match=r"4401.*unknown ticket"):
        dap.initialize()
    dap.close()
    # used ticket: the first use attaches, the second is refused
    t = head.ticket(s.session_id)
    first = head.tunnel(t)
    first.initialize()
    reuse = head.tunnel(t)
    with pytest.raises(DapClosed, match=r"4401.*already used"):
        reuse.initialize()
    reuse.close()
    first.close()  # never sent configurationDone: the worker stays paused
    head.wait_sessions(lambda x: x.session_id == s.session_id and x.state == "paused", timeout=30)
    # The relay's connection was authorized; the next one, by anyone else, starts from scratch.
    _assert_refused_without_token(debugpy_addr.port)

    # resume without attaching
    r = head.post("/debug/resume", job_id=s.job_id)
    assert r.status_code == 200 and r.json() == {"resumed": [s.session_id]}
    assert driver.result() == "resumed"
    head.wait_gone(s.session_id)
    r = head.post(f"/debug/sessions/{s.session_id}/ticket")
    assert r.status_code == 404 and "is gone" in r.json()["error"]

    audit = [(a["event"], a.get("detail", "")) for a in _audit(head) if a.get("session_id") == s.session_id
             or a.get("detail") == "unknown ticket"]
    assert ("attach", "") in audit and ("resume", "") in audit
    assert any(e == "attach_refused" and "already used" in d for e, d in audit)
    assert any(e == "attach_refused" and d == "unknown ticket" for e, d in audit)


def _dap_exchange(port: int, requests: list[dict]) -> list[dict]:
    """A bare local DAP client (framing written here, not the product's): send each request, return
    the response to each, skipping events."""
    answers: list[dict] = []
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        buf = b""
        for seq, req in enumerate(requests, start=1):
            body = json.dumps({"seq": seq, "type": "request", **req}).encode()
            sock.sendall(b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    assert chunk, f"the worker's debugger closed the connection; answers so far: {answers}"
                    buf += chunk
                header, buf = buf.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"Content-Length: *(\d+)", header, re.I).group(1))
                while len(buf) < length:
                    chunk = sock.recv(65536)
                    assert chunk, "the worker's debugger closed the connection mid-message"
                    buf += chunk
                msg, buf = json.loads(buf[:length]), buf[length:]
                if msg.get("type") == "response" and msg.get("request_seq") == seq:
                    answers.append(msg)
                    break
    return answers


def _assert_refused_without_token(port: int) -> None:
    """A local process talking DAP straight to a paused worker's debugpy: every request, and a
    wrong token, is refused, so no expression runs there."""
    marker = f"/tmp/rayscope-pwned-{port}"
    answers = _dap_exchange(port, [
        {"command": "initialize", "arguments": {"adapterID": "x"}},
        {"command": "pydevdAuthorize", "arguments": {"debugServerAccessToken": "guess"}},
        {"command": "evaluate", "arguments": {"expression": f"open({marker!r}, 'w').close()", "context": "repl"}},
    ])
    assert [a["success"] for a in answers] == [False, False, False], answers
    assert all(a.get("message") == "Client not authenticated." for a in answers), answers
    assert not Path(marker).exists()


def test_ticket_and_resume_routes_on_a_real_paused_worker(head, run):
    """Issue 12 §3: the ticket and per-session resume routes touch the registry on the head's event
    loop (the registry raises WrongThread anywhere else, which the head answers with a 500). Their
    effect is checked where it lands: the ticket opens a tunnel to the worker's debugpy, and the
    resume reaches the paused worker, whose task returns. The head's agents still ship their samples
    every second, so its loop is not strictly idle; the guard, not the timing, makes a regression fail."""
    driver = run("resume")
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.forgotten")
    t = head.ticket(s.session_id, client="pytest-routes")
    dap = head.tunnel(t)
    dap.initialize()  # the tunnel reached the worker's debugpy through the agent
    attached = head.get(f"/debug/sessions/{s.session_id}").json()
    assert (attached["state"], attached["attached_by"]) == ("attached", "pytest-routes")
    dap.close()  # no configurationDone: the worker stays paused
    head.wait_sessions(lambda x: x.session_id == s.session_id and x.state == "paused", timeout=30)

    r = head.post(f"/debug/sessions/{s.session_id}/resume")
    assert r.status_code == 204, r.text
    assert driver.result() == "resumed"
    head.wait_gone(s.session_id)


def test_a_local_process_without_the_token_cannot_attach_to_the_paused_worker(head, run, rayscope_cluster):
    """Issue 12 §3 (docs/debugger.md, "Who can reach a paused worker"): debugpy in a paused worker
    listens on 127.0.0.1, so any process on that node can connect; with the real DAP client and no
    token, `initialize` is refused and nothing runs in the worker. The head's view is untouched and
    the session still resumes normally."""
    driver = run("resume")
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.forgotten")
    worker = psutil.Process(s.pid)
    ray_port = _ray_worker_port(rayscope_cluster.worker_session_dir, s.pid)
    [addr] = _debugpy_listeners(worker, ray_port)
    assert addr.ip == "127.0.0.1"

    dap = DapClient.tcp(addr.ip, addr.port)  # straight to the port: no head, no token, no ticket
    try:
        with pytest.raises(DapRequestFailed, match="Client not authenticated"):
            dap.initialize()
    finally:
        dap.close()
    seen = head.get(f"/debug/sessions/{s.session_id}").json()
    assert (seen["state"], seen["attached_by"]) == ("paused", None)
    r = head.post(f"/debug/sessions/{s.session_id}/resume")
    assert r.status_code == 204, r.text
    assert driver.result() == "resumed"
    head.wait_gone(s.session_id)


def test_ttl_resumes_a_forgotten_session(head, run, rayscope_cluster):
    driver = run("ttl")  # RAYSCOPE_DEBUG_TTL_S=2 in the job's runtime_env
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.forgotten")
    assert driver.result() == "resumed"
    head.wait_gone(s.session_id)
    logs = (rayscope_cluster.worker_session_dir / "logs").glob(f"worker-*-{s.pid}.err")
    text = "".join(p.read_text() for p in logs)
    assert f"no client attached to session {s.session_id}" in text and "resuming the task" in text


def test_session_of_a_dead_worker_disappears(head, run):
    driver = run("resume")
    [s] = head.wait_sessions(lambda s: s.function == "debug_workload.forgotten")
    psutil.Process(s.pid).kill()
    head.wait_gone(s.session_id)  # the worker's socket to its agent closed with it
    driver.kill()
