"""Log search's full-text index: how it is filled, queried and (for an older DB) rebuilt.

Why it is built this way (issue 15; bench/bench_log_fts.py measures it): at 1,000 nodes log lines
were ~60 % of the writer's CPU, ~52 us of a line's ~57 us being this index. Two causes:
- An AFTER INSERT trigger filled it row by row. Every INSERT into log_lines then ran as a statement
  that writes a virtual table, and FTS5 flushes its pending terms to a new on-disk segment at each
  statement's savepoint: one tiny segment per line, merged again and again. Filling it with one
  INSERT ... SELECT per writer transaction (`index_new_lines`, just before COMMIT) writes one
  segment per transaction: same index, 2.4x less CPU per line.
- detail=full kept every trigram's position in every line (~200 bytes of index per line). Search
  needs only which lines hold all of a query's trigrams: detail=none stores that (~75 bytes per
  line) and cuts the CPU per line by another third. FTS5 cannot run a phrase query without
  positions, so a substring query is the AND of its trigrams (`trigram_query`), which finds every
  line that holds the substring plus some that hold its trigrams apart; `FoldedSubstring` checks
  each candidate exactly, in the same SQL statement, so the answer is what the phrase query gave.

A line is in the index once its transaction commits (the same transaction that stores it), so a
reader never sees a stored line that search cannot find.
"""
from __future__ import annotations

import functools
import sqlite3

FTS_DEFINITION_MARK = "detail=none"  # an older DB's log_fts lacks it: rebuilt by `migrate_log_fts`


def index_new_lines(conn: sqlite3.Connection) -> None:
    """Index the lines stored since the last call (inside the writer's transaction, before COMMIT)."""
    conn.execute("INSERT INTO log_fts(rowid, text) SELECT id, text FROM log_lines "
                 "WHERE id > (SELECT upto FROM log_fts_indexed)")
    conn.execute("UPDATE log_fts_indexed SET upto = (SELECT coalesce(max(id), upto) FROM log_lines) "
                 "WHERE upto < (SELECT coalesce(max(id), 0) FROM log_lines)")


def migrate_log_fts(conn: sqlite3.Connection, fts_ddl: list[str]) -> None:
    """A DB written before this layout (a detail=full index filled by a trigger): drop that index and
    build the new one from log_lines in one transaction. Costs about what storing the lines' index
    did (bench_log_fts: ~17 us of CPU per line, ~20 s for 1M lines), once, when the head opens it."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'log_fts'").fetchone()
    if row is None or FTS_DEFINITION_MARK in row[0]:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DROP TRIGGER IF EXISTS log_lines_fts_insert")
        conn.execute("DROP TRIGGER IF EXISTS log_lines_fts_delete")
        conn.execute("DROP TABLE log_fts")
        for stmt in fts_ddl:
            conn.execute(stmt)
        conn.execute("INSERT INTO log_fts(log_fts) VALUES ('rebuild')")
        conn.execute("UPDATE log_fts_indexed SET upto = (SELECT coalesce(max(id), 0) FROM log_lines)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def trigram_query(q: str) -> str:
    """An FTS5 query for the lines holding every trigram of `q` (3+ characters): a superset of the
    lines holding `q`, which `FoldedSubstring` narrows to the exact answer."""
    grams = dict.fromkeys(q[k:k + 3] for k in range(len(q) - 2))
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


@functools.cache
def fts_fold_table() -> dict[int, int]:
    """The case folding of FTS5's trigram tokenizer (`case_sensitive 0`), code point by code point,
    read from SQLite itself so the exact check folds as the index does (Python's lower() differs,
    e.g. it turns one character into two). Asked once per process: every code point FTS5 can fold
    (the BMP, Deseret, Adlam) is indexed as a 3-character line and read back through fts5vocab."""
    mem = sqlite3.connect(":memory:")
    try:
        mem.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram case_sensitive 0')")
        mem.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
        points = [c for c in (*range(1, 0x10000), *range(0x10400, 0x10450), *range(0x1E900, 0x1E950))
                  if not 0xD800 <= c <= 0xDFFF]
        mem.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", [(c, chr(c) * 3) for c in points])
        return {doc: ord(term[0]) for term, doc in mem.execute("SELECT term, doc FROM v") if ord(term[0]) != doc}
    finally:
        mem.close()


class FoldedSubstring:
    """SQL function `rs_folded_contains(text, q)`: does `text` hold `q` once both are folded as the
    index folds them, i.e. exactly what the index's phrase query for `q` matched."""

    NAME = "rs_folded_contains"

    def __init__(self) -> None:
        self._table: dict[int, int] | None = None  # read on the first call (~0.2 s, once per process)
        self._needle: tuple[str, str] = ("", "")

    def __call__(self, text: object, q: str) -> bool:
        if not isinstance(text, str):
            return False
        if self._table is None:
            self._table = fts_fold_table()
        if self._needle[0] != q:
            self._needle = (q, q.translate(self._table))
        if text.isascii():  # most lines: the fold of ASCII is lower() (A-Z only), 6x faster than translate
            return self._needle[1] in text.lower()
        return self._needle[1] in text.translate(self._table)

    @classmethod
    def register(cls, conn: sqlite3.Connection) -> None:
        """Once per connection, when it opens (SQLite refuses to redefine a function while one of the
        connection's statements is still running)."""
        conn.create_function(cls.NAME, 2, cls(), deterministic=True)
