"""Store benchmark: load synthetic task events through the head's own ingest path, then time reads.

Event mix (realistic_batches): ~3 export-event deltas per task attempt, in separate batches from
different agents: task_info+PENDING from the owner's node, RUNNING and FINISHED/FAILED from the
executor's, with some end deltas overtaking their RUNNING one. --tasks counts tasks (stored rows),
so --tasks 1000000 ingests ~3M events.

Path measured: Batch.FromString (as the gRPC server decodes) -> Store.commit, as the ingest servicer
calls it: queued batches are coalesced up to the head's caps (COALESCE_MAX_BATCHES / _ITEMS) into one
transaction (prepared here, committed by the writer process), each task attempt's deltas in it merged into one row (validation,
the SQL merge, the summary counters, the agent seq). --no-coalesce: one batch per transaction on the writer, deltas not merged.
Then: the counters are checked exact, filtered pages of 100 (keyset, default sort), the summary.

    .venv/bin/python bench/bench_store.py [--tasks 1000000] [--batch 5000] [--db PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Iterator

from rayscope.agent.shipper import MAX_INFLIGHT
from rayscope.dashboard.store import Store, read_tasks, specs
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery, list_page
from rayscope.wire import rayscope_ingest_pb2 as pb

NODES = [f"{i:02x}" * 28 for i in range(8)]
JOBS = [f"{i:08x}" for i in range(1, 21)]
NAMES = [f"module.fn_{i}" for i in range(200)]
ACTORS = [f"{i:032x}" for i in range(1000)]
T0 = 1_700_000_000.0
AGENTS = [f"bench-agent-{i}" for i in range(len(NODES))]


def tid(i: int) -> str:
    """Ray task ids: a hash-like unique prefix, then the (nil) actor part and the job id."""
    return f"{(i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}{'ff' * 12}{JOBS[i % len(JOBS)]}"


def _info_delta(i: int) -> pb.TaskEvent:
    """Delta 1 (from the owner): task_info + PENDING_ARGS_AVAIL."""
    actor = ACTORS[i % len(ACTORS)] if i % 10 == 0 else None
    ev = pb.TaskEvent(task_id=tid(i), attempt=0, job_id=JOBS[i % len(JOBS)], name=NAMES[i % len(NAMES)],
                      type="ACTOR_TASK" if actor else "NORMAL_TASK", language="PYTHON",
                      parent_task_id=f"{i % 997:048x}", event_time=T0 + i / 1000)
    if actor:
        ev.actor_id = actor
    ev.required_resources["CPU"] = 1.0
    ev.state_ts_ns[1] = int((T0 + i / 1000) * 1e9)
    return ev


def _running_delta(i: int) -> pb.TaskEvent:
    """Delta 2 (from the executor): RUNNING on a node/worker, with its stdout start."""
    base = int((T0 + i / 1000) * 1e9)
    ev = pb.TaskEvent(task_id=tid(i), attempt=0, job_id=JOBS[i % len(JOBS)], node_id=NODES[i % len(NODES)],
                      worker_id=f"{i % 5000:056x}", worker_pid=1000 + i % 5000, event_time=T0 + i / 1000 + 0.001)
    ev.state_ts_ns[8] = base + 1_000_000
    ev.stdout_file = f"/tmp/ray/session/logs/worker-{i % 5000:056x}-{JOBS[i % len(JOBS)]}-{1000 + i % 5000}.out"
    ev.stdout_start = i * 10
    return ev


def _end_delta(i: int, failed: bool) -> pb.TaskEvent:
    """Delta 3 (from the executor): FINISHED or FAILED, stdout end, error info."""
    base = int((T0 + i / 1000) * 1e9)
    ev = pb.TaskEvent(task_id=tid(i), attempt=0, job_id=JOBS[i % len(JOBS)], event_time=T0 + i / 1000 + 0.005)
    ev.state_ts_ns[12 if failed else 11] = base + 5_000_000
    ev.stdout_end = i * 10 + 10
    if failed:
        ev.error_type, ev.error_message = "TASK_EXECUTION_EXCEPTION", "Traceback ...\nValueError: boom"
    return ev


def realistic_batches(n_tasks: int, batch_size: int, seed: int = 7) -> Iterator[tuple[str, str, pb.Batch]]:
    """(agent_id, node_id, Batch) in arrival order: ~3 deltas per task (info+PENDING from the owner's
    agent, RUNNING and FINISHED/FAILED from the executor's), in separate batches from different agents.
    Tasks move through a window of `batch_size` tasks per phase: a task's RUNNING delta is shipped one
    window after its PENDING one, its end one window later; ~5% of end deltas overtake their RUNNING
    one, ~2% of tasks are still running at the end, ~5% fail. Each agent ships a batch when it holds
    `batch_size` deltas (and flushes at the end), so a task's deltas often commit out of order."""
    rng = random.Random(seed)
    per_agent = batch_size
    queues: dict[int, list] = {a: [] for a in range(len(AGENTS))}
    seqs = [0] * len(AGENTS)
    fate = {}

    def put(agent: int, ev: pb.TaskEvent):
        q = queues[agent]
        q.append(ev)
        if len(q) >= per_agent:
            seqs[agent] += 1
            queues[agent] = []
            return (AGENTS[agent], NODES[agent], pb.Batch(seq=seqs[agent], tasks=q))
        return None

    w = batch_size
    n_windows = (n_tasks + w - 1) // w
    for win in range(n_windows + 2):
        out = []
        lo = win * w
        for i in range(lo, min(n_tasks, lo + w)):  # new tasks: info + PENDING from the owner
            out.append(put((i * 7 + 3) % len(AGENTS), _info_delta(i)))
            r = rng.random()
            fate[i] = r
        lo1 = (win - 1) * w
        lo2 = (win - 2) * w
        for i in range(max(0, lo1), min(n_tasks, lo1 + w)) if win >= 1 else ():
            if fate[i] >= 0.05 or fate[i] < 0.025:  # the rest: end overtakes running, below
                out.append(put(i % len(AGENTS), _running_delta(i)))
        for i in range(max(0, lo2), min(n_tasks, lo2 + w)) if win >= 2 else ():
            r = fate.pop(i)
            if r < 0.02:
                continue  # still running
            out.append(put(i % len(AGENTS), _end_delta(i, 0.03 < r < 0.08)))
            if 0.025 <= r < 0.05:
                out.append(put(i % len(AGENTS), _running_delta(i)))  # RUNNING arrives after FINISHED
        for b in out:
            if b is not None:
                yield b
    for a, q in queues.items():
        if q:
            seqs[a] += 1
            yield AGENTS[a], NODES[a], pb.Batch(seq=seqs[a], tasks=q)


def load(store: Store, n: int, batch_size: int, coalesce: bool = True) -> tuple[float, int]:
    """Returns (events/s over decode + apply, events) excluding the synthetic generation.
    Coalesced: every batch through Store.commit, as the ingest servicer calls it, with up to
    COMMITS_IN_FLIGHT waiting (agents wait for acks), so the store groups them as the head does."""
    for agent, node in zip(AGENTS, NODES):
        store.writer.call(record_hello, pb.AgentHello(agent_id=agent, node_id=node), time.time())
    wire = [(agent, node, batch.SerializeToString()) for agent, node, batch in realistic_batches(n, batch_size)]
    events = sum(len(pb.Batch.FromString(w).tasks) for _, _, w in wire)
    t = time.perf_counter()
    if coalesce:
        asyncio.run(_commit_all(store, wire))
    else:
        for agent, node, w in wire:
            store.writer.call(apply_batch, agent, node, pb.Batch.FromString(w), False, False)
    return events / (time.perf_counter() - t), events


COMMITS_IN_FLIGHT = len(AGENTS) * MAX_INFLIGHT  # every agent with its full window unacked


async def _commit_all(store: Store, wire: list[tuple[str, str, bytes]]) -> None:
    window = asyncio.Semaphore(COMMITS_IN_FLIGHT)

    async def commit(agent: str, node: str, data: bytes) -> None:
        try:
            await store.commit(agent, node, pb.Batch.FromString(data), False)
        finally:
            window.release()

    pending = []
    for agent, node, data in wire:  # in order: each agent's seqs reach the store ascending
        await window.acquire()
        pending.append(asyncio.create_task(commit(agent, node, data)))
    await asyncio.gather(*pending)


def check_counts(store: Store) -> None:
    """The summary counters must equal a full GROUP BY over the tasks (exact, not approximate)."""
    conn = store.conn
    want = {(r[0], r[1], r[2], r[3]): r[4] for r in conn.execute(
        "SELECT job_id, coalesce(name, ''), coalesce(type, ''), state, count(*) FROM tasks GROUP BY 1, 2, 3, 4")}
    got = {(r[0], r[1], r[2], r[3]): r[4] for r in conn.execute(
        "SELECT job_id, name, type, state, n FROM task_counts WHERE n != 0")}
    print(f"COUNTERS {'exact' if want == got else 'MISMATCH'} ({len(want)} groups)")
    if want != got:
        raise SystemExit(f"counter mismatch: {len(set(want.items()) ^ set(got.items()))} groups differ")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def time_pages(store: Store, rounds: int) -> dict[str, list[float]]:
    rng = random.Random(11)
    conn = store.conn
    cases = {
        "state=RUNNING": lambda: [["state=RUNNING"]],
        "state=FAILED": lambda: [["state=FAILED"]],
        "job_id": lambda: [[f"job_id={rng.choice(JOBS)}"]],
        "name": lambda: [[f"name={rng.choice(NAMES)}"]],
        "node_id": lambda: [[f"node_id={rng.choice(NODES)}"]],
        "actor_id": lambda: [[f"actor_id={rng.choice(ACTORS[::10])}"]],  # the actors that have tasks
        "unfiltered": lambda: [[]],
    }
    out: dict[str, list[float]] = {}
    for label, make in cases.items():
        times = []
        for _ in range(rounds):
            filters = make()[0]
            t = time.perf_counter()
            rows, cursor = list_page(conn, specs.TASKS, ListQuery(filters=filters, limit=100))
            times.append(time.perf_counter() - t)
            for _ in range(3):  # follow the cursor a few pages deep, timed too
                if cursor is None:
                    break
                t = time.perf_counter()
                rows, cursor = list_page(conn, specs.TASKS, ListQuery(filters=filters, limit=100, cursor=cursor))
                times.append(time.perf_counter() - t)
        out[label] = times
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--no-coalesce", action="store_true", help="one batch per transaction, no collapsing")
    ap.add_argument("--db", type=Path, default=None, help="reuse/keep this DB (default: temp, deleted)")
    args = ap.parse_args()
    tmp = None
    db = args.db
    if db is None:
        tmp = Path(tempfile.mkdtemp(prefix="rs-bench-", dir="/tmp"))
        db = tmp / "bench.db"
    store = Store(db, live=True)
    try:
        have = store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        if have < args.tasks:
            print(f"loading {args.tasks:,} tasks (~3 deltas each, {args.batch} events per batch) ...")
            rate, events = load(store, args.tasks, args.batch, not args.no_coalesce)
            print(f"INGEST: {rate:,.0f} task events/s ({events:,} events; decode + merge + commit; "
                  f"{'one batch per transaction' if args.no_coalesce else 'coalesced'}; target 20,000/s)")
            check_counts(store)
        n = store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        print(f"tasks stored: {n:,}; db size {db.stat().st_size / 1e6:,.0f} MB")
        all_times: list[float] = []
        for label, times in time_pages(store, args.rounds).items():
            all_times += times
            print(f"PAGE {label:<14} n={len(times):>4} p50 {pct(times, 50) * 1e3:7.2f} ms  "
                  f"p95 {pct(times, 95) * 1e3:7.2f} ms")
        print(f"PAGE all            n={len(all_times):>4} p50 {pct(all_times, 50) * 1e3:7.2f} ms  "
              f"p95 {pct(all_times, 95) * 1e3:7.2f} ms")
        st = []
        for _ in range(20):
            t = time.perf_counter()
            s = read_tasks.task_summary(store.conn)
            st.append(time.perf_counter() - t)
        print(f"SUMMARY (all jobs, {len(s.rows)} functions, total {s.total:,}) "
              f"p50 {statistics.median(st) * 1e3:.2f} ms  max {max(st) * 1e3:.2f} ms")
        t = time.perf_counter()
        read_tasks.task_summary(store.conn, JOBS[3])
        print(f"SUMMARY (one job) {(time.perf_counter() - t) * 1e3:.2f} ms")
    finally:
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
