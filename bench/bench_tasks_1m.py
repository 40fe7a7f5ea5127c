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
from rayscope.dashboard.store import Store  # noqa: E402
from timing import Latency, sample  # noqa: E402


def ensure_loaded(db: Path, tasks: int) -> None:
    store = Store(db, live=True)
    try:
        have = store.conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        if have < tasks:
            print(f"loading {tasks:,} tasks into {db} ...", flush=True)
            rate, events = bench_store.load(store, tasks, 5000)
            print(f"ingest (store level): {rate:,.0f} task events/s over {events:,} events", flush=True)
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
def history_head(db: Path) -> Iterator[tuple[str, str]]:
    """The real head serving `db` in history mode: (http_url, token) until the block ends."""
    tmp = Path(tempfile.mkdtemp(prefix="rs-bench-"))
    token_file = tmp / "token"
    token = os.urandom(16).hex()
    token_file.write_text(token)
    head = start_history_head(db, token_file, tmp / "ready.json")
    try:
        yield json.loads((tmp / "ready.json").read_text())["http_url"], token
    finally:
        head.terminate()
        head.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/rs-bench-1m.db"))
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    ensure_loaded(args.db, args.tasks)
    with history_head(args.db) as (url, token):
        api = httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)
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


if __name__ == "__main__":
    main()
