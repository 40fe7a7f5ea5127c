"""Which task printed a worker's log line, from the byte ranges Ray exports per task.

A task's range is in its worker's own .out/.err. Ray 2.60 sends it in two halves (measured): the
RUNNING event carries the start (and the file name), the end event the end (its JSON prints the
unset start as 0 and the name as '', which runtime/export_events.py reads as unset); a short task
whose two events Ray merged before writing them has an end only. So a task's lines run from the
later of its start and the end of the range before it (same worker and stream) to its own end;
ranges are ordered by (end, id), id being the row's arrival order, which puts a task that printed
nothing (it ends where the one before it did) after that one. A running task has a start and no
end yet: it owns what its worker wrote since. Ranges are keyed by worker id, which every Ray 2.60
worker log file carries in its name.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import NotFound

_OWNER_COLUMNS = "task_id, name, actor_id, job_id"
WORKER_FILE_KIND = {"stdout": "worker_stdout", "stderr": "worker_stderr"}


def stream_of(basename: str) -> Optional[str]:
    return "stdout" if basename.endswith(".out") else "stderr" if basename.endswith(".err") else None


@dataclass(frozen=True)
class _File:
    """One worker's .out or .err."""

    stream: str
    node_id: str
    worker_id: str

    def ranges(self) -> tuple[str, list]:
        """SQL over `tasks`: the tasks that ran on this worker (indexes tasks_<stream>_of_worker)."""
        return "worker_id = ? AND node_id = ?", [self.worker_id, self.node_id]

    def lines(self) -> tuple[str, list]:
        """SQL over LINE_SELECT's tables: the lines of this file."""
        return "f.node_id = ? AND f.worker_id = ? AND f.kind = ?", [self.node_id, self.worker_id,
                                                                     WORKER_FILE_KIND[self.stream]]


def _end_before(conn: sqlite3.Connection, f: _File, end: int, row_id: int) -> int:
    """Where the range before (end, row_id) ends; 0 if none."""
    where, params = f.ranges()
    s = f.stream
    r = conn.execute(f"SELECT {s}_end FROM tasks WHERE {where} AND {s}_end IS NOT NULL AND ({s}_end, id) < (?, ?) "
                     f"ORDER BY {s}_end DESC, id DESC LIMIT 1", params + [end, row_id]).fetchone()
    return r[0] if r else 0


def _owner_at(conn: sqlite3.Connection, f: _File, offset: int) -> Optional[sqlite3.Row]:
    """The first range to end after `offset` (when it did not start after it), else the running
    task's open range that began at or before it."""
    where, params = f.ranges()
    s = f.stream
    r = conn.execute(f"SELECT {_OWNER_COLUMNS}, {s}_start AS start FROM tasks WHERE {where} AND {s}_end > ? "
                     f"ORDER BY {s}_end, id LIMIT 1", params + [offset]).fetchone()
    if r is not None and (r["start"] is None or r["start"] <= offset):
        return r
    return conn.execute(f"SELECT {_OWNER_COLUMNS} FROM tasks WHERE {where} AND {s}_end IS NULL AND {s}_start <= ? "
                        f"ORDER BY {s}_start DESC LIMIT 1", params + [offset]).fetchone()


@dataclass
class Attributor:
    """Finds the task (and actor) behind log lines; caches per request."""

    conn: sqlite3.Connection
    _actor_by_pid: dict = field(default_factory=dict)

    def _task_at(self, r: sqlite3.Row) -> Optional[sqlite3.Row]:
        stream = stream_of(r["basename"])
        if stream is None or not r["worker_id"]:
            return None
        return _owner_at(self.conn, _File(stream, r["node_id"], r["worker_id"]), r["offset"])

    def _actor_on(self, node_id: str, pid: Optional[int]) -> Optional[str]:
        if pid is None:
            return None
        key = (node_id, pid)
        if key not in self._actor_by_pid:
            r = self.conn.execute("SELECT actor_id FROM actors WHERE node_id = ? AND pid = ? "
                                  "ORDER BY start_time DESC LIMIT 1", key).fetchone()
            self._actor_by_pid[key] = r[0] if r else None
        return self._actor_by_pid[key]

    def line(self, r: sqlite3.Row) -> m.LogLine:
        owner = self._task_at(r)
        actor = (owner["actor_id"] if owner else None) or r["file_actor_id"] or self._actor_on(r["node_id"], r["pid"])
        return m.LogLine(
            file_id=r["file_id"], node_id=r["node_id"], path=r["path"], generation=r["generation"],
            offset=r["offset"], text=r["text"], is_binary=bool(r["is_binary"]),
            truncated_bytes=r["truncated_bytes"], read_at=r["read_at"], worker_id=r["worker_id"],
            job_id=r["job_id"] or (owner["job_id"] if owner else None),
            task_id=owner["task_id"] if owner else None, task_name=owner["name"] if owner else None,
            actor_id=actor,
        )


def task_segments(conn: sqlite3.Connection, task_id: str) -> tuple[list[str], list]:
    """SQL conditions (over LINE_SELECT's tables) for the lines every attempt of a task printed."""
    tasks = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchall()
    if not tasks:
        raise NotFound(f"no task {task_id}")
    conds, params = [], []
    for t in tasks:
        if not t["node_id"] or not t["worker_id"]:
            continue
        for stream in ("stdout", "stderr"):
            f = _File(stream, t["node_id"], t["worker_id"])
            start, end = t[f"{stream}_start"], t[f"{stream}_end"]
            if end is not None:
                low = max(start or 0, _end_before(conn, f, end, t["id"]))
            elif start is not None:  # running: everything since its start
                low = start
            else:
                continue
            where, wparams = f.lines()
            conds.append(f"({where} AND l.offset >= ? AND (? IS NULL OR l.offset < ?))")
            params.extend([*wparams, low, end, end])
    return conds, params
