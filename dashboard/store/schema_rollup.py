"""Node samples rolled up per ROLLUP_S seconds, time first, for the distributions across nodes
(dashboard/store/read_node_distribution.py). Appended to schema.SCHEMA.

Why: an hour of 1,000 nodes at 1 Hz is 3.6 M node samples, keyed by node then time; reading them
by time goes through the ts index and looks every row up in the table: 92 s cold for the
overview's hour on this 2-core machine. One row per (slot, node) holding the slot's sums, keyed by
time first, is 240,000 rows read in key order for that hour. Triggers keep it (a sample the head
ignores as a resend fires nothing), so every path that stores a sample feeds it; a store written
before it existed is rolled up once when the writer opens it (backfill_node_rollup).
"""
from __future__ import annotations

import sqlite3

ROLLUP_S = 15  # seconds per slot; the distributions' steps are whole multiples of it

ROLLUP_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS node_rollup (
  slot INTEGER NOT NULL,                 -- floor(ts / {ROLLUP_S})
  node_id TEXT NOT NULL,
  n INTEGER NOT NULL DEFAULT 0,          -- node samples; cpu: the sum of their cpu_percent
  cpu REAL NOT NULL DEFAULT 0,
  mem_n INTEGER NOT NULL DEFAULT 0,      -- samples with a memory total; mem: sum of used/total, percent
  mem REAL NOT NULL DEFAULT 0,
  gpu_n INTEGER NOT NULL DEFAULT 0,      -- samples with GPUs; gpu: sum of their mean utilization, percent
  gpu REAL NOT NULL DEFAULT 0,
  store_n INTEGER NOT NULL DEFAULT 0,    -- object-store samples with a capacity; store: sum of used/capacity, percent
  store REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (slot, node_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS node_samples_rollup AFTER INSERT ON node_samples BEGIN
  INSERT INTO node_rollup (slot, node_id, n, cpu, mem_n, mem, gpu_n, gpu)
  VALUES (CAST(new.ts / {ROLLUP_S} AS INTEGER), new.node_id, 1, new.cpu_percent, new.mem_total > 0,
          CASE WHEN new.mem_total > 0 THEN 100.0 * new.mem_used / new.mem_total ELSE 0 END,
          new.gpu_utilization_ratio IS NOT NULL, coalesce(100.0 * new.gpu_utilization_ratio, 0))
  ON CONFLICT (slot, node_id) DO UPDATE SET n = n + 1, cpu = cpu + excluded.cpu, mem_n = mem_n + excluded.mem_n,
    mem = mem + excluded.mem, gpu_n = gpu_n + excluded.gpu_n, gpu = gpu + excluded.gpu;
END;
CREATE TRIGGER IF NOT EXISTS object_store_samples_rollup AFTER INSERT ON object_store_samples BEGIN
  INSERT INTO node_rollup (slot, node_id, store_n, store)
  VALUES (CAST(new.ts / {ROLLUP_S} AS INTEGER), new.node_id, new.capacity_bytes > 0,
          CASE WHEN new.capacity_bytes > 0 THEN 100.0 * new.used_bytes / new.capacity_bytes ELSE 0 END)
  ON CONFLICT (slot, node_id) DO UPDATE SET store_n = store_n + excluded.store_n, store = store + excluded.store;
END;
"""

_BACKFILL = (
    f"""INSERT INTO node_rollup (slot, node_id, n, cpu, mem_n, mem, gpu_n, gpu)
SELECT CAST(ts / {ROLLUP_S} AS INTEGER), node_id, count(*), sum(cpu_percent), sum(mem_total > 0),
  total(CASE WHEN mem_total > 0 THEN 100.0 * mem_used / mem_total END), count(gpu_utilization_ratio),
  total(100.0 * gpu_utilization_ratio)
FROM node_samples GROUP BY 1, 2""",
    f"""INSERT INTO node_rollup (slot, node_id, store_n, store)
SELECT CAST(ts / {ROLLUP_S} AS INTEGER), node_id, sum(capacity_bytes > 0),
  total(CASE WHEN capacity_bytes > 0 THEN 100.0 * used_bytes / capacity_bytes END)
FROM object_store_samples WHERE true GROUP BY 1, 2
ON CONFLICT (slot, node_id) DO UPDATE SET store_n = excluded.store_n, store = excluded.store""",
)


def backfill_node_rollup(conn: sqlite3.Connection) -> None:
    """A store with samples and no rollup (written before the rollup existed): roll it up, once."""
    if conn.execute("SELECT 1 FROM node_rollup LIMIT 1").fetchone():
        return
    if not (conn.execute("SELECT 1 FROM node_samples LIMIT 1").fetchone()
            or conn.execute("SELECT 1 FROM object_store_samples LIMIT 1").fetchone()):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in _BACKFILL:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
