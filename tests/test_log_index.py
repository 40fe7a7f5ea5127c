"""Log search's index (dashboard/store/log_index.py): a substring search over the trigram index
without positions answers exactly what the positional index did, and an older DB's index is rebuilt
on open."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rayscope.dashboard.store.connection import open_reader, open_writer
from rayscope.dashboard.store.log_index import index_new_lines
from rayscope.dashboard.store.read_logs import SearchQuery, search

NODE = "ab" * 28
# Lines holding every trigram of a query without holding the query: the index's candidates that the
# exact check must drop. "abcXbcd" holds abc and bcd but not "abcd".
LINES = ["abcXbcd", "xx ABCD yy", "Worker Started", "started worker", "ÄÖÜ Straße", "aöü", "a\"b\"c quoted",
         "Ωμέγα ΩΜΈΓΑ", "no match here", "100% done", "under_score", "\u212aelvin sign"]
QUERIES = ["kelvin", "abcd", "worker started", "STARTED", "äöü", "straße", '"b"', "ωμέγα", "% d", "r_s", "zzz", "abc"]


def _store(conn: sqlite3.Connection, texts: list[str], first_offset: int = 0) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR IGNORE INTO log_files (file_id, node_id, path, basename, kind) "
                 "VALUES ('f', ?, 'f.out', 'f.out', 'worker_stdout')", (NODE,))
    conn.executemany("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES ('f', 0, ?, ?, 0)",
                     [(first_offset + i, t) for i, t in enumerate(texts)])
    index_new_lines(conn)  # as apply_batch.apply_prepared does before COMMIT
    conn.execute("COMMIT")


def _positional_answer(texts: list[str], q: str) -> list[int]:
    """What the index before this change answered: a phrase query on a detail=full trigram index."""
    mem = sqlite3.connect(":memory:")
    mem.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram case_sensitive 0')")
    mem.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", list(enumerate(texts, 1)))
    return [r[0] for r in mem.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid",
                                      ('"' + q.replace('"', '""') + '"',))]


def _ids(reader: sqlite3.Connection, q: str, limit: int = 100) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        hits, cursor = search(reader, SearchQuery(q=q, limit=limit, cursor=cursor))
        ids += [h.line.offset + 1 for h in hits]  # offsets from 0 here, ids from 1
        if cursor is None:
            return ids


def test_substring_search_answers_exactly_what_the_positional_index_did(tmp_path: Path) -> None:
    conn = open_writer(tmp_path / "head.db")
    _store(conn, LINES)
    reader = open_reader(tmp_path / "head.db")
    for q in QUERIES:
        assert _ids(reader, q) == _positional_answer(LINES, q), q
        assert _ids(reader, q, limit=1) == _positional_answer(LINES, q), q  # paged through false candidates
    assert _ids(reader, "abcd") == [2]  # "abcXbcd" holds both trigrams of "abcd" yet is no hit
    seen: list[str] = []  # what search runs: the index's rowids drive it, each line read by its id
    reader.set_trace_callback(seen.append)
    _ids(reader, "abcd")
    reader.set_trace_callback(None)
    sql = next(s for s in seen if "MATCH" in s)
    plan = [r[3] for r in reader.execute("EXPLAIN QUERY PLAN " + sql)]
    assert plan[0].startswith("SCAN log_fts VIRTUAL TABLE INDEX"), plan
    assert "SEARCH l USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan


def test_an_older_dbs_positional_index_is_rebuilt_on_open_and_search_finds_its_lines(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = sqlite3.connect(db, isolation_level=None)
    # log_lines, log_files and log_fts as they were before this layout (detail=full, filled by a trigger)
    old.executescript("""
CREATE TABLE log_files (file_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, path TEXT NOT NULL, basename TEXT NOT NULL,
  kind TEXT NOT NULL, worker_id TEXT, job_id TEXT, pid INTEGER, actor_id TEXT, submission_id TEXT,
  size INTEGER NOT NULL DEFAULT 0, lines INTEGER NOT NULL DEFAULT 0, last_line_at REAL) WITHOUT ROWID;
CREATE TABLE log_lines (id INTEGER PRIMARY KEY, file_id TEXT NOT NULL, generation INTEGER NOT NULL,
  offset INTEGER NOT NULL, text TEXT NOT NULL, is_binary INTEGER NOT NULL DEFAULT 0,
  truncated_bytes INTEGER NOT NULL DEFAULT 0, read_at REAL NOT NULL, UNIQUE (file_id, generation, offset));
CREATE VIRTUAL TABLE log_fts USING fts5(text, content='log_lines', content_rowid='id',
  tokenize='trigram case_sensitive 0');
CREATE TRIGGER log_lines_fts_insert AFTER INSERT ON log_lines BEGIN
  INSERT INTO log_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER log_lines_fts_delete AFTER DELETE ON log_lines BEGIN
  INSERT INTO log_fts(log_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
""")
    old.execute("INSERT INTO log_files (file_id, node_id, path, basename, kind) "
                "VALUES ('f', ?, 'f.out', 'f.out', 'worker_stdout')", (NODE,))
    old.executemany("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES ('f', 0, ?, ?, 0)",
                    list(enumerate(LINES)))
    old.close()
    conn = open_writer(db)
    fts_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'log_fts'").fetchone()[0]
    assert "detail=none" in fts_sql
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'log_lines_fts_insert'").fetchone() is None
    conn.execute("INSERT INTO log_fts(log_fts, rank) VALUES ('integrity-check', 1)")
    _store(conn, ["a new Worker started line"], first_offset=len(LINES))
    reader = open_reader(db)
    assert _ids(reader, "worker started") == [*_positional_answer(LINES, "worker started"), len(LINES) + 1]
    conn.execute("DELETE FROM log_lines WHERE id = 3")  # the delete trigger keeps the index in step
    conn.execute("INSERT INTO log_fts(log_fts, rank) VALUES ('integrity-check', 1)")
    assert _ids(reader, "worker started") == [len(LINES) + 1]
    conn.close()
    open_writer(db).close()  # opened again: nothing to rebuild, the index stays whole
