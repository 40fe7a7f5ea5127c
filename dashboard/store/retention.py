"""Deleting old samples (node, object store, application metrics), resolved alerts and log lines (runs in
the writer process, in small chunks).

Each transaction is all or nothing: on an error it is rolled back before the error goes up, so
the writer's connection is never left inside a half-done transaction (the next batch's
BEGIN IMMEDIATE would fail, and with it every commit after). Log lines go in chunks of CHUNK,
each its own transaction, so ingest never waits long behind a big purge; an error stops at the
failing chunk, and the chunks before it stay deleted (they were due).
"""
from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Optional

from rayscope.dashboard.store.schema_rollup import ROLLUP_S

DEFAULT_SAMPLE_HOURS = 24.0
CHUNK = 5000

# The newest line is never deleted: SQLite gives a new row the largest id + 1, so an emptied table
# would hand out ids again from 1, and the cursors that page by id (log search, /logs/tail's
# arrival order) would skip every line stored after that.
DELETE_OLD_LINES = ("DELETE FROM log_lines WHERE id IN (SELECT id FROM log_lines WHERE read_at < ? "
                    "AND id < (SELECT max(id) FROM log_lines) LIMIT ?)")


@dataclass(frozen=True)
class RetentionPolicy:
    """Samples keep `sample_hours`; log lines keep `log_hours` (None: forever)."""

    sample_hours: float = DEFAULT_SAMPLE_HOURS
    log_hours: Optional[float] = None

    @classmethod
    def from_flag(cls, retention_hours: Optional[float]) -> "RetentionPolicy":
        if retention_hours is None:
            return cls()
        return cls(sample_hours=retention_hours, log_hours=retention_hours)


def _transaction(conn: sqlite3.Connection, statements: list[tuple[str, tuple]]) -> int:
    """Runs the statements in one BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error); rows changed."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = sum(conn.execute(sql, args).rowcount for sql, args in statements)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite ends some failed transactions itself (e.g. on a full disk)
            conn.execute("ROLLBACK")
        raise
    return n


def _delete_chunked(conn: sqlite3.Connection, sql: str, cutoff: float) -> int:
    total = 0
    while True:
        n = _transaction(conn, [(sql, (cutoff, CHUNK))])
        total += n
        if n < CHUNK:
            return total


def enforce(conn: sqlite3.Connection, policy: RetentionPolicy, now: float) -> int:
    """Deletes what is older than the policy (strictly before now - hours); returns how many rows."""
    cut = now - policy.sample_hours * 3600
    n = _transaction(conn, [("DELETE FROM node_samples WHERE ts < ?", (cut,)),
                            ("DELETE FROM object_store_samples WHERE ts < ?", (cut,)),
                            ("DELETE FROM node_rollup WHERE slot < ?", (math.floor(cut / ROLLUP_S),)),
                            ("DELETE FROM app_metric_samples WHERE ts < ?", (cut,)),
                            ("DELETE FROM dataset_progress WHERE sample_time < ?", (cut,)),
                            ("DELETE FROM serve_metric_samples WHERE ts < ?", (cut,)),
                            ("DELETE FROM stack_dumps WHERE taken_at < ?", (cut,)),
                            ("DELETE FROM profiles WHERE requested_at < ? AND status != 'running'", (cut,)),
                            ("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?", (cut,))])
    if policy.log_hours is not None:
        n += _delete_chunked(conn, DELETE_OLD_LINES, now - policy.log_hours * 3600)
    return n
