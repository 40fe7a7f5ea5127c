"""Task reads beyond plain listings: every attempt of one task, and the per-function summary."""
from __future__ import annotations

import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.store import rows


def task_attempts(conn: sqlite3.Connection, task_id: str) -> list[m.Task]:
    cur = conn.execute("SELECT * FROM tasks WHERE task_id = ? ORDER BY attempt", (task_id,))
    return [rows.task(r) for r in cur.fetchall()]


def task_summary(conn: sqlite3.Connection, job_id: Optional[str] = None) -> m.TaskSummary:
    """From the counter table (kept exact by apply_tasks.py): a few rows per function, never a scan of tasks."""
    sql = "SELECT name, type, state, sum(n) AS n FROM task_counts"
    params: tuple = ()
    if job_id:
        sql += " WHERE job_id = ?"
        params = (job_id,)
    sql += " GROUP BY name, type, state HAVING sum(n) > 0"
    by_fn: dict[tuple[str, str], m.TaskSummaryRow] = {}
    total = 0
    for r in conn.execute(sql, params):
        key = (r["name"], r["type"])
        row = by_fn.get(key)
        if row is None:
            row = by_fn[key] = m.TaskSummaryRow(name=r["name"] or "<unknown>", type=r["type"] or None,
                                                total=0, states={})
        row.states[r["state"]] = row.states.get(r["state"], 0) + r["n"]
        row.total += r["n"]
        total += r["n"]
    out = sorted(by_fn.values(), key=lambda x: (-x.total, x.name))
    return m.TaskSummary(total=total, rows=out)


def actor_summary(conn: sqlite3.Connection, job_id: Optional[str] = None) -> m.ActorSummary:
    sql = "SELECT coalesce(class_name, '<unknown>') AS c, state, count(*) AS n FROM actors"
    params: tuple = ()
    if job_id:
        sql += " WHERE job_id = ?"
        params = (job_id,)
    sql += " GROUP BY c, state"
    by_cls: dict[str, m.ActorSummaryRow] = {}
    total = 0
    for r in conn.execute(sql, params):
        row = by_cls.setdefault(r["c"], m.ActorSummaryRow(class_name=r["c"], total=0, states={}))
        row.states[r["state"]] = r["n"]
        row.total += r["n"]
        total += r["n"]
    return m.ActorSummary(total=total, rows=sorted(by_cls.values(), key=lambda x: (-x.total, x.class_name)))


def get_one(conn: sqlite3.Connection, table: str, key: str, value: str):
    """One row by primary key (tables are ours, never user input)."""
    return conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (value,)).fetchone()
