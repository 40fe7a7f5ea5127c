"""Merging task rows into the tasks table, in SQL, so resends and reordering are harmless.

One UPSERT per row (task_rows.py turns deltas into rows, one per task attempt and transaction):
absent fields (NULL) never overwrite known ones, timestamps keep the first value seen, and the
state moves only forward in rank (terminal > running > submitted > pending), ties broken by the
state's own timestamp. The job_id is the first non-empty one seen (Ray's task ids embed the job, so
it never changes). Each UPSERT assigns only the columns its row carries (see upsert_sql): that is
what keeps a merge from rewriting every index.
"""
from __future__ import annotations

import json
import sqlite3

from rayscope.dashboard.store.context import MalformedItem
from rayscope.dashboard.store.task_rows import (
    COLUMNS,
    FIELDS_FIRST_WINS,
    FIELDS_NEWER_WINS,
    I_STATE_TS,
    Row,
    TaskRows,
)

_NEWER = ("(excluded.state_rank > tasks.state_rank OR (excluded.state_rank = tasks.state_rank "
          "AND excluded.state_rank > 0 AND coalesce(excluded.state_ts, 0) >= coalesce(tasks.state_ts, 0)))")
_STATE_SET = [f"{c} = CASE WHEN {_NEWER} THEN excluded.{c} ELSE tasks.{c} END"
              for c in ("state", "state_rank", "state_ts")]
_COLUMN_SET = {c: f"{c} = coalesce(excluded.{c}, tasks.{c})" for c in FIELDS_NEWER_WINS}
_COLUMN_SET["creation_time"] = ("creation_time = coalesce(min(excluded.creation_time, tasks.creation_time), "
                                "excluded.creation_time, tasks.creation_time)")
_COLUMN_SET.update({c: f"{c} = coalesce(tasks.{c}, excluded.{c})" for c in FIELDS_FIRST_WINS})


def upsert_sql(shape: tuple[int, ...]) -> str:
    """The merge UPSERT of the deltas that carry exactly the columns `shape` (indexes into COLUMNS
    from state_ts on; bind compact(row, shape)). Absent columns are neither bound nor assigned:
    binding None costs the sqlite3 module ~0.7 us per parameter (it tries the adaptation protocol),
    and SQLite rewrites an index entry whenever one of its columns is assigned, even to the same
    value. job_id is never assigned on conflict (see _fix_empty_job_ids)."""
    cols = COLUMNS[:I_STATE_TS] + tuple(COLUMNS[i] for i in shape)
    sql = f"INSERT INTO tasks ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    sets = list(_STATE_SET) if shape and shape[0] == I_STATE_TS else []
    sets += [_COLUMN_SET[COLUMNS[i]] for i in shape if i > I_STATE_TS]
    if not sets:
        return sql + "\nON CONFLICT (task_id, attempt) DO NOTHING"
    return sql + "\nON CONFLICT (task_id, attempt) DO UPDATE SET\n  " + ",\n  ".join(sets)


_SQL_BY_SHAPE: dict[tuple[int, ...], str] = {}


def _sql(shape: tuple[int, ...]) -> str:
    sql = _SQL_BY_SHAPE.get(shape)
    if sql is None:
        sql = _SQL_BY_SHAPE[shape] = upsert_sql(shape)
    return sql


def _groups(rows: list[Row]) -> list[tuple[tuple[int, ...], list[tuple]]]:
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


def apply_task_rows(conn: sqlite3.Connection, rows: list[Row]) -> None:
    """The merge itself: rows are TaskDelta.row() results."""
    ids = json.dumps(list({row[0] for _, row in rows}))
    before = _counted(conn, ids)
    for shape, group in _groups(rows):
        conn.executemany(_sql(shape), group)
    _fix_empty_job_ids(conn, rows)
    _bump_counts(conn, before, _counted(conn, ids))


def apply_task_events(conn: sqlite3.Connection, prepared: TaskRows) -> None:
    """Merge the prepared task rows of one transaction (from one or several batches)."""
    rows, ctxs = prepared.rows, prepared.ctxs
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
