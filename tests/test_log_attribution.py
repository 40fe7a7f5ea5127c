"""Which task printed a worker's line, with task events shaped as Ray 2.60 writes them (measured on a
real cluster): the RUNNING event carries the range's start and file, the end event its end with the
start printed as 0 and the file as ''; a short task whose events Ray merged has an end only. The
events go through the real export decoder and the store's merge; the lines through the head's reads.
"""
from __future__ import annotations

import base64
import json
import time

import pytest

from head_process import log_file, log_lines
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.read_logs import LineSelector, SearchQuery, search
from rayscope.dashboard.store.read_logs import log_lines as read_lines
from rayscope.runtime.export_events import decode_line
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "aa" * 28
WORKER = "77" * 28
PID = 4242
JOB = "01000000"
OUT = f"worker-{WORKER}-{JOB}-{PID}.out"
FILE_ID = f"{NODE}:{OUT}"
T0 = 1_700_000_000


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def tid(i: int) -> str:
    return f"{i:016x}" + "ff" * 12 + JOB


def ray_event(i: int, status: int, log_info: dict | None = None, worker: bool = True) -> pb.TaskEvent:
    """One EXPORT_TASK line as Ray 2.60 writes it, decoded by the agent's decoder."""
    updates: dict = {"state_ts_ns": {str(status): str((T0 + i) * 10**9 + status)}}
    if worker:
        updates.update(node_id=_b64(NODE), worker_id=_b64(WORKER), worker_pid=PID)
    if log_info is not None:
        updates["task_log_info"] = {"stderr_end": 0, "stderr_file": "", "stderr_start": 0, "stdout_end": 0,
                                    "stdout_file": "", "stdout_start": 0, **log_info}
    data = {"task_id": _b64(tid(i)), "attempt_number": 0, "job_id": _b64(JOB), "state_updates": updates}
    line = json.dumps({"event_id": f"e{i}-{status}", "timestamp": T0 + i, "source_type": "EXPORT_TASK",
                       "event_data": data}).encode()
    ev = decode_line(line)
    assert isinstance(ev, pb.TaskEvent)
    return ev


TEXTS = ["worker boot", ":task_name:short", "short says hi", ":task_name:quiet", ":task_name:held",
         "held is waiting", "held still waiting"]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    yield s
    s.close()


def feed(store: Store, seq: int, tasks=(), lines=()) -> None:
    batch = pb.Batch(seq=seq, tasks=list(tasks), log_lines=list(lines),
                     log_files=[log_file(FILE_ID, NODE, OUT, worker_id=WORKER, job_id=JOB, pid=PID)])
    store.writer.call(apply_batch, "a", NODE, batch, False)


def owners(store: Store) -> dict[str, str | None]:
    rows, _ = read_lines(store.conn, LineSelector(file_id=FILE_ID), 100, None)
    return {r.text: r.task_id for r in rows}


def own_lines(store: Store, i: int) -> list[str]:
    rows, _ = read_lines(store.conn, LineSelector(task_id=tid(i)), 100, None)
    return [r.text for r in rows]


def test_ranges_sent_in_halves_and_merged(store):
    lines = log_lines(FILE_ID, TEXTS)
    off = {t: ln.offset for t, ln in zip(TEXTS, lines)}
    end_of_quiet = off[":task_name:held"]
    # short: ran and ended within one flush (Ray merged its events: an end only); quiet printed
    # only Ray's own header; held: RUNNING with its start, no end yet.
    feed(store, 1, tasks=[
        ray_event(1, 8, {"stdout_end": off[":task_name:quiet"]}),
        ray_event(2, 8, {"stdout_end": end_of_quiet}),
        ray_event(3, 8, {"stdout_start": off[":task_name:held"], "stdout_file": f"/tmp/s/logs/{OUT}"}),
    ], lines=lines)
    assert owners(store) == {
        "worker boot": tid(1),  # a worker's first range starts at 0 (Ray's header lines are in it too)
        ":task_name:short": tid(1), "short says hi": tid(1),
        ":task_name:quiet": tid(2),
        ":task_name:held": tid(3), "held is waiting": tid(3), "held still waiting": tid(3),
    }
    assert own_lines(store, 2) == [":task_name:quiet"]
    assert own_lines(store, 3) == [":task_name:held", "held is waiting", "held still waiting"]
    hits, _ = search(store.conn, SearchQuery(q="still waiting"))
    assert [h.line.task_id for h in hits] == [tid(3)]

    # held ends: Ray's end event prints its start as 0 and its file as '', which must not undo
    # the start; a next task on the worker prints after it.
    after = log_lines(FILE_ID, [":task_name:next", "next line"], start_offset=lines[-1].offset + len(TEXTS[-1]) + 1)
    feed(store, 2, tasks=[ray_event(3, 11, {"stdout_end": after[0].offset}, worker=False),
                          ray_event(4, 8, {"stdout_start": after[0].offset})], lines=after)
    assert own_lines(store, 3) == [":task_name:held", "held is waiting", "held still waiting"]
    assert own_lines(store, 4) == [":task_name:next", "next line"]
    assert own_lines(store, 1) == ["worker boot", ":task_name:short", "short says hi"]
    assert owners(store)["next line"] == tid(4)


def test_a_task_that_printed_nothing_owns_no_line(store):
    lines = log_lines(FILE_ID, TEXTS[:3])
    end = lines[-1].offset + len(TEXTS[2]) + 1
    # Both end at the same offset: the second (later row) printed nothing.
    feed(store, 1, tasks=[ray_event(1, 8, {"stdout_end": end}), ray_event(2, 8, {"stdout_end": end})], lines=lines)
    assert own_lines(store, 2) == []
    assert own_lines(store, 1) == TEXTS[:3]
    assert set(owners(store).values()) == {tid(1)}


def test_attribution_seeks_the_workers_ranges(store):
    """Each line shown asks for its task: an index seek on the worker's ranges, not a scan of the
    node's tasks (50 ms a line at 1M tasks before tasks_stdout_of_worker, measured)."""
    lines = log_lines(FILE_ID, TEXTS)
    feed(store, 1, tasks=[ray_event(1, 8, {"stdout_end": lines[3].offset}),
                          ray_event(2, 8, {"stdout_start": lines[3].offset})], lines=lines)
    conn = store.conn
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        owners(store)
        own_lines(store, 1)
        own_lines(store, 2)
    finally:
        conn.set_trace_callback(None)
    on_tasks = [s for s in seen if " FROM tasks " in s and s.lstrip().upper().startswith("SELECT")]
    assert on_tasks
    for sql in on_tasks:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert not any(step.startswith("SCAN tasks") for step in plan), f"{sql}\n-> {plan}"
        assert any(step.startswith("SEARCH tasks USING") for step in plan), f"{sql}\n-> {plan}"
        # The one sort allowed: a worker's open ranges (its running tasks), found by seek.
        if any("TEMP B-TREE" in step for step in plan):
            assert any("_end=?" in step for step in plan), f"{sql}\n-> {plan}"
