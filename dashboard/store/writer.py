"""The one writer: a dedicated thread owning the only writing SQLite connection.

SQLite allows one writer at a time; funnelling every write through one thread avoids
SQLITE_BUSY between writers and keeps the asyncio loop free while a batch commits.
"""
from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from rayscope.dashboard.store.connection import open_writer

T = TypeVar("T")


class Writer:
    def __init__(self, db_path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rayscope-store-writer")
        self._conn: sqlite3.Connection = self._executor.submit(open_writer, db_path).result()

    def call(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) on the writer thread and wait (for sync callers, e.g. the bench)."""
        return self._executor.submit(fn, self._conn, *args).result()

    def submit(self, fn: Callable[..., T], *args) -> "Future[T]":
        """Queue fn(conn, *args) on the writer thread; do not wait."""
        return self._executor.submit(fn, self._conn, *args)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) on the writer thread without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._conn, *args)

    def close(self) -> None:
        def _close(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("PRAGMA optimize")
            finally:
                conn.close()

        try:
            self._executor.submit(_close, self._conn).result()
        finally:
            self._executor.shutdown(wait=True)
