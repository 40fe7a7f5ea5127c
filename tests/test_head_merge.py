"""Task delta merging in the head's store: order-independence across batches and agents, and the
summary counters staying exact (they are kept per batch by apply_tasks.py, not by triggers)."""
from __future__ import annotations

import asyncio
import random
import sqlite3
import time

import pytest

from head_process import task_event
from rayscope.dashboard.store import Store, read_tasks, specs
from rayscope.dashboard.store.apply_batch import apply_batch, apply_batches, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.dashboard.store.task_rows import COLUMNS, prepare_task_rows
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


# The tasks table before the rowid layout (dashboard/store/schema.py at d8b1178^), verbatim.
OLD_TASKS_DDL = """CREATE TABLE tasks (
  task_id TEXT NOT NULL, attempt INTEGER NOT NULL, job_id TEXT NOT NULL, name TEXT, type TEXT, language TEXT,
  state TEXT NOT NULL, state_rank INTEGER NOT NULL, state_ts REAL, parent_task_id TEXT, actor_id TEXT,
  placement_group_id TEXT, node_id TEXT, worker_id TEXT, worker_pid INTEGER, required_resources TEXT,
  creation_time REAL, start_time REAL, end_time REAL, error_type TEXT, error_message TEXT,
  is_debugger_paused INTEGER, stdout_base TEXT, stdout_start INTEGER, stdout_end INTEGER, stderr_base TEXT,
  stderr_start INTEGER, stderr_end INTEGER, ts_pending_args_avail REAL, ts_pending_node_assignment REAL,
  ts_pending_obj_store_mem_avail REAL, ts_pending_args_fetch REAL, ts_submitted_to_worker REAL,
  ts_pending_actor_task_args_fetch REAL, ts_pending_actor_task_ordering_or_concurrency REAL, ts_running REAL,
  ts_running_in_ray_get REAL, ts_running_in_ray_wait REAL, ts_finished REAL, ts_failed REAL,
  ts_getting_and_pinning_args REAL,
  PRIMARY KEY (task_id, attempt)
) WITHOUT ROWID"""


def test_an_old_layout_db_is_migrated_at_open(tmp_path):
    """Before the rowid layout, tasks was WITHOUT ROWID on (task_id, attempt) with trigger-kept counts.
    The old table is written out as it was (OLD_TASKS_DDL), not derived from today's schema, so a
    change to the current schema cannot quietly change what "old" means here."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute(OLD_TASKS_DDL)
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



# ---------------------------------------------------------------- coalesced transactions, collapsed deltas

def _random_delta(rng: random.Random, i: int) -> pb.TaskEvent:
    """A delta of task i with a random subset of fields, built to hit every merge rule: repeated and
    tied state times, terminal states twice, ids and log files sent as "", resources replaced,
    late and conflicting job ids, malformed ones."""
    r = rng.random()
    task_id = "NOT-HEX" if r < 0.01 else tid(i)
    ev = pb.TaskEvent(task_id=task_id, attempt=rng.choice((0, 0, 1)),
                      job_id=rng.choice((JOB, JOB, JOB, "", "02000000")), event_time=T0 + rng.random())
    if 0.01 <= r < 0.02:
        ev.event_time = float("nan")
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        status = rng.randrange(1, 13) if rng.random() > 0.005 else 99
        ev.state_ts_ns[status] = int((T0 + rng.choice((0, 1, 1, 2, 3, 5))) * 1e9)
    pick = rng.random
    if pick() < 0.4:
        ev.name = rng.choice(("f", "g"))
    if pick() < 0.4:
        ev.type = rng.choice(("NORMAL_TASK", "ACTOR_TASK"))
    for f in ("node_id", "worker_id", "parent_task_id", "actor_id", "placement_group_id"):
        if pick() < 0.2:
            setattr(ev, f, rng.choice(("", "ab" * 4, "cd" * 4)))
    for f in ("stdout_file", "stderr_file"):
        if pick() < 0.2:
            setattr(ev, f, rng.choice(("", "/l/worker-1.out", "/l/worker-2.err")))
    for f in ("worker_pid", "stdout_start", "stdout_end", "stderr_start", "stderr_end"):
        if pick() < 0.2:
            setattr(ev, f, rng.randrange(0, 100))
    if pick() < 0.2:
        ev.error_type = rng.choice(("", "TASK_EXECUTION_EXCEPTION"))
    if pick() < 0.2:
        ev.error_message = rng.choice(("", "boom"))
    if pick() < 0.1:
        ev.is_debugger_paused = pick() < 0.5
    if pick() < 0.3:
        ev.required_resources[rng.choice(("CPU", "GPU"))] = rng.choice((0.5, 1.0))
    return ev


def _table(store: Store, sql: str) -> list:
    return sorted(tuple(r) for r in store.conn.execute(sql))


def _snapshot(store: Store) -> dict:
    cols = [r[1] for r in store.conn.execute("PRAGMA table_info(tasks)") if r[1] != "id"]
    return {
        "tasks": _table(store, f"SELECT {', '.join(cols)} FROM tasks"),
        "counts": _table(store, "SELECT job_id, name, type, state, n FROM task_counts WHERE n != 0"),
        "agents": _table(store, "SELECT agent_id, last_committed_seq, batches_committed FROM agents"),
        "drops": _table(store, "SELECT node_id, source, reason, count FROM drops"),
    }


@pytest.mark.parametrize("seed", range(6))
def test_coalesced_collapsed_ingest_equals_batch_by_batch(tmp_path, seed):
    """The same randomized delta stream, (a) one batch per transaction with every delta its own UPSERT,
    (b) in random groups of batches per transaction with each task attempt's deltas collapsed:
    identical rows, counters, committed seqs and drops. Resends (old seqs) are in the stream too."""
    rng = random.Random(seed)
    agents = {"owner": NODE_A, "exec": NODE_B}
    stream, seqs = [], {"owner": 0, "exec": 0}
    for _ in range(120):
        agent = rng.choice(list(agents))
        if seqs[agent] and rng.random() < 0.05:
            seq = rng.randint(1, seqs[agent])  # a resend: acked, not re-applied
        else:
            seq = seqs[agent] = seqs[agent] + 1
        tasks = [_random_delta(rng, rng.randrange(25)) for _ in range(rng.randint(1, 12))]
        stream.append((agent, agents[agent], pb.Batch(seq=seq, tasks=tasks).SerializeToString()))
    stores = []
    for way in ("batch by batch", "coalesced"):
        s = Store(tmp_path / f"{way}.db")
        for agent, node in agents.items():
            s.writer.call(record_hello, pb.AgentHello(agent_id=agent, node_id=node), time.time())
        stores.append(s)
    try:
        a, b = stores
        applied_a = [a.writer.call(apply_batch, ag, nd, pb.Batch.FromString(w), False, False).applied
                     for ag, nd, w in stream]
        applied_b, i = [], 0
        while i < len(stream):
            k = rng.randint(1, 16)
            group = [(ag, nd, pb.Batch.FromString(w), False) for ag, nd, w in stream[i:i + k]]
            applied_b += [r.applied for r in b.writer.call(apply_batches, group)]
            i += k
        assert applied_a == applied_b and not all(applied_a)
        snap_a, snap_b = _snapshot(a), _snapshot(b)
        assert snap_a["tasks"] and snap_a["drops"]
        for key in snap_a:
            assert snap_a[key] == snap_b[key], key
        counts_exact(a)
        counts_exact(b)
    finally:
        for s in stores:
            s.close()


def _columns(row) -> dict:
    shape, params = row
    return {"task_id": params[0], "state": params[3], **{COLUMNS[i]: v for i, v in zip(shape, params[5:])}}


def test_collapse_merges_a_short_tasks_three_deltas_into_one():
    out = prepare_task_rows([(None, info(1)), (None, running(1)), (None, end(1)), (None, info(2))])
    assert [params[0] for _, params in out.rows] == [tid(1), tid(2)]
    merged = _columns(out.rows[0])
    assert merged["state"] == "FINISHED" and merged["name"] == "f" and merged["stdout_end"] == 15
    assert (merged["creation_time"], merged["start_time"], merged["end_time"]) == pytest.approx((T0 + 1, T0 + 2, T0 + 3))
    # a state reported twice keeps its first time, newer-wins fields the later value: as two UPSERTs would
    later = running(3, worker_id="ab")
    later.state_ts_ns[8] += 10**9
    twice = prepare_task_rows([(None, running(3)), (None, later)]).rows
    assert len(twice) == 1
    assert _columns(twice[0])["start_time"] == pytest.approx(T0 + 4) and _columns(twice[0])["worker_id"] == "ab"


def test_concurrent_commits_share_transactions_and_each_is_acked_after_its_commit(store, monkeypatch):
    """Store.commit under load: queued batches from both agents go into shared transactions; every
    result says applied or (for a resent seq) not; the committed seqs are the highest sent."""
    import rayscope.dashboard.store as store_pkg
    groups = []
    real = store_pkg.prepare_batches

    def recording(items):  # in this process; the writer process commits what it returns
        groups.append(len(items))
        return real(items)

    monkeypatch.setattr(store_pkg, "prepare_batches", recording)

    async def agent(name: str, node: str, n: int) -> list:
        out = []
        for seq in list(range(1, n + 1)) + [n]:  # the last one resent
            out.append(store.commit(name, node, pb.Batch(seq=seq, tasks=[info(seq), running(seq), end(seq)]), False))
        return await asyncio.gather(*out)

    async def main():
        return await asyncio.gather(agent("owner", NODE_A, 30), agent("exec", NODE_B, 30))

    results = asyncio.run(main())
    for rs in results:
        assert [r.applied for r in rs] == [True] * 30 + [False]
        assert [r.last_committed_seq for r in rs] == list(range(1, 31)) + [30]
    assert sum(groups) == 62 and max(groups) > 1
    assert dict(store.conn.execute("SELECT agent_id, last_committed_seq FROM agents").fetchall()) == \
        {"owner": 30, "exec": 30}
    assert counts_exact(store) == {("f", "FINISHED"): 30}
