"""What bounds the head's memory (dashboard/store/connection.py, docs/architecture.md: Memory):
- a reader connection lives only as long as its request thread, so the thread pool's coming and
  going leaves no connections (and their page caches) behind;
- all reader connections of a process share one page-cache budget (SQLite's soft heap limit);
- RAYSCOPE_WRITER_CACHE_MIB sizes the writer's cache, and a bad value stops the head with one line."""
from __future__ import annotations

import ctypes
import sqlite3
import threading
from pathlib import Path

import pytest

from rayscope.dashboard.config import parse_args
from rayscope.dashboard.store.connection import (
    READERS_HEAP_MIB,
    WRITER_CACHE_ENV,
    WRITER_CACHE_MIB,
    ReaderPool,
    open_reader,
    open_writer,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    open_writer(tmp_path / "head.db").close()
    return tmp_path / "head.db"


def _in_thread(pool: ReaderPool) -> sqlite3.Connection:
    got: list[sqlite3.Connection] = []
    t = threading.Thread(target=lambda: got.append(pool.get()))
    t.start()
    t.join()
    return got[0]


def test_a_thread_that_ended_leaves_no_reader_behind(db: Path) -> None:
    pool = ReaderPool(db)
    mine = pool.get()
    first = _in_thread(pool)  # a request thread that then ends, as anyio's idle workers do
    assert len(pool) == 2
    second = _in_thread(pool)  # the next new thread's connection closes the ended thread's one
    assert len(pool) == 2
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        first.execute("SELECT 1")
    assert second.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0  # the live thread's one works
    assert mine.execute("SELECT 1").fetchone()[0] == 1 and pool.get() is mine
    pool.close_all()
    assert len(pool) == 0


def _sqlite_heap_bytes() -> int:
    """SQLite's own count of the memory it holds in this process (the library _sqlite3 links)."""
    lib = ctypes.CDLL("libsqlite3.so.0")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return lib.sqlite3_memory_used()


def test_readers_share_one_page_cache_budget(db: Path) -> None:
    """Eight readers, each with a cache as large as the whole budget, each read a table twice the
    budget: together they stay near the budget (without the limit: 8 times it)."""
    w = open_writer(db)
    w.execute("CREATE TABLE filler (b BLOB)")
    w.executemany("INSERT INTO filler VALUES (zeroblob(3000))", [()] * (2 * READERS_HEAP_MIB * 350))
    w.close()
    readers = [open_reader(db) for _ in range(8)]
    for r in readers:
        r.execute(f"PRAGMA cache_size=-{READERS_HEAP_MIB * 1024}")
    try:
        assert readers[0].execute("PRAGMA soft_heap_limit").fetchone()[0] == READERS_HEAP_MIB << 20
        for r in readers:
            r.execute("SELECT sum(length(b)) FROM filler").fetchone()
        assert _sqlite_heap_bytes() < (READERS_HEAP_MIB + 4) << 20
    finally:
        for r in readers:
            r.close()


def test_writer_cache_size_comes_from_the_environment(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = open_writer(db)
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_MIB * 1024  # negative: KiB
    conn.close()
    monkeypatch.setenv(WRITER_CACHE_ENV, "64")
    conn = open_writer(db)
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -64 * 1024
    conn.close()


def test_a_bad_writer_cache_size_stops_the_head_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(WRITER_CACHE_ENV, "1.5GB")
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--db", str(tmp_path / "h.db"), "--token-file", str(tmp_path / "token")])
    assert exit_.value.code == 2
    assert f"{WRITER_CACHE_ENV} must be a whole number of MiB (at least 1), not '1.5GB'" in capsys.readouterr().err
