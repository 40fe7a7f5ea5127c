"""The one writer, seen from the head: jobs `fn(conn, *args)` run in order in the writer process.

SQLite allows one writer at a time; funnelling every write through one connection avoids
SQLITE_BUSY between writers. That connection lives in its own process (writer_process.py) so the
SQL does not wait for the head's GIL. Two threads here move the bytes: a sender (so no caller ever
blocks on a full socket, least of all the event loop) and a receiver that resolves the jobs' futures.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import queue
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Callable, Optional, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_CLOSE = None  # the job function that ends the writer process
START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0


class WriterDied(RuntimeError):
    """The writer process is gone; no write can be committed until the head restarts."""


class Writer:
    def __init__(self, db_path: Path, on_death: Optional[Callable[[], None]] = None) -> None:
        """Starts the writer process and returns once it has opened the DB (and created the schema,
        so readers can open after this)."""
        self.on_death = on_death
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "rayscope.dashboard.store.writer_process", str(db_path), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),))
        theirs.close()
        self._channel = Connection(ours.detach())
        self._ids = itertools.count(1)
        ready: Future = Future()  # job 0: the process's reply once the DB is open
        self._pending: dict[int, Future] = {0: ready}
        self._lock = threading.Lock()
        self._dead: Optional[WriterDied] = None
        self._closing = False
        self._outbox: "queue.SimpleQueue[Optional[bytes]]" = queue.SimpleQueue()
        self._receiver = threading.Thread(target=self._receive, name="rayscope-writer-rx", daemon=True)
        self._sender = threading.Thread(target=self._send, name="rayscope-writer-tx", daemon=True)
        self._receiver.start()
        self._sender.start()
        try:
            ready.result(START_TIMEOUT_S)
        except BaseException:
            self._stop_process()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def submit(self, fn: Callable[..., T], *args) -> "Future[T]":
        """Queue fn(conn, *args) in the writer process; do not wait. fn must be a module-level
        function and args picklable (a pickling error raises here, before anything is queued)."""
        fut: Future = Future()
        job_id = next(self._ids)
        data = pickle.dumps((job_id, fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._dead is not None:
                fut.set_exception(self._dead)
                return fut
            self._pending[job_id] = fut
            self._outbox.put(data)
        return fut

    def call(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) in the writer process and wait (for sync callers, e.g. the bench)."""
        return self.submit(fn, *args).result()

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run fn(conn, *args) in the writer process without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Finish every queued job, then end the process (it runs PRAGMA optimize and closes)."""
        self._closing = True
        try:
            if self._dead is None:
                self.submit(_CLOSE).result(EXIT_TIMEOUT_S)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - still stop the process below
            log.warning("the writer process did not close cleanly", exc_info=True)
        finally:
            self._stop_process()

    # ------------------------------------------------------------------ the two threads
    def _send(self) -> None:
        while True:
            data = self._outbox.get()
            if data is None:
                return
            try:
                self._channel.send_bytes(data)
            except OSError as err:
                self._died(f"cannot reach the writer process: {err}")
                return

    def _receive(self) -> None:
        while True:
            try:
                job_id, ok, value = pickle.loads(self._channel.recv_bytes())
            except (EOFError, OSError) as err:
                self._died(f"the writer process ended ({type(err).__name__})")
                return
            with self._lock:
                fut = self._pending.pop(job_id, None)
            if fut is None or not fut.set_running_or_notify_cancel():
                continue  # its caller was cancelled (e.g. a stream that ended); the job still ran
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _died(self, why: str) -> None:
        with self._lock:
            if self._dead is not None:
                return
            self._dead = WriterDied(why)
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if fut.set_running_or_notify_cancel():
                fut.set_exception(self._dead)
        self._outbox.put(None)
        if not self._closing:
            log.error("%s; %d jobs were pending", why, len(pending))
            if self.on_death is not None:
                self.on_death()

    def _stop_process(self) -> None:
        self._outbox.put(None)
        try:
            self._channel.close()  # EOF for the process, if it is still reading
        except OSError:
            pass
        try:
            self._proc.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("writer process %d did not exit; killing it", self._proc.pid)
            self._proc.kill()
            self._proc.wait()
