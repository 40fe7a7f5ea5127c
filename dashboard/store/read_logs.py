"""Log reads: lines of a file/node/task/actor/worker/job in file order, and cluster-wide search.

Which task printed a line: log_attribution.py.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest, NotFound
from rayscope.dashboard.store.listing import MAX_LIMIT, decode_cursor, encode_cursor
from rayscope.dashboard.store.log_attribution import Attributor, task_segments

MAX_CONTEXT = 50

LINE_SELECT = """SELECT l.id, l.file_id, l.generation, l.offset, l.text, l.is_binary, l.truncated_bytes,
  l.read_at, f.node_id, f.path, f.basename, f.worker_id, f.job_id, f.actor_id AS file_actor_id, f.pid
FROM log_lines l JOIN log_files f ON f.file_id = l.file_id"""

# LogLine fields a search can filter on, as SQL over LINE_SELECT's tables.
SEARCH_FILTERS = {"file_id": "l.file_id", "node_id": "f.node_id", "path": "f.path", "worker_id": "f.worker_id",
                  "job_id": "f.job_id", "generation": "l.generation", "kind": "f.kind"}


@dataclass
class LineSelector:
    """Which lines /logs/lines returns: exactly one of these is set."""

    file_id: Optional[str] = None
    node_id: Optional[str] = None
    task_id: Optional[str] = None
    actor_id: Optional[str] = None
    worker_id: Optional[str] = None
    job_id: Optional[str] = None


def _selector_condition(conn: sqlite3.Connection, sel: LineSelector) -> tuple[str, list]:
    chosen = {k: v for k, v in vars(sel).items() if v}
    if len(chosen) != 1:
        raise BadRequest("give exactly one of file_id, node_id, task_id, actor_id, worker_id, job_id")
    (key, value), = chosen.items()
    if key == "task_id":
        conds, params = task_segments(conn, value)
        return ("(" + " OR ".join(conds) + ")", params) if conds else ("0", [])
    if key == "actor_id":
        return ("(f.actor_id = ? OR (f.node_id, f.pid) IN (SELECT node_id, pid FROM actors WHERE actor_id = ?) "
                "OR f.worker_id IN (SELECT worker_id FROM tasks WHERE actor_id = ? "
                "AND type = 'ACTOR_CREATION_TASK' AND worker_id IS NOT NULL))", [value, value, value])
    return f"f.{key} = ?", [value]


def log_lines(conn: sqlite3.Connection, sel: LineSelector, limit: int, cursor: Optional[str]
              ) -> tuple[list[m.LogLine], Optional[str]]:
    """Lines in file order (file, generation, offset), keyset-paginated."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    cond, params = _selector_condition(conn, sel)
    if sel.file_id and not conn.execute("SELECT 1 FROM log_files WHERE file_id = ?", (sel.file_id,)).fetchone():
        raise NotFound(f"no log file {sel.file_id}")
    where = [cond]
    if cursor:
        c = decode_cursor(cursor)
        if c.get("s") != "lines" or not isinstance(c.get("k"), list) or len(c["k"]) != 3:
            raise BadRequest("cursor does not belong to /logs/lines; start again without a cursor")
        where.append("(l.file_id, l.generation, l.offset) > (?, ?, ?)")
        params = params + c["k"]
    sql = (f"{LINE_SELECT} WHERE {' AND '.join(where)} "
           f"ORDER BY l.file_id, l.generation, l.offset LIMIT {limit + 1}")
    got = conn.execute(sql, params).fetchall()
    attr = Attributor(conn)
    out = [attr.line(r) for r in got[:limit]]
    nxt = None
    if len(got) > limit:
        last = got[limit - 1]
        nxt = encode_cursor({"s": "lines", "k": [last["file_id"], last["generation"], last["offset"]]})
    return out, nxt


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _regexp(pattern: str, text: Optional[str]) -> bool:
    return text is not None and _compiled(pattern).search(text) is not None


def install_functions(conn: sqlite3.Connection) -> None:
    """REGEXP for regex search (SQLite has the operator but no implementation)."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)


@dataclass
class SearchQuery:
    q: Optional[str] = None
    regex: Optional[str] = None
    context: int = 0
    filters: list[tuple[str, bool, str]] = field(default_factory=list)  # key, negate, value
    task_id: Optional[str] = None
    limit: int = 100
    cursor: Optional[str] = None


def _fts_phrase(q: str) -> str:
    return '"' + q.replace('"', '""') + '"'


def _context(conn: sqlite3.Connection, attr: Attributor, r: sqlite3.Row, n: int) -> tuple[list, list]:
    if n <= 0:
        return [], []
    base = f"{LINE_SELECT} WHERE l.file_id = ? AND l.generation = ? AND l.offset"
    args = (r["file_id"], r["generation"], r["offset"], n)
    before = conn.execute(f"{base} < ? ORDER BY l.offset DESC LIMIT ?", args).fetchall()
    after = conn.execute(f"{base} > ? ORDER BY l.offset ASC LIMIT ?", args).fetchall()
    return [attr.line(x) for x in reversed(before)], [attr.line(x) for x in after]


def search(conn: sqlite3.Connection, sq: SearchQuery) -> tuple[list[m.LogSearchHit], Optional[str]]:
    """Substring (case-insensitive, trigram FTS for 3+ chars) or regex search over every stored line."""
    if bool(sq.q) == bool(sq.regex):
        raise BadRequest("give exactly one of q (substring) or regex")
    if not 0 <= sq.context <= MAX_CONTEXT:
        raise BadRequest(f"context must be between 0 and {MAX_CONTEXT}")
    if not 1 <= sq.limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    where, params = [], []
    use_fts = bool(sq.q) and len(sq.q) >= 3
    if sq.regex:
        try:
            _compiled(sq.regex)
        except re.error as err:
            raise BadRequest(f"bad regex: {err}") from None
        where.append("l.text REGEXP ?")
        params.append(sq.regex)
    elif not use_fts:
        where.append("instr(lower(l.text), lower(?)) > 0")
        params.append(sq.q)
    for key, negate, value in sq.filters:
        expr = SEARCH_FILTERS.get(key)
        if expr is None:
            raise BadRequest(f"unknown filter key {key!r}; valid keys: {', '.join([*SEARCH_FILTERS, 'task_id'])}")
        where.append(f"{expr} {'IS NOT' if negate else '='} ?")
        params.append(value)
    if sq.task_id:
        conds, tparams = task_segments(conn, sq.task_id)
        where.append("(" + " OR ".join(conds) + ")" if conds else "0")
        params.extend(tparams)
    if sq.cursor:
        c = decode_cursor(sq.cursor)
        if c.get("s") != "search" or not isinstance(c.get("k"), int):
            raise BadRequest("cursor does not belong to /logs/search; start again without a cursor")
        where.append(f"{'log_fts.rowid' if use_fts else 'l.id'} > ?")
        params.append(c["k"])
    if use_fts:
        sql = (f"{LINE_SELECT} JOIN log_fts ON log_fts.rowid = l.id WHERE log_fts MATCH ? "
               f"{''.join(' AND ' + w for w in where)} ORDER BY log_fts.rowid LIMIT {sq.limit + 1}")
        params = [_fts_phrase(sq.q), *params]
    else:
        sql = f"{LINE_SELECT} WHERE {' AND '.join(where)} ORDER BY l.id LIMIT {sq.limit + 1}"
    got = conn.execute(sql, params).fetchall()
    attr = Attributor(conn)
    hits = []
    for r in got[: sq.limit]:
        before, after = _context(conn, attr, r, sq.context)
        hits.append(m.LogSearchHit(line=attr.line(r), before=before, after=after))
    nxt = encode_cursor({"s": "search", "k": got[sq.limit - 1]["id"]}) if len(got) > sq.limit else None
    return hits, nxt
