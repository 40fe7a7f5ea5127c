"""What bounds the head's memory (dashboard/store/connection.py): a reader connection lives only as
long as its request thread, so the thread pool's coming and going leaves no connections (and their
page caches) behind."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from rayscope.dashboard.store.connection import ReaderPool, open_writer


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
