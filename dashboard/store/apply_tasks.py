"""Merging TaskEvent deltas into the tasks table, in SQL, so resends and reordering are harmless.

One UPSERT per event: absent fields (NULL) never overwrite known ones, timestamps keep the
first value seen, and the state moves only forward in rank (terminal > running > submitted >
pending), ties broken by the state's own timestamp.
"""
from __future__ import annotations

import json
import math
import sqlite3
from typing import Iterable, Optional

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.dashboard.store.schema import (
    RANK_NIL,
    TASK_STATUS_NAMES,
    TS_COLUMNS,
    task_state_rank,
)
from rayscope.wire import rayscope_ingest_pb2 as pb

_N_STATUS = len(TASK_STATUS_NAMES)
_RANKS = tuple(task_state_rank(i) for i in range(_N_STATUS))
_PENDING_STATUSES = tuple(i for i in range(1, _N_STATUS) if _RANKS[i] == 1)
_RUNNING = TASK_STATUS_NAMES.index("RUNNING")
_FINISHED = TASK_STATUS_NAMES.index("FINISHED")
_FAILED = TASK_STATUS_NAMES.index("FAILED")

_FIELDS_NEWER_WINS = (
    "name", "type", "language", "parent_task_id", "actor_id", "placement_group_id", "node_id",
    "worker_id", "worker_pid", "required_resources", "error_type", "error_message",
    "is_debugger_paused", "stdout_base", "stdout_start", "stdout_end", "stderr_base",
    "stderr_start", "stderr_end",
)
_COLUMNS = (
    ("task_id", "attempt", "job_id", "state", "state_rank", "state_ts")
    + _FIELDS_NEWER_WINS
    + ("creation_time", "start_time", "end_time")
    + TS_COLUMNS
)
_NEWER = ("(excluded.state_rank > tasks.state_rank OR (excluded.state_rank = tasks.state_rank "
          "AND excluded.state_rank > 0 AND coalesce(excluded.state_ts, 0) >= coalesce(tasks.state_ts, 0)))")
_SET = ",\n  ".join(
    [f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE tasks.{c} END" for c in ("state", "state_rank", "state_ts")]
    + ["job_id = CASE WHEN excluded.job_id != '' THEN excluded.job_id ELSE tasks.job_id END"]
    + [f"{c} = coalesce(excluded.{c}, tasks.{c})" for c in _FIELDS_NEWER_WINS]
    + ["creation_time = coalesce(min(excluded.creation_time, tasks.creation_time), "
       "excluded.creation_time, tasks.creation_time)"]
    + [f"{c} = coalesce(tasks.{c}, excluded.{c})" for c in ("start_time", "end_time") + TS_COLUMNS]
)
UPSERT_TASK = (
    f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})\n"
    f"ON CONFLICT (task_id, attempt) DO UPDATE SET\n  {_SET}"
)


def _basename(path: Optional[str]) -> Optional[str]:
    return path.rsplit("/", 1)[-1] if path else None


def task_row(ev: pb.TaskEvent) -> tuple:
    """The UPSERT parameters of one delta; raises MalformedItem for what cannot be stored."""
    require_hex(ev.task_id, "task_id")
    require_hex(ev.job_id, "job_id", allow_empty=True)
    if ev.attempt < 0:
        raise MalformedItem("negative attempt")
    f = {d.name: v for d, v in ev.ListFields()}  # one call instead of ~20 HasField calls
    ts = [None] * (_N_STATUS - 1)
    best, best_key = 0, (RANK_NIL, 0.0)
    state_ts_ns = f.get("state_ts_ns")
    if state_ts_ns:
        for status, ns in state_ts_ns.items():
            if not 0 < status < _N_STATUS:
                raise MalformedItem(f"unknown task status {status}")
            sec = ns / 1e9
            ts[status - 1] = sec
            key = (_RANKS[status], sec)
            if key > best_key:
                best, best_key = status, key
    pending = [ts[i - 1] for i in _PENDING_STATUSES if ts[i - 1] is not None]
    end = ts[_FINISHED - 1] if ts[_FINISHED - 1] is not None else ts[_FAILED - 1]
    req = f.get("required_resources")
    res = json.dumps(dict(req), sort_keys=True) if req else None
    paused = f.get("is_debugger_paused")
    get = f.get
    return (
        ev.task_id, ev.attempt, ev.job_id, TASK_STATUS_NAMES[best], best_key[0],
        best_key[1] if best else None,
        get("name"), get("type"), get("language"), get("parent_task_id") or None,
        get("actor_id") or None, get("placement_group_id") or None, get("node_id") or None,
        get("worker_id") or None, get("worker_pid"), res, get("error_type"),
        get("error_message"), None if paused is None else int(paused),
        _basename(get("stdout_file")), get("stdout_start"), get("stdout_end"),
        _basename(get("stderr_file")), get("stderr_start"), get("stderr_end"),
        min(pending) if pending else None, ts[_RUNNING - 1], end,
        *ts,
    )


def apply_task_rows(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """The merge itself (also what bench/bench_store.py drives)."""
    conn.executemany(UPSERT_TASK, rows)


def apply_tasks(ctx: ApplyContext, events: Iterable[pb.TaskEvent]) -> None:
    rows: list[tuple] = []
    for ev in events:
        try:
            if not math.isfinite(ev.event_time):
                raise MalformedItem("event_time is not finite")
            rows.append(task_row(ev))
        except MalformedItem as err:
            ctx.drop("events", err, f"task {ev.task_id!r} attempt {ev.attempt}")
    if not rows:
        return
    try:
        apply_task_rows(ctx.conn, rows)
    except sqlite3.Error:
        for row in rows:  # find the bad one; the upsert is idempotent so re-applying is safe
            try:
                ctx.conn.execute(UPSERT_TASK, row)
            except sqlite3.Error as err:
                ctx.drop("events", MalformedItem(str(err)), f"task {row[0]} attempt {row[1]}")
    for row in rows:
        ctx.delta("tasks", {"task_id": row[0], "attempt": row[1], "job_id": row[2] or None,
                            "state": row[3] if row[4] else None})
