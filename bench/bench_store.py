"""Store benchmark: load synthetic task events through the head's own ingest path, then time reads.

Path measured: Batch.FromString (as the gRPC server decodes) -> apply_batch (validation, the
SQL merge UPSERT, the summary-counter triggers, the agent seq) on the writer thread, 5000
events per transaction. Then: filtered pages of 100 (keyset, default sort) and the summary.

    .venv/bin/python bench/bench_store.py [--tasks 1000000] [--batch 5000] [--db PATH]
Prints numbers; asserts nothing.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery, list_page
from rayscope.dashboard.store import read_tasks, specs
from rayscope.wire import rayscope_ingest_pb2 as pb

NODES = [f"{i:02x}" * 28 for i in range(8)]
JOBS = [f"{i:08x}" for i in range(1, 21)]
NAMES = [f"module.fn_{i}" for i in range(200)]
ACTORS = [f"{i:032x}" for i in range(1000)]
T0 = 1_700_000_000.0


def make_event(i: int, rng: random.Random) -> pb.TaskEvent:
    """One realistic delta: most tasks arrive finished (pending+running+finished in one flush)."""
    actor = ACTORS[i % len(ACTORS)] if i % 10 == 0 else None
    ev = pb.TaskEvent(task_id=f"{i:048x}", attempt=0, job_id=JOBS[i % len(JOBS)], name=NAMES[i % len(NAMES)],
                      type="ACTOR_TASK" if actor else "NORMAL_TASK", language="PYTHON",
                      node_id=NODES[i % len(NODES)], worker_id=f"{i % 5000:056x}", worker_pid=1000 + i % 5000,
                      event_time=T0 + i / 1000)
    if actor:
        ev.actor_id = actor
    base = int((T0 + i / 1000) * 1e9)
    ev.state_ts_ns[1] = base
    r = rng.random()
    if r > 0.02:
        ev.state_ts_ns[8] = base + 1_000_000
    if r > 0.05:
        ev.state_ts_ns[12 if r < 0.10 else 11] = base + 5_000_000
        ev.stdout_file = f"/tmp/ray/session/logs/worker-{i % 5000:056x}-{JOBS[i % len(JOBS)]}-{1000 + i % 5000}.out"
        ev.stdout_start, ev.stdout_end = i * 10, i * 10 + 10
    if 0.05 < r < 0.10:
        ev.error_type, ev.error_message = "TASK_EXECUTION_EXCEPTION", "Traceback ...\nValueError: boom"
    return ev


def load(store: Store, n: int, batch_size: int) -> float:
    """Returns events/s over decode + apply, excluding the synthetic generation."""
    rng = random.Random(7)
    hello = pb.AgentHello(agent_id="bench", node_id=NODES[0])
    store.writer.call(record_hello, hello, time.time())
    busy = 0.0
    seq = 0
    for k in range(0, n, batch_size):
        seq += 1
        wire = pb.Batch(seq=seq, tasks=[make_event(i, rng) for i in range(k, min(n, k + batch_size))]).SerializeToString()
        t = time.perf_counter()
        batch = pb.Batch.FromString(wire)
        store.writer.call(apply_batch, "bench", NODES[0], batch, False)
        busy += time.perf_counter() - t
        if seq % 40 == 0:
            print(f"  {k + batch_size:>9,} events  {(k + batch_size) / busy:,.0f} events/s", flush=True)
    return n / busy


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
            print(f"loading {args.tasks:,} task events in batches of {args.batch} ...")
            rate = load(store, args.tasks, args.batch)
            print(f"INGEST: {rate:,.0f} task events/s (decode + merge + commit, {args.batch}/transaction)")
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
