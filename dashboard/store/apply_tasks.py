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
    RANK_TERMINAL,
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


def _sql(shape: tuple[int, ...]) -> str:
    sql = _SQL_BY_SHAPE.get(shape)
    if sql is None:
        sql = _SQL_BY_SHAPE[shape] = upsert_sql(shape)
    return sql


def _basename(path: Optional[str]) -> Optional[str]:
    return path.rsplit("/", 1)[-1] if path else None


_COL = {c: i for i, c in enumerate(_COLUMNS)}
# TaskEvent field number -> (column index, whether "" means absent) for fields stored as they are.
_DIRECT = {pb.TaskEvent.DESCRIPTOR.fields_by_name[c].number: (_COL[c], c.endswith("_id"))
           for c in ("name", "type", "language", "parent_task_id", "actor_id", "placement_group_id",
                     "node_id", "worker_id", "worker_pid", "error_type", "error_message", "stdout_start",
                     "stdout_end", "stderr_start", "stderr_end")}
_F = pb.TaskEvent.DESCRIPTOR.fields_by_name
_F_RES, _F_TS, _F_PAUSED = _F["required_resources"].number, _F["state_ts_ns"].number, _F["is_debugger_paused"].number
_F_FILES = {_F["stdout_file"].number: _COL["stdout_base"], _F["stderr_file"].number: _COL["stderr_base"]}
_I_CREATION, _I_START, _I_END = _COL["creation_time"], _COL["start_time"], _COL["end_time"]
_I_TS0 = _COL[TS_COLUMNS[0]] - 1  # column of status s: _I_TS0 + s
_RES_JSON: dict[tuple, str] = {}  # required_resources repeat across tasks: format each set once


def _resources_json(req) -> str:
    key = tuple(sorted(req.items()))
    out = _RES_JSON.get(key)
    if out is None:
        out = json.dumps(dict(key), sort_keys=True)
        if len(_RES_JSON) < 4096:
            _RES_JSON[key] = out
    return out


def task_row(ev: pb.TaskEvent) -> tuple[tuple[int, ...], tuple]:
    """(shape, parameters) of one delta's UPSERT (see upsert_sql): the columns it carries from
    state_ts on, and their values after task_id, attempt, job_id, state, state_rank.
    Raises MalformedItem for what cannot be stored."""
    task_id, job_id, attempt = ev.task_id, ev.job_id, ev.attempt
    require_hex(task_id, "task_id")
    require_hex(job_id, "job_id", allow_empty=True)
    if attempt < 0:
        raise MalformedItem("negative attempt")
    vals: dict[int, object] = {}
    best, best_rank, best_sec = 0, RANK_NIL, 0.0
    for d, v in ev.ListFields():  # one call instead of ~20 HasField calls
        num = d.number
        direct = _DIRECT.get(num)
        if direct is not None:
            if v != "" or not direct[1]:
                vals[direct[0]] = v
        elif num == _F_TS:
            pending = end = None
            for status, ns in v.items():
                if not 0 < status < _N_STATUS:
                    raise MalformedItem(f"unknown task status {status}")
                sec = ns / 1e9
                vals[_I_TS0 + status] = sec
                rank = _RANKS[status]
                if rank > best_rank or (rank == best_rank and (sec > best_sec or (sec == best_sec and status > best))):
                    best, best_rank, best_sec = status, rank, sec  # ties: the higher status (deterministic)
                if rank == 1:
                    pending = sec if pending is None or sec < pending else pending
                elif status == _RUNNING:
                    vals[_I_START] = sec
                elif status == _FINISHED or (status == _FAILED and end is None):
                    end = sec
            if pending is not None:
                vals[_I_CREATION] = pending
            if end is not None:
                vals[_I_END] = end
        elif num == _F_RES:
            if v:
                vals[_I_REQ] = _resources_json(v)
        elif num in _F_FILES:
            if v:
                vals[_F_FILES[num]] = _basename(v)
        elif num == _F_PAUSED:
            vals[_I_PAUSED] = int(v)
    if best:
        vals[_I_STATE_TS] = best_sec
    shape = tuple(sorted(vals))
    return shape, (task_id, attempt, job_id, TASK_STATUS_NAMES[best], best_rank, *[vals[i] for i in shape])


_I_REQ, _I_PAUSED = _COL["required_resources"], _COL["is_debugger_paused"]


def _groups(rows: list[tuple[tuple[int, ...], tuple]]) -> list[tuple[tuple[int, ...], list[tuple]]]:
    """Rows grouped by shape, one executemany each. Merging is per (task_id, attempt), so rows of
    different tasks may be reordered freely; a task's deltas within one batch must keep their
    order, so its k-th delta goes to the k-th round of groups."""
    rounds: list[dict[tuple[int, ...], list[tuple]]] = [{}]
    seen: dict[tuple, int] = {}
    for shape, row in rows:
        key = (row[0], row[1])
        k = seen.get(key)
        k = seen[key] = 0 if k is None else k + 1
        if k == len(rounds):
            rounds.append({})
        g = rounds[k].get(shape)
        if g is None:
            g = rounds[k][shape] = []
        g.append(row)
    return [item for r in rounds for item in r.items()]


def _fix_empty_job_ids(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """A row stored from a delta without job_id gets the first non-empty one a later delta brings.
    Rows without job_id are found through a partial index that is empty in practice, so this
    costs one index probe per batch instead of assigning job_id (and so rewriting tasks_by_job)
    on every merge."""
    missing = conn.execute("SELECT task_id, attempt FROM tasks WHERE job_id = ''").fetchall()
    if not missing:
        return
    known: dict[tuple, str] = {}
    for _, r in rows:  # the first non-empty one, as across batches
        if r[2]:
            known.setdefault((r[0], r[1]), r[2])
    fixes = [(known[k], *k) for k in map(tuple, missing) if k in known]
    if fixes:
        conn.executemany("UPDATE tasks SET job_id = ? WHERE task_id = ? AND attempt = ? AND job_id = ''", fixes)


_COUNTED = ("SELECT task_id, attempt, job_id, coalesce(name, ''), coalesce(type, ''), state FROM tasks "
            "WHERE task_id IN (SELECT value FROM json_each(?))")
BUMP_TRANSITION = ("INSERT INTO state_transitions (kind, type, state, n) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT DO UPDATE SET n = n + excluded.n")
_BUMP = ("INSERT INTO task_counts (job_id, name, type, state, n) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT DO UPDATE SET n = n + excluded.n")


def _counted(conn: sqlite3.Connection, ids_json: str) -> dict[tuple, tuple]:
    return {(r[0], r[1]): r[2:] for r in conn.execute(_COUNTED, (ids_json,))}


def _bump_counts(conn: sqlite3.Connection, before: dict[tuple, tuple], after: dict[tuple, tuple]) -> None:
    """task_counts += what moved between (job_id, name, type, state) groups: exact, one statement
    per group touched (a few per batch) instead of a trigger firing per row."""
    moves: dict[tuple, int] = {}
    entered: dict[tuple, int] = {}  # (type, state) -> attempts that entered that state (state_transitions)
    for key, new in after.items():
        old = before.get(key)
        if old != new:
            moves[new] = moves.get(new, 0) + 1
            if old is not None:
                moves[old] = moves.get(old, 0) - 1
            # Counted once the type is known (the owner's task_info may arrive after the executing
            # worker's states): a typed attempt entering a state, or an untyped one getting its type.
            if new[2] and (old is None or old[3] != new[3] or old[2] != new[2]):
                entered[(new[2], new[3])] = entered.get((new[2], new[3]), 0) + 1
    conn.executemany(_BUMP, [(*g, n) for g, n in moves.items() if n])
    conn.executemany(BUMP_TRANSITION, [("task", t, s, n) for (t, s), n in entered.items()])


def apply_task_rows(conn: sqlite3.Connection, rows: list[tuple[tuple[int, ...], tuple]]) -> None:
    """The merge itself: rows are task_row() results."""
    ids = json.dumps(list({row[0] for _, row in rows}))
    before = _counted(conn, ids)
    for shape, group in _groups(rows):
        conn.executemany(_sql(shape), group)
    _fix_empty_job_ids(conn, rows)
    _bump_counts(conn, before, _counted(conn, ids))


_EMPTY_MEANS_ABSENT = ("parent_task_id", "actor_id", "placement_group_id", "node_id", "worker_id",
                       "stdout_file", "stderr_file")  # task_row stores these only when non-empty


def validate(ev: pb.TaskEvent) -> None:
    """task_row's checks, with its messages, so that a malformed delta is dropped alone before merging."""
    if not math.isfinite(ev.event_time):
        raise MalformedItem("event_time is not finite")
    require_hex(ev.task_id, "task_id")
    require_hex(ev.job_id, "job_id", allow_empty=True)
    if ev.attempt < 0:
        raise MalformedItem("negative attempt")
    for status in ev.state_ts_ns:
        if not 0 < status < _N_STATUS:
            raise MalformedItem(f"unknown task status {status}")


def _best(ts) -> tuple[int, float, bool]:
    """(rank, seconds) of the state task_row picks from a state_ts_ns map, and whether it holds a terminal state."""
    best_rank, best_sec, terminal = RANK_NIL, 0.0, False
    for status, ns in ts.items():
        rank, sec = _RANKS[status], ns / 1e9
        if rank > best_rank or (rank == best_rank and sec > best_sec):
            best_rank, best_sec = rank, sec
        if rank == RANK_TERMINAL:
            terminal = True
    return best_rank, best_sec, terminal


def merge_deltas(a: pb.TaskEvent, b: pb.TaskEvent, owned: bool) -> Optional[pb.TaskEvent]:
    """One delta whose UPSERT does exactly what a's then b's do (same task attempt, both valid), or None
    where protobuf MergeFrom would differ from the SQL merge; then both stay separate rows, in order.

    Why MergeFrom matches: the newer-wins columns take b's present fields over a's; creation_time is
    the min of the pending timestamps either way. Where it would not: a status in both maps (the
    ts_* columns keep the first value, MergeFrom the later); terminal states in both (end_time keeps
    the first, task_row prefers FINISHED); equal best (rank, time) in both (later wins in SQL, the
    status number in task_row); required_resources in both (SQL replaces, MergeFrom unions); b
    carrying an id or log file as "" (task_row treats it as absent, MergeFrom copies it). job_id is
    the first non-empty one (SQL never reassigns it). a is copied unless `owned` (a merge result)."""
    ats, bts = a.state_ts_ns, b.state_ts_ns
    if ats and bts:
        for k in bts:
            if k in ats:
                return None
        ra, sa, ta = _best(ats)
        rb, sb, tb = _best(bts)
        if (ta and tb) or (ra == rb and sa == sb):
            return None
    if a.required_resources and b.required_resources:
        return None
    for f in _EMPTY_MEANS_ABSENT:
        if b.HasField(f) and not getattr(b, f):
            return None
    if not owned:
        m = pb.TaskEvent()
        m.CopyFrom(a)
        a = m
    job = a.job_id
    a.MergeFrom(b)
    if job:
        a.job_id = job
    return a


def collapse_deltas(items: Iterable[tuple[ApplyContext, pb.TaskEvent]]) -> list[tuple[ApplyContext, pb.TaskEvent]]:
    """The deltas of one transaction with those of the same (task_id, attempt) merged, in arrival order
    (see merge_deltas): a short task's 3 deltas become one UPSERT. Malformed ones are dropped here,
    each alone, to their batch's context."""
    out: list[list] = []  # [ctx, event, owned]
    last: dict[tuple, int] = {}
    for ctx, ev in items:
        try:
            validate(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"task {ev.task_id!r} attempt {ev.attempt}")
            continue
        key = (ev.task_id, ev.attempt)
        i = last.get(key)
        if i is not None:
            slot = out[i]
            m = merge_deltas(slot[1], ev, slot[2])
            if m is not None:
                slot[1], slot[2] = m, True
                continue
        last[key] = len(out)
        out.append([ctx, ev, False])
    return [(s[0], s[1]) for s in out]


def apply_task_events(conn: sqlite3.Connection, items: list[tuple[ApplyContext, pb.TaskEvent]],
                      collapse: bool = True) -> None:
    """Merge the task deltas of one transaction (from one or several batches, each with its context
    for drops and WebSocket deltas), collapsed per task attempt first unless collapse=False."""
    if collapse:
        items = collapse_deltas(items)
    rows: list[tuple[tuple[int, ...], tuple]] = []
    ctxs: list[ApplyContext] = []
    for ctx, ev in items:
        try:
            if not collapse and not math.isfinite(ev.event_time):
                raise MalformedItem("event_time is not finite")
            rows.append(task_row(ev))
            ctxs.append(ctx)
        except MalformedItem as err:
            ctx.drop("events", err, f"task {ev.task_id!r} attempt {ev.attempt}")
    if not rows:
        return
    conn.execute("SAVEPOINT tasks")
    try:
        apply_task_rows(conn, rows)
    except sqlite3.Error:
        conn.execute("ROLLBACK TO tasks")  # then one by one, to find and drop the bad ones
        ids = json.dumps(list({row[0] for _, row in rows}))
        before = _counted(conn, ids)
        for (shape, row), ctx in zip(rows, ctxs):
            try:
                conn.execute(_sql(shape), row)
            except sqlite3.Error as err:
                ctx.drop("events", MalformedItem(str(err)), f"task {row[0]} attempt {row[1]}")
        _fix_empty_job_ids(conn, rows)
        _bump_counts(conn, before, _counted(conn, ids))
    conn.execute("RELEASE tasks")
    for (_, row), ctx in zip(rows, ctxs):
        if ctx.collect_deltas:
            ctx.delta("tasks", {"task_id": row[0], "attempt": row[1], "job_id": row[2] or None,
                                "state": row[3] if row[4] else None})

