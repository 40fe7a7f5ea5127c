"""Task delta merging in the head's store: order-independence across batches and agents, and the
summary counters staying exact (they are kept per batch by apply_tasks.py, not by triggers)."""
from __future__ import annotations

import sqlite3
import time

import pytest

from head_process import task_event
from rayscope.dashboard.store import Store, read_tasks, specs
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.dashboard.store.schema import SCHEMA
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE_A, NODE_B = "aa" * 28, "bb" * 28
JOB = "01000000"
T0 = 1_700_000_000.0


def tid(i: int) -> str:
    return f"{i:048x}"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    for agent, node in (("owner", NODE_A), ("exec", NODE_B)):
        s.writer.call(record_hello, pb.AgentHello(agent_id=agent, node_id=node), time.time())
    yield s
    s.close()


class Feed:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.seq = {"owner": 0, "exec": 0}

    def send(self, agent: str, *tasks: pb.TaskEvent) -> None:
        self.seq[agent] += 1
        node = NODE_A if agent == "owner" else NODE_B
        self.store.writer.call(apply_batch, agent, node, pb.Batch(seq=self.seq[agent], tasks=list(tasks)), False)


def counts_exact(store: Store) -> dict:
    conn = store.conn
    want = {tuple(r[:4]): r[4] for r in conn.execute(
        "SELECT job_id, coalesce(name, ''), coalesce(type, ''), state, count(*) FROM tasks GROUP BY 1, 2, 3, 4")}
    got = {tuple(r[:4]): r[4] for r in conn.execute("SELECT job_id, name, type, state, n FROM task_counts WHERE n != 0")}
    assert got == want
    return {(k[1], k[3]): n for k, n in got.items()}


def info(i: int, **kw) -> pb.TaskEvent:
    return task_event(tid(i), job_id=JOB, name="f", type="NORMAL_TASK", states={"PENDING_ARGS_AVAIL": T0 + i}, **kw)


def running(i: int, attempt: int = 0, **kw) -> pb.TaskEvent:
    return task_event(tid(i), job_id=JOB, attempt=attempt, node_id=NODE_B, worker_pid=100 + i,
                      states={"RUNNING": T0 + i + 1}, stdout_file="/x/logs/worker-1.out", stdout_start=10 * i, **kw)


def end(i: int, attempt: int = 0, failed: bool = False) -> pb.TaskEvent:
    ev = task_event(tid(i), job_id=JOB, attempt=attempt, states={("FAILED" if failed else "FINISHED"): T0 + i + 2},
                    stdout_end=10 * i + 5)
    if failed:
        ev.error_type = "TASK_EXECUTION_EXCEPTION"
    return ev


def test_deltas_merge_in_any_order_across_batches_and_agents(store):
    feed = Feed(store)
    # task 0: in order. task 1: the end overtakes RUNNING. task 2: executor deltas before the owner's.
    feed.send("owner", info(0), info(1))
    feed.send("exec", running(0), end(1))
    feed.send("exec", end(0), running(1), running(2), end(2))
    assert counts_exact(store) == {("f", "FINISHED"): 2, ("", "FINISHED"): 1}
    feed.send("owner", info(2))
    assert counts_exact(store) == {("f", "FINISHED"): 3}
    feed.send("owner", info(0), info(1), info(2))  # a resend under a new seq changes nothing
    feed.send("exec", running(0), running(1))
    assert counts_exact(store) == {("f", "FINISHED"): 3}
    for i in range(3):
        (t,) = store.task_attempts(tid(i))
        assert (t.state, t.name, t.type, t.node_id, t.worker_pid) == ("FINISHED", "f", "NORMAL_TASK", NODE_B, 100 + i)
        assert t.creation_time == pytest.approx(T0 + i) and t.duration == pytest.approx(1)
        assert set(t.state_times) == {"PENDING_ARGS_AVAIL", "RUNNING", "FINISHED"}
    row = store.conn.execute("SELECT stdout_base, stdout_start, stdout_end FROM tasks WHERE task_id = ?",
                             (tid(1),)).fetchone()
    assert tuple(row) == ("worker-1.out", 10, 15)


def test_counters_exact_after_retries_failures_and_duplicates_in_one_batch(store):
    feed = Feed(store)
    feed.send("owner", info(5), task_event(tid(5), job_id=JOB, attempt=1, name="f", type="NORMAL_TASK",
                                           states={"PENDING_ARGS_AVAIL": T0 + 50}))
    # one batch holding several deltas of the same attempt: they apply in order (newer fields win)
    feed.send("exec", running(5), end(5, failed=True), running(5, attempt=1),
              task_event(tid(5), job_id=JOB, attempt=1, node_id=NODE_A), end(5, attempt=1))
    assert counts_exact(store) == {("f", "FAILED"): 1, ("f", "FINISHED"): 1}
    a0, a1 = store.task_attempts(tid(5))
    assert (a0.state, a0.error_type, a1.state, a1.node_id) == ("FAILED", "TASK_EXECUTION_EXCEPTION", "FINISHED",
                                                               NODE_A)
    feed.send("exec", running(5, attempt=1))  # late RUNNING: no step back, counters unchanged
    assert counts_exact(store) == {("f", "FAILED"): 1, ("f", "FINISHED"): 1}
    summary = read_tasks.task_summary(store.conn)
    assert summary.total == 2 and summary.rows[0].states == {"FAILED": 1, "FINISHED": 1}


def test_job_id_and_name_arriving_late_move_the_counters(store):
    feed = Feed(store)
    feed.send("exec", task_event(tid(7), job_id="", states={"RUNNING": T0}))
    assert counts_exact(store) == {("", "RUNNING"): 1}
    feed.send("owner", info(7))
    assert counts_exact(store) == {("f", "RUNNING"): 1}
    assert store.task_attempts(tid(7))[0].job_id == JOB


def test_malformed_deltas_leave_counters_exact(store):
    feed = Feed(store)
    bad = running(9)
    bad.state_ts_ns[99] = 1
    feed.send("owner", info(8), task_event("NOT-HEX"), bad, info(9))
    assert counts_exact(store) == {("f", "PENDING_ARGS_AVAIL"): 2}


def test_an_old_layout_db_is_migrated_at_open(tmp_path):
    """Before the rowid layout, tasks was WITHOUT ROWID on (task_id, attempt) with trigger-kept counts."""
    ddl = SCHEMA.split("CREATE TABLE IF NOT EXISTS tasks (")[1].split(");")[0]
    ddl = ddl.replace("  id INTEGER PRIMARY KEY,\n", "").replace("UNIQUE (task_id, attempt)\n",
                                                                   "PRIMARY KEY (task_id, attempt)\n")
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute(f"CREATE TABLE tasks ({ddl}) WITHOUT ROWID")
    conn.execute("CREATE INDEX tasks_by_creation ON tasks(creation_time, task_id, attempt)")
    conn.execute("CREATE TABLE task_counts (job_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, "
                 "state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (job_id, name, type, state)) WITHOUT ROWID")
    for i in range(3):
        conn.execute("INSERT INTO tasks (task_id, attempt, job_id, name, state, state_rank, creation_time) "
                     "VALUES (?, 0, ?, 'g', 'FINISHED', 4, ?)", (tid(i), JOB, T0 + i))
    conn.execute("INSERT INTO task_counts VALUES (?, 'g', '', 'FINISHED', 3)", (JOB,))
    conn.commit()
    conn.close()
    s = Store(db)
    try:
        s.writer.call(record_hello, pb.AgentHello(agent_id="exec", node_id=NODE_B), time.time())
        Feed(s).send("exec", task_event(tid(1), job_id=JOB, states={"RUNNING": T0}),
                     task_event(tid(3), job_id=JOB, name="g", states={"RUNNING": T0}))
        assert counts_exact(s) == {("g", "FINISHED"): 3, ("g", "RUNNING"): 1}
        page = s.page(specs.TASKS, ListQuery())
        assert [t.task_id for t in page.rows] == [tid(2), tid(1), tid(0), tid(3)]
    finally:
        s.close()

