"""Deleting old samples and log lines (runs in the writer process, in small chunks)."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Optional

DEFAULT_SAMPLE_HOURS = 24.0
CHUNK = 5000


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


def _delete_chunked(conn: sqlite3.Connection, sql: str, cutoff: float) -> int:
    total = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        n = conn.execute(sql, (cutoff, CHUNK)).rowcount
        conn.execute("COMMIT")
        total += n
        if n < CHUNK:
            return total


def enforce(conn: sqlite3.Connection, policy: RetentionPolicy, now: float) -> int:
    """Returns how many rows were deleted."""
    cut = now - policy.sample_hours * 3600
    conn.execute("BEGIN IMMEDIATE")
    n = conn.execute("DELETE FROM node_samples WHERE ts < ?", (cut,)).rowcount
    n += conn.execute("DELETE FROM object_store_samples WHERE ts < ?", (cut,)).rowcount
    conn.execute("COMMIT")
    if policy.log_hours is not None:
        n += _delete_chunked(
            conn, "DELETE FROM log_lines WHERE id IN (SELECT id FROM log_lines WHERE read_at < ? LIMIT ?)",
            now - policy.log_hours * 3600)
    return n
