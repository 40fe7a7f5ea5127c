"""What the overview's charts cost the head at 1,000 nodes: distributions vs a line per node.

Writes `--nodes` nodes × `--seconds` seconds of 1 Hz node and object-store samples (the head's own
schema, SQL inserts: this times the reads, not ingest) ending now, then times on a reader connection:

- GET /metrics/nodes/distribution's query for the last hour (4 metrics, 240 steps), cold (empty
  cache: a head just started, or a step width not asked before) and warm (the live page's refresh:
  complete steps cached, the newest FINAL_AFTER_S re-read), and its JSON size;
- one cell's node list (/distribution/cell);
- for comparison, what one line per node costs: /metrics/nodes for every node (the per-node charts'
  query) and its JSON size.

    .venv/bin/python bench/bench_node_distribution.py [--nodes 1000] [--seconds 3600] [--repeat 10]
"""
from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from rayscope.dashboard import models as m
from rayscope.dashboard.store.connection import open_reader, open_writer
from rayscope.dashboard.store.read_metrics import node_series
from rayscope.dashboard.store.read_node_distribution import DistributionCache, distribution_cell, node_distributions
from timing import Latency, sample

GIB = 1 << 30
WINDOW_S = 3600.0


INSERT_NODE = ("INSERT INTO node_samples (node_id, ts, cpu_percent, mem_total, mem_used, swap_used, disk_total, "
               "disk_used, disk_read_bytes, disk_write_bytes, net_sent_bytes, net_recv_bytes) "
               "VALUES (?, ?, ?, ?, ?, 0, 1, 1, 0, 0, 0, 0)")
INSERT_STORE = "INSERT INTO object_store_samples VALUES (?, ?, ?, ?, 0, 0, 0, 0)"


def _write(conn: sqlite3.Connection, nodes: range, seconds: int, t0: float, rng: random.Random) -> None:
    """1 Hz node and object-store samples of `nodes` (each around its own level) from t0, in time order."""
    level = {n: rng.uniform(5, 95) for n in nodes}
    for s in range(seconds):
        conn.executemany(INSERT_NODE, [(f"{n:08x}" * 7, t0 + s + n / 1000, min(100.0, max(0.0, level[n] + rng.gauss(0, 8))),
                                        64 * GIB, int(level[n] / 100 * 60 * GIB)) for n in nodes])
        conn.executemany(INSERT_STORE, [(f"{n:08x}" * 7, t0 + s + n / 1000 + 0.01, int(level[n] / 100 * GIB), GIB)
                                        for n in nodes])


def fill(db: Path, nodes: int, seconds: int, now: float) -> None:
    conn = open_writer(db)
    conn.execute("PRAGMA synchronous=OFF")  # setup only: the reads are what is timed
    started = time.perf_counter()
    conn.execute("BEGIN")
    _write(conn, range(nodes), seconds, now - seconds, random.Random(1))
    conn.executemany("INSERT OR IGNORE INTO nodes (node_id, state) VALUES (?, 'ALIVE')",
                     [(f"{n:08x}" * 7,) for n in range(nodes)])
    conn.execute("COMMIT")
    conn.close()
    print(f"wrote {nodes:,} nodes × {seconds:,} s of samples ({2 * nodes * seconds:,} rows) in "
          f"{time.perf_counter() - started:.0f} s")


def rollup_write_cost(work: Path, nodes: int = 1000, seconds: int = 30) -> None:
    """What the rollup's triggers add to storing samples: the same inserts with and without them."""
    took = {}
    for triggers in (True, False):
        conn = open_writer(work / f"cost-{triggers}.db")
        if not triggers:
            conn.execute("DROP TRIGGER node_samples_rollup")
            conn.execute("DROP TRIGGER object_store_samples_rollup")
        conn.execute("BEGIN")
        started = time.perf_counter()
        _write(conn, range(nodes), seconds, time.time(), random.Random(2))
        took[triggers] = time.perf_counter() - started
        conn.execute("COMMIT")
        conn.close()
    per = 1e6 / (2 * nodes * seconds)
    print(f"storing {nodes:,} nodes × {seconds} s of node + object-store samples: {took[True]:.2f} s with the rollup's "
          f"triggers, {took[False]:.2f} s without ({took[True] * per:.1f} vs {took[False] * per:.1f} µs a sample)")


def row(name: str, lat: Latency, size: int | None = None) -> None:
    extra = f"{size / 1024:>10.0f} KiB" if size is not None else ""
    print(f"{name:<58} {lat.p50_ms:>9.1f} ms {lat.p95_ms:>9.1f} ms{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=3600)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--db", type=Path, help="keep the filled store here, and reuse it if it exists")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rs-bench-dist-"))
    try:
        db = args.db or work / "head.db"
        rollup_write_cost(work)
        if db.exists():
            now = open_reader(db).execute("SELECT max(ts) FROM node_samples").fetchone()[0]
            print(f"reusing {db}")
        else:
            now = time.time()
            fill(db, args.nodes, args.seconds, now)
        conn = open_reader(db)
        since = now - WINDOW_S

        def dist(cache: DistributionCache | None, metrics: list[str] = []) -> m.NodeDistributions:  # noqa: B006
            return node_distributions(conn, cache, metrics, since, now, None, 240, now, live=True)

        print(f"\n== the overview's charts, last hour, {args.nodes:,} nodes at 1 Hz (p50, p95, answer size)")
        out = dist(None)
        row(f"distribution, 4 metrics, cold ({out.step:g} s steps)", sample(lambda: dist(DistributionCache()), 3, 0),
            len(out.model_dump_json()))
        row("distribution, CPU only, cold", sample(lambda: dist(DistributionCache(), ["cpu"]), 3, 0))
        warm = DistributionCache()
        dist(warm)
        row("distribution, 4 metrics, warm (the live page's refresh)", sample(lambda: dist(warm), args.repeat))
        last = out.metrics[0].steps[-2]
        hot = max(i for i, c in enumerate(last.counts) if c)
        row(f"one cell's nodes ({last.counts[hot]} nodes)",
            sample(lambda: distribution_cell(conn, "cpu", last.ts, out.step, hot, 100), args.repeat))
        series = node_series(conn, [], since, now, 360)
        size = sum(len(s.model_dump_json()) for s in series)
        row("for comparison: /metrics/nodes, every node (a line per node)",
            sample(lambda: node_series(conn, [], since, now, 360), 2, 0), size)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
