"""Opening SQLite connections the way the store needs them (WAL, one writer, many readers)."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Callable

from rayscope.dashboard.store.schema import SCHEMA, VIEWS


def open_writer(db_path: Path) -> sqlite3.Connection:
    """The single writer connection: creates the schema; autocommit so batches use explicit BEGIN."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.executescript(SCHEMA)
    conn.executescript(VIEWS)
    return conn


def open_reader(db_path: Path) -> sqlite3.Connection:
    """A reader connection for one request thread; WAL lets it read while the writer commits."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-32768")
    conn.execute("PRAGMA query_only=1")
    conn.row_factory = sqlite3.Row
    return conn


class ReaderPool:
    """One reader connection per thread (FastAPI runs sync endpoints on a thread pool)."""

    def __init__(self, db_path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self._db_path = db_path
        self._setup = setup
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_reader(self._db_path)
            if self._setup is not None:
                self._setup(conn)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close_all(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
