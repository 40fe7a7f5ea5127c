"""Opening SQLite connections the way the store needs them (WAL, one writer, many readers)."""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable

from rayscope.dashboard.store.log_index import FoldedSubstring, migrate_log_fts
from rayscope.dashboard.store.schema import OLD_TASK_INDEXES, SCHEMA, TASK_TRIGGERS, VIEWS
from rayscope.dashboard.store.schema_rollup import backfill_node_rollup


def _migrate_tasks_to_rowid(conn: sqlite3.Connection) -> None:
    """A DB written before tasks became a rowid table: copy it over once (one transaction)."""
    cols = [r[1] for r in conn.execute("PRAGMA table_info(tasks)")]
    if not cols or "id" in cols:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in OLD_TASK_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        for name in TASK_TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute("ALTER TABLE tasks RENAME TO tasks_pre_rowid")
        conn.execute("DROP VIEW IF EXISTS workers_v")
        conn.execute("DROP VIEW IF EXISTS processes_v")
        for stmt in SCHEMA.split(";\n"):  # executescript would commit; tables only, then copy
            if stmt.strip().startswith("CREATE TABLE IF NOT EXISTS tasks ("):
                conn.execute(stmt)
        col_list = ", ".join(cols)
        conn.execute(f"INSERT INTO tasks ({col_list}) SELECT {col_list} FROM tasks_pre_rowid "
                     "ORDER BY creation_time, task_id, attempt")
        conn.execute("DROP TABLE tasks_pre_rowid")
        conn.execute("DELETE FROM task_counts")
        conn.execute("INSERT INTO task_counts (job_id, name, type, state, n) SELECT job_id, coalesce(name, ''), "
                     "coalesce(type, ''), state, count(*) FROM tasks GROUP BY 1, 2, 3, 4")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


_LOG_FTS_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS log_fts", "CREATE TABLE IF NOT EXISTS log_fts_indexed",
                "INSERT OR IGNORE INTO log_fts_indexed")


def log_fts_ddl() -> list[str]:
    """SCHEMA's statements that create log search's index and its watermark (not its trigger)."""
    def body(stmt: str) -> str:
        return "\n".join(ln for ln in stmt.splitlines() if not ln.lstrip().startswith("--")).strip()
    return [stmt for stmt in SCHEMA.split(";\n") if body(stmt).startswith(_LOG_FTS_DDL)]


# Columns added to existing tables after a DB may have been written: (table, column, type).
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("jobs", "submission_id", "TEXT"),
    ("tasks", "data_operator_id", "TEXT"), ("actors", "data_operator_id", "TEXT"),
    ("dataset_progress", "source", "TEXT"), ("dataset_progress_latest", "source", "TEXT"),
    ("agents", "newest_batch_created_at", "REAL"),
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """A DB written before a column existed (e.g. a finished cluster's store opened in history mode)."""
    for table, column, typ in ADDED_COLUMNS:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if cols and column not in cols:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {typ}")


# SQLite's page caches. The DB's pages are in the OS page cache as well, so a miss here costs a pread
# of a few microseconds, not a disk read: these caches save copies, and their size is the head's RSS.
#
# The writer: 16 MiB (was 128). With 1M tasks stored, applying 300k more task events in transactions
# of 32 batches (as the head coalesces them) took 9.5 s of CPU with 16 MiB, 8.5-9.5 s with 128 MiB
# (32 MiB: 9.2 s, 8 MiB: 10.2 s): the index pages a merge touches are spread over ~500 MB of
# indexes, so 128 MiB held no working set either. RAYSCOPE_WRITER_CACHE_MIB gives another size.
WRITER_CACHE_ENV = "RAYSCOPE_WRITER_CACHE_MIB"
WRITER_CACHE_MIB = 16
# A reader: 2 MiB per connection (SQLite's default; was 32, one connection per request thread), and
# all readers of the service process together held under READERS_HEAP_MIB by SQLite's soft heap
# limit (process-wide; the writer is another process): past it, a cache recycles its own pages
# instead of growing. A live head's reader caches are dropped by SQLite at every commit anyway (WAL:
# the DB changed), so a big one only ever served a single query. bench_tasks_1m, history mode (where
# they persist), 1M tasks: page p95 5-7 ms and the summary 4-7 ms with 2 / 16 MiB as with 4 / 32
# (32 MiB each before: the service grew by ~30 MiB per request thread serving the pages).
READER_CACHE_MIB = 2
READERS_HEAP_MIB = 16


def writer_cache_mib() -> int:
    """The writer's page cache in MiB: RAYSCOPE_WRITER_CACHE_MIB if set (a positive integer), else the default."""
    raw = os.environ.get(WRITER_CACHE_ENV, "").strip()
    if not raw:
        return WRITER_CACHE_MIB
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{WRITER_CACHE_ENV} must be a whole number of MiB (at least 1), not {raw!r}")
    return int(raw)


def open_writer(db_path: Path) -> sqlite3.Connection:
    """The single writer connection: creates the schema; autocommit so batches use explicit BEGIN."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, cached_statements=512)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: every commit fsyncs the WAL before it returns, so what the head acked survives a crash of
    # its host too (NORMAL syncs only at checkpoints: a power loss could undo acked transactions, and
    # the agents delete what was acked, so nothing would resend them). One fsync per transaction;
    # under load transactions coalesce many batches (bench_ingest: no change beyond noise).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute(f"PRAGMA cache_size=-{writer_cache_mib() * 1024}")  # negative: KiB
    conn.execute("PRAGMA temp_store=MEMORY")
    # Checkpoint every ~80 MB of WAL instead of every 4 MB: each checkpoint copies and fsyncs the
    # pages changed since the last one, so rarer checkpoints write a hot page once, not 20 times.
    conn.execute("PRAGMA wal_autocheckpoint=65536")
    _migrate_tasks_to_rowid(conn)
    _add_missing_columns(conn)
    migrate_log_fts(conn, log_fts_ddl())
    conn.executescript(SCHEMA)
    conn.executescript(VIEWS)
    backfill_node_rollup(conn)
    return conn


def open_reader(db_path: Path) -> sqlite3.Connection:
    """A reader connection for one request thread; WAL lets it read while the writer commits."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute(f"PRAGMA cache_size=-{READER_CACHE_MIB * 1024}")
    conn.execute(f"PRAGMA soft_heap_limit={READERS_HEAP_MIB << 20}")
    conn.execute("PRAGMA query_only=1")
    conn.row_factory = sqlite3.Row
    FoldedSubstring.register(conn)  # log search's exact check
    return conn


class ReaderPool:
    """One reader connection per thread (FastAPI runs sync endpoints on a thread pool).

    The pool's threads come and go (anyio ends a worker idle for 10 s and starts a new one for the
    next burst of requests), so a connection is kept only while its thread lives: whenever a new one
    is opened, those of ended threads are closed. Otherwise every burst would leave connections
    behind, each holding its page cache, for the life of the head."""

    def __init__(self, db_path: Path, setup: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self._db_path = db_path
        self._setup = setup
        self._local = threading.local()
        self._by_thread: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_reader(self._db_path)
            if self._setup is not None:
                self._setup(conn)
            self._local.conn = conn
            with self._lock:
                ended = [t for t in self._by_thread if not t.is_alive()]
                stale = [self._by_thread.pop(t) for t in ended]
                self._by_thread[threading.current_thread()] = conn
            for old in stale:  # their threads are gone: nobody else can be using them
                _close_quietly(old)
        return conn

    def __len__(self) -> int:
        """Open connections (for tests and the head's own metrics)."""
        with self._lock:
            return len(self._by_thread)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._by_thread.values())
            self._by_thread.clear()
        for conn in conns:
            _close_quietly(conn)


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass
