"""The head's ingest stream, end to end: a real head process and a real gRPC client on the wire."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import grpc
import psutil
import pytest

from head_process import IngestClient, log_file, log_lines, running_head, start_head, task_event
from polling import wait_for
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ab" * 28
AGENT = "agent-1"


def _tid(i: int) -> str:
    return f"{i:048x}"


def test_bad_or_missing_token_is_unauthenticated():
    with running_head() as head:
        for token in ("wrong-token", None):
            with pytest.raises(grpc.RpcError) as err:
                with IngestClient(head.grpc_address, token) as c:
                    c.hello(AGENT, NODE)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "invalid or missing Rayscope token" in err.value.details()
        assert head.get("/ingest/health").json()["batches_committed"] == 0


def _summary_states(head) -> dict:
    rows = head.get("/tasks/summary").json()["rows"]
    return {r["name"]: r["states"] for r in rows}


def test_resends_are_idempotent_across_a_head_restart():
    workdir = Path(tempfile.mkdtemp(prefix="rs-head-", dir="/tmp"))
    t0 = time.time() - 100
    lines1 = log_lines("f1", ["hello from f", "second line"])
    lines2 = log_lines("f1", ["third line"], start_offset=lines1[-1].offset + len(lines1[-1].text) + 1)
    batch1 = pb.Batch(seq=1, tasks=[task_event(_tid(i), name="f", type="NORMAL_TASK",
                                               states={"PENDING_ARGS_AVAIL": t0 + i}) for i in range(10)],
                      log_files=[log_file("f1", NODE, "worker-aa-01000000-123.out")], log_lines=lines1)
    batch2 = pb.Batch(seq=2, tasks=[task_event(_tid(i), states={"RUNNING": t0 + 20 + i, "FINISHED": t0 + 30 + i},
                                               node_id=NODE, worker_pid=123) for i in range(10)],
                      log_lines=lines1 + lines2)  # lines1 again: a resend of already-stored lines
    head = start_head(workdir=workdir)
    try:
        with IngestClient(head.grpc_address, head.token) as c:
            assert c.hello(AGENT, NODE, session_name="session_test") == 0
            assert c.send(batch1) == 1
            assert c.send(batch2) == 2
            assert c.send(batch2) == 2  # duplicate seq: acked, not re-applied
        assert _summary_states(head) == {"f": {"FINISHED": 10}}
        files = head.get("/logs/files").json()["rows"]
        assert [(f["file_id"], f["lines"]) for f in files] == [("f1", 3)]
        assert head.get("/cluster").json()["session_name"] == "session_test"
        head.stop()

        head = start_head(workdir=workdir)  # same DB, new ports
        # an old delta (PENDING) arriving after FINISHED must not move the state back
        batch3 = pb.Batch(seq=3, tasks=[task_event(_tid(0), states={"PENDING_ARGS_AVAIL": t0})],
                          log_lines=lines2)
        with IngestClient(head.grpc_address, head.token) as c:
            assert c.hello(AGENT, NODE) == 2
            assert c.send(batch2) == 2  # agent resends what it had not seen acked
            assert c.send(batch3) == 3
        with IngestClient(head.grpc_address, head.token) as c:
            assert c.hello(AGENT, NODE) == 3
            assert c.send(batch3) == 3
        assert _summary_states(head) == {"f": {"FINISHED": 10}}
        attempts = head.get(f"/tasks/{_tid(0)}").json()
        assert len(attempts) == 1 and attempts[0]["state"] == "FINISHED"
        assert attempts[0]["creation_time"] == pytest.approx(t0, abs=1e-3)
        assert attempts[0]["duration"] == pytest.approx(10, abs=1e-3)
        lines = head.get("/logs/lines", file_id="f1").json()["rows"]
        assert [ln["text"] for ln in lines] == ["hello from f", "second line", "third line"]
        assert head.get("/logs/files").json()["rows"][0]["lines"] == 3
        assert head.get("/ingest/health").json()["batches_committed"] == 3
        head.stop()

        head = start_head(workdir=workdir, history=True)  # a finished cluster's history: no ingest
        assert head.grpc_address is None
        assert head.get("/cluster").json()["live"] is False
        assert _summary_states(head) == {"f": {"FINISHED": 10}}
        assert head.get(f"/nodes/{NODE}").json()["agent_connected"] is False
    finally:
        head.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_malformed_items_are_counted_and_the_stream_goes_on():
    with running_head() as head:
        bad = pb.Batch(
            seq=1,
            tasks=[task_event("NOT-HEX"), task_event(_tid(1), name="ok", states={"RUNNING": time.time()})],
            actors=[pb.ActorEvent(actor_id="cd" * 16, job_id="01000000", state="SLEEPING", event_time=time.time())],
            drops=[pb.DropReport(source="logs", reason="spool over budget", count=7, bytes=700, detail="x:1")],
        )
        bad.tasks[1].state_ts_ns[99] = 1  # an unknown status number makes this one malformed too
        good = pb.Batch(seq=2, tasks=[task_event(_tid(2), name="ok", states={"RUNNING": time.time()})])
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello(AGENT, NODE)
            assert c.send(bad) == 1
            assert c.send(good) == 2
        drops = head.get("/ingest/health").json()["drops"]
        by_reason = {(d["source"], d["reason"]): d for d in drops}
        assert by_reason[("logs", "spool over budget")]["count"] == 7
        assert by_reason[("logs", "spool over budget")]["node_id"] == NODE
        assert by_reason[("events", "malformed at head: task_id is not lowercase hex")]["count"] == 1
        assert by_reason[("events", "malformed at head: unknown task status 99")]["count"] == 1
        assert by_reason[("events", "malformed at head: unknown actor state 'SLEEPING'")]["count"] == 1
        tasks = head.get("/tasks").json()["rows"]
        assert [t["task_id"] for t in tasks] == [_tid(2)]


def test_first_message_must_be_hello_and_agent_liveness():
    with running_head() as head:
        with pytest.raises(grpc.RpcError) as err:
            with IngestClient(head.grpc_address, head.token) as c:
                c.send(pb.Batch(seq=1))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello(AGENT, NODE, node_ip="127.0.0.1", hostname="h1")
            c.send(pb.Batch(seq=1, node_samples=[pb.NodeSample(ts=time.time(), cpu_percent=12.5, mem_total=100,
                                                               mem_used=40)]))
            node = head.get(f"/nodes/{NODE}").json()
            assert node["agent_connected"] is True
            assert node["cpu_percent"] == 12.5
            assert head.get("/ingest/health").json()["agents_connected"] == 1
        wait_for("the node's agent disconnected after its stream closed",
                 lambda: head.get(f"/nodes/{NODE}").json()["agent_connected"] is False, 10, every=0.1)


def test_an_old_stream_ending_after_a_reconnect_leaves_the_agent_connected():
    """After a network cut the agent reconnects while the head still holds its old stream (until
    keepalive ends it); the old stream's end must not mark the reconnected agent disconnected."""
    with running_head() as head:
        old = IngestClient(head.grpc_address, head.token).__enter__()
        old.hello(AGENT, NODE)
        old.send(pb.Batch(seq=1, node_samples=[pb.NodeSample(ts=time.time(), cpu_percent=1.0)]))
        with IngestClient(head.grpc_address, head.token) as new:
            assert new.hello(AGENT, NODE) == 1
            new.send(pb.Batch(seq=2))
            old.__exit__(None, None, None)  # the stale stream ends now
            time.sleep(0.5)  # let the head run the old stream's cleanup before we look
            assert head.get(f"/nodes/{NODE}").json()["agent_connected"] is True
            assert head.get("/ingest/health").json()["agents_connected"] == 1
        wait_for("the agent's last stream ended: disconnected",
                 lambda: head.get(f"/nodes/{NODE}").json()["agent_connected"] is False, timeout=10)


def _writer_pids(head) -> list[int]:
    """The head's live writer processes (children running writer_process)."""
    out = []
    for p in psutil.Process(head.proc.pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "writer_process" in " ".join(p.cmdline()):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


def test_a_killed_writer_process_is_replaced_and_nothing_is_lost():
    """The writer process dies (kill -9): a new one takes over, and every batch sent is stored once."""
    t0 = time.time() - 100
    with running_head() as head:
        with IngestClient(head.grpc_address, head.token) as c:
            assert c.hello(AGENT, NODE) == 0
            assert c.send(pb.Batch(seq=1, tasks=[task_event(_tid(i), name="f", states={"FINISHED": t0 + i})
                                                  for i in range(5)])) == 1
        [old] = _writer_pids(head)
        os.kill(old, signal.SIGKILL)
        wait_for("a new writer process", lambda: _writer_pids(head) not in ([], [old]), timeout=30)
        assert len(_writer_pids(head)) == 1
        batch2 = pb.Batch(seq=2, tasks=[task_event(_tid(i), name="f", states={"FINISHED": t0 + i})
                                        for i in range(5, 10)])
        def resend() -> bool:
            """As an agent does: a stream that fails UNAVAILABLE is opened again."""
            try:
                with IngestClient(head.grpc_address, head.token) as c:
                    assert c.hello(AGENT, NODE) == 1  # the committed seq survived
                    assert c.send(batch2) == 2
                return True
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                return False

        wait_for("a stream that succeeds after the writer was replaced", resend, 10, every=0.5)
        assert _summary_states(head) == {"f": {"FINISHED": 10}}
        assert f"writer process {old} ended" in head.log_text()
        assert head.proc.poll() is None


def test_a_killed_head_leaves_no_writer_process_behind():
    with running_head() as head:
        [pid] = _writer_pids(head)
        writer = psutil.Process(pid)
        os.kill(head.proc.pid, signal.SIGKILL)
        writer.wait(30)  # raises psutil.TimeoutExpired if it outlives its head
