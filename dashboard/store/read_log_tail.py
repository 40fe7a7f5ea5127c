"""The end of a selection of log lines, then what is stored after it: what a live `tail -f` needs.

/logs/lines reads a selection in file order from its start; a viewer (the web UI's tail, the CLI's
`rayscope logs --follow`) wants the newest lines and then only the new ones. The cursor marks where
an answer ended, so the next call returns exactly what was stored since (an empty page keeps the
cursor); `lines=0` asks for the cursor alone: "what comes after now".

- One file (file_id): file order; the cursor is the last line's (generation, offset), so both
  calls are seeks in the file's index.
- Any other selector (node, task, actor, worker, job) spans files and a new line can land in any
  of them, so the order is arrival. Lines get increasing ids (one writer, and retention keeps the
  newest line, so ids never restart) and the cursor is an id. Without a cursor: the selection's
  last lines, read through its files (then sorted by id), and as the cursor the newest id stored
  at that moment (one read transaction, so nothing falls between the two). After a cursor: the
  lines with larger ids, read as a rowid range, so a poll costs what arrived since, cluster-wide,
  whatever the selection's size.
"""
from __future__ import annotations

import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest, NotFound
from rayscope.dashboard.store.listing import MAX_LIMIT, PageBudget, decode_cursor, encode_cursor
from rayscope.dashboard.store.log_attribution import Attributor
from rayscope.dashboard.store.read_logs import (
    LINE_COLUMNS,
    LINE_SELECT,
    LineSelector,
    selector_condition,
    take_lines,
)

# The selection's files first, then their lines (by the file index): never a walk of every line.
_BY_FILES = f"SELECT {LINE_COLUMNS} FROM log_files f CROSS JOIN log_lines l ON l.file_id = f.file_id"
# Lines after an id, as a rowid range (NOT INDEXED: no other index may drive it), then their file.
_AFTER_ID = (f"SELECT {LINE_COLUMNS} FROM log_lines l NOT INDEXED CROSS JOIN log_files f "
             "ON f.file_id = l.file_id")


def _file_cursor(generation: int, offset: int) -> str:
    return encode_cursor({"s": "tail", "k": [generation, offset]})


def _id_cursor(line_id: int) -> str:
    return encode_cursor({"s": "tail-id", "k": line_id})


def _newest_first(rows, lines: int) -> list[sqlite3.Row]:
    """The newest rows (given newest first) that fit a page, oldest first."""
    got, _ = take_lines(rows, lines, PageBudget())
    return got[::-1]


def _file_tail(conn: sqlite3.Connection, file_id: str, lines: int, after: Optional[str]
               ) -> tuple[list[sqlite3.Row], str]:
    if not conn.execute("SELECT 1 FROM log_files WHERE file_id = ?", (file_id,)).fetchone():
        raise NotFound(f"no log file {file_id}")
    if after is None:
        got = _newest_first(conn.execute(f"{LINE_SELECT} WHERE l.file_id = ? "
                                         "ORDER BY l.generation DESC, l.offset DESC LIMIT ?",
                                         (file_id, max(lines, 1))), lines)
        if got:
            return got, _file_cursor(got[-1]["generation"], got[-1]["offset"])
        last = conn.execute("SELECT generation, offset FROM log_lines WHERE file_id = ? "
                            "ORDER BY generation DESC, offset DESC LIMIT 1", (file_id,)).fetchone()
        return [], _file_cursor(*(last if last else (-1, -1)))
    c = decode_cursor(after)
    k = c.get("k")
    if c.get("s") != "tail" or not isinstance(k, list) or len(k) != 2 or not all(isinstance(x, int) for x in k):
        raise BadRequest("cursor does not belong to /logs/tail of one file; start again without one")
    got, _ = take_lines(conn.execute(f"{LINE_SELECT} WHERE l.file_id = ? AND (l.generation, l.offset) > (?, ?) "
                                     "ORDER BY l.generation, l.offset LIMIT ?", (file_id, *k, lines)),
                        lines, PageBudget())
    return got, (_file_cursor(got[-1]["generation"], got[-1]["offset"]) if got else after)


def _arrival_tail(conn: sqlite3.Connection, sel: LineSelector, lines: int, after: Optional[str]
                  ) -> tuple[list[sqlite3.Row], str]:
    cond, params = selector_condition(conn, sel)
    start = None
    if after is not None:
        c = decode_cursor(after)
        if c.get("s") != "tail-id" or not isinstance(c.get("k"), int):
            raise BadRequest("cursor does not belong to /logs/tail of this kind of selection; start again without one")
        start = c["k"]
    conn.execute("SAVEPOINT tail")  # one snapshot for the lines and the newest id
    try:
        newest = conn.execute("SELECT coalesce(max(id), 0) FROM log_lines").fetchone()[0]
        if start is None:
            # LIMIT as a literal here and below: the plan EXPLAIN shows for the traced SQL is the one run
            got = _newest_first(conn.execute(f"{_BY_FILES} WHERE {cond} ORDER BY +l.id DESC LIMIT {lines}",
                                             params), lines) if lines else []
            return got, _id_cursor(newest)
        got, more = take_lines(conn.execute(f"{_AFTER_ID} WHERE l.id > ? AND {cond} "
                                            f"ORDER BY l.id LIMIT {lines + 1}", [start, *params]), lines, PageBudget())
        return got, _id_cursor(got[-1]["id"] if more else max(newest, start))
    finally:
        conn.execute("RELEASE tail")


def log_tail(conn: sqlite3.Connection, sel: LineSelector, lines: int, after: Optional[str]
             ) -> tuple[list[m.LogLine], str]:
    """Without `after`: the selection's last `lines` lines (0: none, only the cursor); with it: up
    to `lines` lines stored after that cursor. Returns the lines and the cursor of what follows."""
    low = 1 if after is not None else 0
    if not low <= lines <= MAX_LIMIT:
        raise BadRequest(f"lines must be between {low} and {MAX_LIMIT}" + (" with after" if low else ""))
    chosen = [k for k, v in vars(sel).items() if v]
    if chosen == ["file_id"] and sel.file_id:
        got, cursor = _file_tail(conn, sel.file_id, lines, after)
    else:
        got, cursor = _arrival_tail(conn, sel, lines, after)
    attr = Attributor(conn)
    return [attr.line(r) for r in got], cursor
