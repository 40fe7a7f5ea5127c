"""Log reads: lines of a file/node/task/actor/worker/job in file order, and cluster-wide search.

Which task printed a line: log_attribution.py. How a regex is matched: log_regex.py. Every page
stops at about MAX_PAGE_BYTES (its cursor resumes after the last row it holds).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest, NotFound
from rayscope.dashboard.store.listing import MAX_LIMIT, PageBudget, decode_cursor, encode_cursor
from rayscope.dashboard.store.log_attribution import Attributor, task_segments
from rayscope.dashboard.store.log_index import FoldedSubstring, trigram_query
from rayscope.dashboard.store.log_regex import LineRegex

MAX_CONTEXT = 50

LINE_COLUMNS = """l.id, l.file_id, l.generation, l.offset, l.text, l.is_binary, l.truncated_bytes,
  l.read_at, f.node_id, f.path, f.basename, f.worker_id, f.job_id, f.actor_id AS file_actor_id, f.pid"""
LINE_SELECT = f"SELECT {LINE_COLUMNS} FROM log_lines l JOIN log_files f ON f.file_id = l.file_id"
LINE_OVERHEAD_BYTES = 320  # a LogLine's fields besides text and path, as JSON (ids, names, numbers)
# A regex search reads lines in chunks of this many and matches each chunk in one RE2 call; a line
# longer than LONG_LINE_BYTES is matched alone (so a chunk's text stays under ~16 MiB).
REGEX_CHUNK_LINES = 1024
LONG_LINE_BYTES = 16 << 10


def line_bytes(r: sqlite3.Row) -> int:
    """About what a LINE_SELECT row weighs as a LogLine in the JSON answer."""
    return len(r["text"].encode()) + len(r["path"]) + LINE_OVERHEAD_BYTES


def take_lines(rows: Iterable[sqlite3.Row], limit: int, budget: PageBudget) -> tuple[list[sqlite3.Row], bool]:
    """Up to `limit` rows within the byte budget, read one by one (no further than needed); the
    flag says more rows exist (the one after the last taken was seen)."""
    out: list[sqlite3.Row] = []
    for r in rows:
        if len(out) == limit or not budget.take(line_bytes(r)):
            return out, True
        out.append(r)
    return out, False


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


def selector_condition(conn: sqlite3.Connection, sel: LineSelector) -> tuple[str, list]:
    """SQL over LINE_SELECT's tables for exactly one selector: on the file (`f`), and for a task on
    `l.offset` too (its byte ranges)."""
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
    """Lines in file order (file, generation, offset), keyset-paginated, at most MAX_PAGE_BYTES a page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    cond, params = selector_condition(conn, sel)
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
    got, more = take_lines(conn.execute(sql, params), limit, PageBudget())
    attr = Attributor(conn)
    out = [attr.line(r) for r in got]
    nxt = None
    if more:
        last = got[-1]
        nxt = encode_cursor({"s": "lines", "k": [last["file_id"], last["generation"], last["offset"]]})
    return out, nxt


@dataclass
class SearchQuery:
    q: Optional[str] = None
    regex: Optional[str] = None
    context: int = 0
    filters: list[tuple[str, bool, str]] = field(default_factory=list)  # key, negate, value
    task_id: Optional[str] = None
    limit: int = 100
    cursor: Optional[str] = None


def _context(conn: sqlite3.Connection, n: int, r: sqlite3.Row) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    if n <= 0:
        return [], []
    base = f"{LINE_SELECT} WHERE l.file_id = ? AND l.generation = ? AND l.offset"
    args = (r["file_id"], r["generation"], r["offset"], n)
    before = conn.execute(f"{base} < ? ORDER BY l.offset DESC LIMIT ?", args).fetchall()
    after = conn.execute(f"{base} > ? ORDER BY l.offset ASC LIMIT ?", args).fetchall()
    return before[::-1], after


# A line's text for a regex scan: its UTF-8 bytes, or NULL when it is long (read and matched alone).
_SCAN_TEXT = f"iif(length(CAST(l.text AS BLOB)) <= {LONG_LINE_BYTES}, CAST(l.text AS BLOB), NULL)"


@dataclass
class _Chunk:
    """Consecutive lines of a regex scan: their ids, their texts joined by newlines when SQLite
    joined them (else `texts`, None for a long line), and the ids of the long ones."""

    ids: list[int]
    joined: Optional[bytes] = None
    texts: list[Optional[bytes]] = field(default_factory=list)
    long_ids: list[int] = field(default_factory=list)


def _joined_chunks(conn: sqlite3.Connection, after: int) -> Iterator[_Chunk]:
    """Every line after id `after`, REGEX_CHUNK_LINES at a time as one text (a rowid range each)."""
    sql = (f"SELECT CAST(group_concat(coalesce(t, ''), char(10)) AS BLOB), count(*), max(id), group_concat(id), "
           f"group_concat(iif(t IS NULL, id, NULL)) FROM (SELECT l.id, {_SCAN_TEXT} AS t FROM log_lines l "
           f"WHERE l.id > ? ORDER BY l.id LIMIT {REGEX_CHUNK_LINES})")
    while True:
        joined, n, last, ids, long_ids = conn.execute(sql, (after,)).fetchone()
        if not n:
            return
        ints = [int(x) for x in ids.split(",")]
        if joined.count(b"\n") != n - 1:  # a line holds a newline: give the lines one by one
            texts = dict(conn.execute(f"SELECT l.id, {_SCAN_TEXT} FROM log_lines l WHERE l.id > ? AND l.id <= ?",
                                      (after, last)).fetchall())
            yield _Chunk(ints, texts=[texts.get(i) for i in ints], long_ids=[i for i in ints if texts.get(i) is None])
        else:
            yield _Chunk(ints, joined=joined, long_ids=[int(x) for x in long_ids.split(",")] if long_ids else [])
        after = last


def _statement_chunks(conn: sqlite3.Connection, where: list[str], params: list, after: int) -> Iterator[_Chunk]:
    """The lines matching `where` after id `after`: one statement (planned once), read in chunks."""
    cur = conn.execute(f"SELECT l.id, {_SCAN_TEXT} FROM log_lines l JOIN log_files f ON f.file_id = l.file_id "
                       f"WHERE {' AND '.join([*where, 'l.id > ?'])} ORDER BY l.id", [*params, after])
    while rows := cur.fetchmany(REGEX_CHUNK_LINES):
        yield _Chunk([r[0] for r in rows], texts=[r[1] for r in rows], long_ids=[r[0] for r in rows if r[1] is None])


def _chunk_hits(conn: sqlite3.Connection, matcher: LineRegex, chunk: _Chunk) -> list[int]:
    long = set(chunk.long_ids)
    joined = chunk.joined
    if joined is None and matcher.joinable:
        lines = [t or b"" for t in chunk.texts]
        joined = b"\n".join(lines) if all(b"\n" not in t for t in lines) else None
    if joined is not None and matcher.joinable:
        hits = [chunk.ids[k] for k in matcher.matching_joined(joined)]
    else:
        hits = [i for i, t in zip(chunk.ids, chunk.texts) if t is not None and matcher.matches(t)]
    hits = [i for i in hits if i not in long]
    for i in chunk.long_ids:
        r = conn.execute("SELECT CAST(text AS BLOB) FROM log_lines WHERE id = ?", (i,)).fetchone()
        if r is not None and matcher.matches(r[0]):
            hits.append(i)
    return sorted(hits)


def _regex_hits(conn: sqlite3.Connection, matcher: LineRegex, where: list[str], params: list,
                after: int) -> Iterator[sqlite3.Row]:
    """The lines after id `after` (and matching `where`) that the regex matches, in id order, read
    chunk by chunk no further than the caller consumes; each chunk is searched in one RE2 call on
    its lines joined by newlines. Without filters SQLite joins them (group_concat over a rowid
    range); with filters (or a pattern that needs each line alone) one statement is read a chunk at
    a time, so SQLite plans it once, as it did before. A line over LONG_LINE_BYTES is matched alone,
    so a chunk's text stays bounded."""
    joined = not where and matcher.joinable
    chunks = _joined_chunks(conn, after) if joined else _statement_chunks(conn, where, params, after)
    for chunk in chunks:
        hits = _chunk_hits(conn, matcher, chunk)
        if hits:
            yield from conn.execute(f"{LINE_SELECT} WHERE l.id IN ({', '.join('?' * len(hits))}) ORDER BY l.id",
                                    hits).fetchall()


def search(conn: sqlite3.Connection, sq: SearchQuery) -> tuple[list[m.LogSearchHit], Optional[str]]:
    """Substring (case-insensitive, trigram FTS for 3+ chars) or regex (RE2) search over every stored
    line; a page holds up to `limit` hits and about MAX_PAGE_BYTES with their context lines."""
    if bool(sq.q) == bool(sq.regex):
        raise BadRequest("give exactly one of q (substring) or regex")
    if not 0 <= sq.context <= MAX_CONTEXT:
        raise BadRequest(f"context must be between 0 and {MAX_CONTEXT}")
    if not 1 <= sq.limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    where: list[str] = []
    params: list[object] = []
    use_fts = sq.q is not None and len(sq.q) >= 3
    matcher = LineRegex(sq.regex) if sq.regex else None
    if matcher is None and not use_fts:
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
    after = 0
    if sq.cursor:
        c = decode_cursor(sq.cursor)
        if c.get("s") != "search" or not isinstance(c.get("k"), int):
            raise BadRequest("cursor does not belong to /logs/search; start again without a cursor")
        after = c["k"]
    found: Iterable[sqlite3.Row]
    if matcher is not None:
        found = _regex_hits(conn, matcher, where, params, after)
    else:
        if sq.cursor:
            where.append(f"{'log_fts.rowid' if use_fts else 'l.id'} > ?")
            params.append(after)
        if use_fts:  # the index's candidates, each checked exactly (log_index.py)
            found = conn.execute(f"{LINE_SELECT} JOIN log_fts ON log_fts.rowid = l.id WHERE log_fts MATCH ? "
                                 f"AND {FoldedSubstring.NAME}(l.text, ?){''.join(' AND ' + w for w in where)} "
                                 f"ORDER BY log_fts.rowid LIMIT {sq.limit + 1}",
                                 [trigram_query(sq.q or ""), sq.q, *params])
        else:
            found = conn.execute(f"{LINE_SELECT} WHERE {' AND '.join(where)} ORDER BY l.id LIMIT {sq.limit + 1}",
                                 params)
    attr = Attributor(conn)
    budget = PageBudget()
    hits: list[m.LogSearchHit] = []
    last_id, more = None, False
    for r in found:  # no further than the page needs: a regex scan stops here
        if len(hits) == sq.limit:
            more = True
            break
        ctx_before, ctx_after = _context(conn, sq.context, r)
        if not budget.take(sum(line_bytes(x) for x in (*ctx_before, r, *ctx_after))):
            more = True
            break
        hits.append(m.LogSearchHit(line=attr.line(r), before=[attr.line(x) for x in ctx_before],
                                   after=[attr.line(x) for x in ctx_after]))
        last_id = r["id"]
    nxt = encode_cursor({"s": "search", "k": last_id}) if more else None
    return hits, nxt
