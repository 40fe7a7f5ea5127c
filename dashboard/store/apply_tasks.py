"""Merging TaskEvent deltas into the tasks table, in SQL, so resends and reordering are harmless.

One UPSERT per event: absent fields (NULL) never overwrite known ones, timestamps keep the
first value seen, and the state moves only forward in rank (terminal > running > submitted >
pending), ties broken by the state's own timestamp. The job_id is the first non-empty one seen
(Ray's task ids embed the job, so it never changes). Each UPSERT assigns only the columns its
delta carries (see upsert_sql): that is what keeps a merge from rewriting every index.
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
_I_STATE_TS = _COLUMNS.index("state_ts")
_I_FIRST_FIELD = _COLUMNS.index(_FIELDS_NEWER_WINS[0])
_STATE_SET = [f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE tasks.{c} END"
              for c in ("state", "state_rank", "state_ts")]
_COLUMN_SET = {c: f"{c} = coalesce(excluded.{c}, tasks.{c})" for c in _FIELDS_NEWER_WINS}
_COLUMN_SET["creation_time"] = ("creation_time = coalesce(min(excluded.creation_time, tasks.creation_time), "
                                "excluded.creation_time, tasks.creation_time)")
_COLUMN_SET.update({c: f"{c} = coalesce(tasks.{c}, excluded.{c})" for c in ("start_time", "end_time") + TS_COLUMNS})
_I_STATE = _COLUMNS.index("state")


def upsert_sql(shape: tuple[int, ...]) -> str:
    """The merge UPSERT of the deltas that carry exactly the columns `shape` (indexes into _COLUMNS
    from state_ts on; bind compact(row, shape)). Absent columns are neither bound nor assigned:
    binding None costs the sqlite3 module ~0.7 us per parameter (it tries the adaptation protocol),
    and SQLite rewrites an index entry whenever one of its columns is assigned, even to the same
    value. job_id is never assigned on conflict (see _fix_empty_job_ids)."""
    cols = _COLUMNS[:_I_STATE_TS] + tuple(_COLUMNS[i] for i in shape)
    sql = f"INSERT INTO tasks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    sets = list(_STATE_SET) if shape and shape[0] == _I_STATE_TS else []
    sets += [_COLUMN_SET[_COLUMNS[i]] for i in shape if i > _I_STATE_TS]
    if not sets:
        return sql + "\nON CONFLICT (task_id, attempt) DO NOTHING"
    return sql + "\nON CONFLICT (task_id, attempt) DO UPDATE SET\n  " + ",\n  ".join(sets)


_FULL_SHAPE = tuple(range(_I_STATE_TS, len(_COLUMNS)))
UPSERT_TASK = upsert_sql(_FULL_SHAPE)  # every column (what a delta with every field present runs)
_SQL_BY_SHAPE: dict[tuple[int, ...], str] = {}


def _shape(row: tuple) -> tuple[int, ...]:
    return tuple([i for i in _FULL_SHAPE if row[i] is not None])


def _compact(row: tuple, shape: tuple[int, ...]) -> tuple:
    return row[:_I_STATE_TS] + tuple([row[i] for i in shape])


def _sql(shape: tuple[int, ...]) -> str:
    sql = _SQL_BY_SHAPE.get(shape)
    if sql is None:
        sql = _SQL_BY_SHAPE[shape] = upsert_sql(shape)
    return sql


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


def _runs(rows: list[tuple]) -> list[tuple[tuple[int, ...], list[tuple]]]:
    """Rows grouped by shape, one executemany each. Merging is per (task_id, attempt), so rows of
    different tasks may be reordered freely; when a task occurs twice in one batch, its deltas must
    keep their order, so then only consecutive rows of the same shape are grouped."""
    shapes = [_shape(r) for r in rows]
    if len({(r[0], r[1]) for r in rows}) == len(rows):
        groups: dict[tuple[int, ...], list[tuple]] = {}
        for shape, row in zip(shapes, rows):
            g = groups.get(shape)
            if g is None:
                g = groups[shape] = []
            g.append(row[:_I_STATE_TS] + tuple([row[i] for i in shape]))
        return list(groups.items())
    runs: list[tuple[tuple[int, ...], list[tuple]]] = []
    for shape, row in zip(shapes, rows):
        if not runs or runs[-1][0] != shape:
            runs.append((shape, []))
        runs[-1][1].append(_compact(row, shape))
    return runs


def _fix_empty_job_ids(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """A row stored from a delta without job_id gets the first non-empty one a later delta brings.
    Rows without job_id are found through a partial index that is empty in practice, so this
    costs one index probe per batch instead of assigning job_id (and so rewriting tasks_by_job)
    on every merge."""
    missing = conn.execute("SELECT task_id, attempt FROM tasks WHERE job_id = ''").fetchall()
    if not missing:
        return
    known = {(r[0], r[1]): r[2] for r in rows if r[2]}
    fixes = [(known[k], *k) for k in map(tuple, missing) if k in known]
    if fixes:
        conn.executemany("UPDATE tasks SET job_id = ? WHERE task_id = ? AND attempt = ? AND job_id = ''", fixes)


def _upsert_one(conn: sqlite3.Connection, row: tuple) -> None:
    shape = _shape(row)
    conn.execute(_sql(shape), _compact(row, shape))


def apply_task_rows(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """The merge itself (also what bench/bench_store.py drives)."""
    for shape, group in _runs(rows):
        conn.executemany(_sql(shape), group)
    _fix_empty_job_ids(conn, rows)


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
                _upsert_one(ctx.conn, row)
            except sqlite3.Error as err:
                ctx.drop("events", MalformedItem(str(err)), f"task {row[0]} attempt {row[1]}")
        _fix_empty_job_ids(ctx.conn, rows)
    if not ctx.collect_deltas:
        return
    for row in rows:
        ctx.delta("tasks", {"task_id": row[0], "attempt": row[1], "job_id": row[2] or None,
                            "state": row[3] if row[4] else None})
