"""The task stream for the timeline: task executions grouped into one lane per worker process.

Walks tasks newest-created first on the creation index (so the latest `limit` executions cost
`limit` rows, not a scan of a million), then returns them oldest first.
"""
from __future__ import annotations

import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest

MAX_BARS = 100_000

_SQL = """SELECT task_id, attempt, name, job_id, actor_id, node_id, worker_id, worker_pid, start_time, end_time,
  state, error_type FROM tasks WHERE start_time IS NOT NULL AND node_id IS NOT NULL {where}
ORDER BY creation_time DESC LIMIT ?"""


def timeline(conn: sqlite3.Connection, job_id: Optional[str], since: Optional[float], until: Optional[float],
             limit: int) -> m.Timeline:
    if not 1 <= limit <= MAX_BARS:
        raise BadRequest(f"limit must be between 1 and {MAX_BARS}")
    where: list[str] = []
    params: list[object] = []
    if job_id:
        where.append("AND job_id = ?")
        params.append(job_id)
    if until is not None:
        where.append("AND start_time <= ?")
        params.append(until)
    if since is not None:
        where.append("AND (end_time IS NULL OR end_time >= ?)")
        params.append(since)
    got = conn.execute(_SQL.format(where=" ".join(where)), [*params, limit + 1]).fetchall()
    truncated = len(got) > limit
    got = sorted(got[:limit], key=lambda r: r["start_time"])
    lanes: dict[tuple[str, Optional[int]], int] = {}
    lane_rows: list[m.TimelineLane] = []
    for r in sorted(got, key=lambda r: (r["node_id"], r["worker_pid"] or 0)):
        key = (r["node_id"], r["worker_pid"])
        if key not in lanes:
            lanes[key] = len(lane_rows)
            lane_rows.append(m.TimelineLane(node_id=r["node_id"], worker_id=r["worker_id"], pid=r["worker_pid"]))
        elif lane_rows[lanes[key]].worker_id is None and r["worker_id"]:
            lane_rows[lanes[key]].worker_id = r["worker_id"]
    bars = [m.TimelineBar(task_id=r["task_id"], attempt=r["attempt"], name=r["name"], job_id=r["job_id"],
                          actor_id=r["actor_id"], lane=lanes[(r["node_id"], r["worker_pid"])], start=r["start_time"],
                          end=r["end_time"], state=r["state"], error_type=r["error_type"]) for r in got]
    return m.Timeline(lanes=lane_rows, bars=bars, truncated=truncated)
