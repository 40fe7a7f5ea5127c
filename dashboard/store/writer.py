"""The one writer, seen from the head: jobs `fn(conn, *args)` run in order in the writer process.

SQLite allows one writer at a time; funnelling every write through one connection avoids
SQLITE_BUSY between writers. That connection lives in its own process (writer_process.py) so the
SQL does not wait for the head's GIL. Per process, two threads here move the bytes: a sender (so
no caller ever blocks on a full socket, least of all the event loop) and a receiver that resolves
the jobs' futures. If the process dies, its pending jobs fail with WriterDied (nothing they carried
was acked, so agents send it again) and a new process takes over.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Optional, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_CLOSE = None  # the job function that ends the writer process
START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0
RESTARTS_PER_MINUTE = 3  # more deaths than this: give up (on_death), the DB or the machine is broken
# The writer's Python objects come from glibc malloc instead of pymalloc (unless the head's own
# environment says otherwise). A transaction's rows are ~100k small objects; pymalloc returns a
# 1 MiB arena to the OS only once every object in it is gone, so a few survivors per arena kept
# ~90 MiB after a 1M-task ingest, while from malloc the writer's malloc_trim gives the pages back.
# Cost: +2-3 % CPU applying transactions (unpickle + SQL), measured on 300k task events.
WRITER_ENV = {"PYTHONMALLOC": "malloc"}


class WriterDied(RuntimeError):
    """The writer process ended before finishing this job; the job may or may not have committed."""


class _Process:
    """One writer process and the two threads that talk to it."""

    def __init__(self, db_path: Path, ids: "itertools.count[int]", on_exit: Callable[["_Process", str], None]):
        self._on_exit = on_exit
        self._ids = ids
        ours, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rayscope.dashboard.store.writer_process", str(db_path), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env={**WRITER_ENV, **os.environ})
        theirs.close()
        self._channel = Connection(ours.detach())
        self.ready: Future = Future()  # job 0: the process's reply once the DB is open
        self._pending: dict[int, Future] = {0: self.ready}
        self._lock = threading.Lock()
        self.dead: Optional[WriterDied] = None
        self._outbox: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        threading.Thread(target=self._receive, name="rayscope-writer-rx", daemon=True).start()
        threading.Thread(target=self._send, name="rayscope-writer-tx", daemon=True).start()

    def submit(self, fn, args: tuple) -> Future:
        fut: Future = Future()
        job_id = next(self._ids)
        data = pickle.dumps((job_id, fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self.dead is not None:
                fut.set_exception(self.dead)
                return fut
            self._pending[job_id] = fut
            self._outbox.put(data)
        return fut

    def _send(self) -> None:
        while True:
            data = self._outbox.get()
            if data is None:
                return
            try:
                self._channel.send_bytes(data)
            except OSError as err:
                self._ended(f"cannot reach the writer process: {err}")
                return

    def _receive(self) -> None:
        while True:
            try:
                job_id, ok, value = pickle.loads(self._channel.recv_bytes())
            except (EOFError, OSError) as err:
                self._ended(f"writer process {self.proc.pid} ended ({type(err).__name__})")
                return
            with self._lock:
                fut = self._pending.pop(job_id, None)
            if fut is None or not fut.set_running_or_notify_cancel():
                continue  # its caller was cancelled (e.g. a stream that ended); the job still ran
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _ended(self, why: str) -> None:
        with self._lock:
            if self.dead is not None:
                return
            self.dead = WriterDied(why)
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if fut.set_running_or_notify_cancel():
                fut.set_exception(self.dead)
        self._outbox.put(None)
        self._on_exit(self, why)

    def stop(self) -> None:
        self._outbox.put(None)
        try:
            self._channel.close()  # EOF for the process, if it is still reading
        except OSError:
            pass
        try:
            self.proc.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("writer process %d did not exit; killing it", self.proc.pid)
            self.proc.kill()
            self.proc.wait()


class Writer:
    def __init__(self, db_path: Path, on_death: Optional[Callable[[], object]] = None) -> None:
        """Starts the writer process and returns once it has opened the DB (and created the schema,
        so readers can open after this). on_death: called (from a writer thread) when the process
        keeps dying and no new one is started."""
        self.db_path = db_path
        self.on_death = on_death
        self._ids = itertools.count(1)
        self._closing = False
        self._deaths: list[float] = []
        self._current = self._start()

    def _start(self) -> _Process:
        p = _Process(self.db_path, self._ids, self._exited)
        try:
            p.ready.result(START_TIMEOUT_S)
        except BaseException:
            self._closing = True
            p.stop()
            raise
        return p

    def _exited(self, p: _Process, why: str) -> None:
        """On the dead process's thread: start the next one. Jobs submitted from now on queue for it
        (it runs them once the DB is open); those submitted to the dead one failed with WriterDied."""
        if self._closing or p is not self._current:
            return
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < 60] + [now]
        if len(self._deaths) > RESTARTS_PER_MINUTE:
            log.critical("%s; it died %d times in a minute, no new writer started", why, len(self._deaths))
            if self.on_death is not None:
                self.on_death()
            return
        log.error("%s; starting a new writer process (uncommitted batches are sent again by their agents)", why)
        p.stop()
        self._current = _Process(self.db_path, self._ids, self._exited)
        try:
            self._current.ready.result(START_TIMEOUT_S)
        except BaseException:  # noqa: BLE001 - its jobs fail with WriterDied; the head stops
            log.critical("the new writer process did not start", exc_info=True)
            if self.on_death is not None:
                self.on_death()

    @property
    def pid(self) -> int:
        return self._current.proc.pid

    def submit(self, fn: Callable[..., T], *args) -> "Future[T]":
        """Queue fn(conn, *args) in the writer process; do not wait. fn must be a module-level
        function and args picklable (a pickling error raises here, before anything is queued)."""
        return self._current.submit(fn, args)

    def call(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) in the writer process and wait (for sync callers, e.g. the bench)."""
        return self.submit(fn, *args).result()

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) in the writer process without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Finish every queued job, then end the process (it runs PRAGMA optimize and closes)."""
        self._closing = True
        p = self._current
        try:
            if p.dead is None:
                p.submit(_CLOSE, ()).result(EXIT_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - still stop the process below
            log.warning("the writer process did not close cleanly", exc_info=True)
        finally:
            p.stop()
