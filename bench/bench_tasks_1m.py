"""The head's task API with 1,000,000 tasks stored, measured over HTTP.

Loads 1M synthetic tasks (~3 export-event deltas each, the realistic mix of bench_store.py)
into a DB through the head's own merge code (or reuses --db if it already holds them), starts
the real head process on it in history mode, and times filtered pages of 100 and the summary
over HTTP. Targets: page p95 < 50 ms, summary < 200 ms. Also times, without a target, the web UI's
other task listings: sorted by start and by duration, and a task's children.

Ray has no like-for-like figure at this size: its GCS keeps at most 100,000 task attempts and
every State API call returns at most 10,000 rows; bench_state_api.py gives the side-by-side
ratio on a real cluster.

    .venv/bin/python bench/bench_tasks_1m.py [--tasks 1000000] [--db /tmp/rs-bench-1m.db]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

sys.path.insert(0, os.path.dirname(__file__))
import bench_store  # noqa: E402
import ui_pages  # noqa: E402
from procstat import HeadMemory  # noqa: E402
from rayscope.dashboard.store import Store  # noqa: E402
from rayscope.wire import rayscope_ingest_pb2 as pb  # noqa: E402
from timing import Latency, sample  # noqa: E402

CLUSTER_SECONDS = 3600  # an hour of per-second node samples per node, around the tasks' 1,000 s
PROCESSES_PER_NODE = 30


def cluster_batches() -> Iterator[tuple[str, str, pb.Batch]]:
    """What the other pages show, for bench_store's 8 nodes: each node's event, its per-second samples,
    a process snapshot of ~30 workers, their worker events; the 20 jobs and the 1,000 actors the
    tasks name. Small next to the tasks, but the nodes, overview and node pages then answer with
    rows, as they would on the cluster that ran those tasks."""
    t0 = bench_store.T0 - 100
    for k, (agent, node) in enumerate(zip(bench_store.AGENTS, bench_store.NODES)):
        b = pb.Batch(seq=10_000_000 + k, created_at=t0)
        ev = b.nodes.add(node_id=node, state="ALIVE", node_ip=f"10.0.0.{k + 1}", node_name=f"bench-{k}",
                         is_head_node=k == 0, start_time_ms=int(t0 * 1000), event_time=t0)
        ev.resources_total.update({"CPU": 32.0, "memory": 128e9, "object_store_memory": 32e9})
        for s in range(CLUSTER_SECONDS):
            b.node_samples.add(ts=t0 + s, cpu_percent=(s * 7 + k * 13) % 100, cpu_count=32, mem_total=128 << 30,
                               mem_used=(40 + (s + k) % 40) << 30, mem_available=(60 << 30), disk_total=1 << 40,
                               disk_used=1 << 38, net_sent_bytes=s << 20, net_recv_bytes=s << 21, load1=8.0)
        snap = b.processes
        snap.ts = t0 + CLUSTER_SECONDS
        for w in range(PROCESSES_PER_NODE):
            worker = f"{k * PROCESSES_PER_NODE + w:056x}"
            pid = 1000 + k * PROCESSES_PER_NODE + w
            snap.processes.add(pid=pid, ppid=100, role="worker", cmdline=f"ray::IDLE {pid}", title="ray::IDLE",
                               cpu_percent=w * 3.0, rss=300 << 20, uss=200 << 20, num_fds=40, num_threads=20,
                               create_time=t0, worker_id=worker, job_id=bench_store.JOBS[w % len(bench_store.JOBS)])
            b.workers.add(worker_id=worker, node_id=node, pid=pid, worker_type="WORKER", is_alive=True,
                          start_time=t0, node_ip=f"10.0.0.{k + 1}", event_time=t0)
        if k == 0:
            for j, job in enumerate(bench_store.JOBS):
                b.jobs.add(job_id=job, is_dead=True, driver_pid=500 + j, driver_ip="10.0.0.1",
                           start_time_ms=int(t0 * 1000), end_time_ms=int((t0 + 1200) * 1000),
                           entrypoint=f"python job_{j}.py", event_time=t0 + 1200)
            for a, actor in enumerate(bench_store.ACTORS):
                b.actors.add(actor_id=actor, job_id=bench_store.JOBS[a % len(bench_store.JOBS)], state="DEAD",
                             class_name=f"Actor{a % 10}", node_id=bench_store.NODES[a % len(bench_store.NODES)],
                             event_time=t0 + 1200)
        yield agent, node, b


def ensure_loaded(db: Path, tasks: int) -> None:
    store = Store(db, live=True)
    try:
        have = store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        if have < tasks:
            print(f"loading {tasks:,} tasks into {db} ...", flush=True)
            rate, events = bench_store.load(store, tasks, 5000)
            print(f"ingest (store level): {rate:,.0f} task events/s over {events:,} events", flush=True)
        if not store.conn.execute("SELECT count(*) FROM node_samples").fetchone()[0]:
            wire = [(a, n, b.SerializeToString()) for a, n, b in cluster_batches()]
            asyncio.run(bench_store._commit_all(store, wire))
    finally:
        store.close()


def start_history_head(db: Path, token_file: Path, ready: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "rayscope.dashboard", "--db", str(db), "--history",
                             "--port", "0", "--token-file", str(token_file), "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the head did not start on the benchmark DB")
        time.sleep(0.2)
    return proc


@contextmanager
def history_head(db: Path) -> Iterator[tuple[str, str, int]]:
    """The real head serving `db` in history mode: (http_url, token, pid) until the block ends."""
    tmp = Path(tempfile.mkdtemp(prefix="rs-bench-"))
    token_file = tmp / "token"
    token = os.urandom(16).hex()
    token_file.write_text(token)
    head = start_history_head(db, token_file, tmp / "ready.json")
    try:
        yield json.loads((tmp / "ready.json").read_text())["http_url"], token, head.pid
    finally:
        head.terminate()
        head.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/rs-bench-1m.db"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--page-rounds", type=int, default=10, help="visits of every web UI page before the "
                        "memory is read")
    args = parser.parse_args()
    ensure_loaded(args.db, args.tasks)
    with history_head(args.db) as (url, token, pid):
        api = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        print(HeadMemory.of(pid).report(f"idle, {args.tasks:,} tasks stored"))
        rng = random.Random(5)
        cases = {
            "state=FAILED": lambda: "state=FAILED",
            "state=RUNNING": lambda: "state=RUNNING",
            "job_id": lambda: f"job_id={rng.choice(bench_store.JOBS)}",
            "name": lambda: f"name={rng.choice(bench_store.NAMES)}",
            "node_id": lambda: f"node_id={rng.choice(bench_store.NODES)}",
        }
        print(f"\n== {args.tasks:,} tasks stored; HTTP, {args.rounds} calls each")
        everything: list[float] = []
        for label, make in cases.items():
            lat = sample(lambda: api.get("/tasks", params={"filter": make(), "limit": 100}).raise_for_status(),
                         args.rounds)
            everything += lat.samples_s
            print(f"page of 100, {label:<14} p50 {lat.p50_ms:6.1f} ms  p95 {lat.p95_ms:6.1f} ms")
        total = Latency(everything)
        summary = sample(lambda: api.get("/tasks/summary").raise_for_status(), args.rounds)
        print(f"page of 100, all filters    p50 {total.p50_ms:6.1f} ms  p95 {total.p95_ms:6.1f} ms  "
              f"(target p95 < 50 ms: {'met' if total.p95_ms < 50 else 'MISSED'})")
        print(f"summary                     p50 {summary.p50_ms:6.1f} ms  p95 {summary.p95_ms:6.1f} ms  "
              f"(target < 200 ms: {'met' if summary.p95_ms < 200 else 'MISSED'})")
        # The web UI's other task listings (no target): its sorts, and a task page's children.
        others = {
            "sort=-start_time": lambda: {"sort": "-start_time"},
            "sort=-duration": lambda: {"sort": "-duration"},
            "children of a task": lambda: {"filter": f"parent_task_id={bench_store.tid(rng.randrange(args.tasks))}"},
        }
        for label, make in others.items():
            lat = sample(lambda: api.get("/tasks", params={**make(), "limit": 100}).raise_for_status(), args.rounds)
            print(f"{label:<27} p50 {lat.p50_ms:6.1f} ms  p95 {lat.p95_ms:6.1f} ms")
        serve_pages(api, pid, args.page_rounds, args.tasks)


def serve_pages(api: httpx.Client, pid: int, rounds: int, tasks: int) -> None:
    """Open the web UI's pages as a browser does (ui_pages.py), `rounds` times, then read the head's memory:
    the issue's figure (service + writer RSS with 1M tasks stored, while serving the pages)."""
    calls = ui_pages.page_calls(bench_store.JOBS, bench_store.NODES[1], live=False)
    by_page: dict[str, list[float]] = {p: [] for p in calls}
    for _ in range(rounds):
        for page, times in ui_pages.visit(api, calls).items():
            by_page[page] += times
    print(f"\n== the web UI's pages, {rounds} visits each ({ui_pages.PARALLEL} calls in parallel, as a browser)")
    for page, times in by_page.items():
        lat = Latency(times)
        print(f"{page:<10} {len(calls[page]):>2} calls  p50 {lat.p50_ms:6.1f} ms  p95 {lat.p95_ms:6.1f} ms  "
              f"max {max(times) * 1e3:6.1f} ms")
    print(HeadMemory.of(pid).report(f"after serving the pages, {tasks:,} tasks stored"))


if __name__ == "__main__":
    main()
