"""The end of one log file, then what is appended after it: what a live `tail -f` view needs.

/logs/lines reads a file from its start; a viewer wants the newest lines first and then only the
new ones. The cursor marks the last line returned, so a follow-up call returns exactly what was
appended since (an empty page keeps the same cursor).
"""
from __future__ import annotations

import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest, NotFound
from rayscope.dashboard.store.listing import MAX_LIMIT, decode_cursor, encode_cursor
from rayscope.dashboard.store.log_attribution import Attributor
from rayscope.dashboard.store.read_logs import LINE_SELECT


def _cursor(generation: int, offset: int) -> str:
    return encode_cursor({"s": "tail", "k": [generation, offset]})


def log_tail(conn: sqlite3.Connection, file_id: str, lines: int, after: Optional[str]
             ) -> tuple[list[m.LogLine], str]:
    """Without `after`: the last `lines` lines; with it: up to `lines` lines after that cursor."""
    if not 1 <= lines <= MAX_LIMIT:
        raise BadRequest(f"lines must be between 1 and {MAX_LIMIT}")
    if not conn.execute("SELECT 1 FROM log_files WHERE file_id = ?", (file_id,)).fetchone():
        raise NotFound(f"no log file {file_id}")
    if after is None:
        got = conn.execute(f"{LINE_SELECT} WHERE l.file_id = ? ORDER BY l.generation DESC, l.offset DESC LIMIT ?",
                           (file_id, lines)).fetchall()[::-1]
        start = (-1, -1)
    else:
        c = decode_cursor(after)
        k = c.get("k")
        if c.get("s") != "tail" or not isinstance(k, list) or len(k) != 2 or not all(isinstance(x, int) for x in k):
            raise BadRequest("cursor does not belong to /logs/tail; start again without one")
        start = (k[0], k[1])
        got = conn.execute(f"{LINE_SELECT} WHERE l.file_id = ? AND (l.generation, l.offset) > (?, ?) "
                           "ORDER BY l.generation, l.offset LIMIT ?", (file_id, *start, lines)).fetchall()
    attr = Attributor(conn)
    out = [attr.line(r) for r in got]
    last = (got[-1]["generation"], got[-1]["offset"]) if got else start
    return out, _cursor(*last)
