"""The writer process: owns the only writing SQLite connection, runs `fn(conn, *args)` jobs in order.

Why a process and not a thread: the head is bound by the GIL. Decoding agent batches, merging task
deltas and serving the API held one core while SQLite's inserts waited for it; in its own process
the SQL runs on the second core (see writer.py for the head's side, which also prepares the rows).

Protocol (one socket pair, multiprocessing.connection framing, pickle both ways; the head is our
own parent, so nothing untrusted is unpickled): request (job_id, fn, args) -> reply (job_id, ok,
result or exception). fn is a module-level function of rayscope (pickled by name). The process
ends when the head closes its end (EOF): a head killed with SIGKILL leaves no writer behind once
the job in hand is done, and SQLite's WAL keeps a half-done transaction invisible.
"""
from __future__ import annotations

import logging
import pickle
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from rayscope.dashboard.native_memory import freeze_startup_objects, release_free_memory
from rayscope.dashboard.store.connection import open_writer

# After a job this big (a coalesced transaction), give freed memory back to the OS: glibc and
# CPython keep it otherwise, and the writer's RSS would stay at its largest transaction's peak.
TRIM_AFTER_BYTES = 1 << 20


class JobFailed(RuntimeError):
    """A job's exception that could not be sent back as itself (it did not pickle)."""


def _reply(job_id: int, ok: bool, value: object) -> bytes:
    try:
        return pickle.dumps((job_id, ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:  # noqa: BLE001 - an unpicklable result or exception is sent as text
        return pickle.dumps((job_id, False, JobFailed(f"{value!r} (reply not picklable: {err})")))


def serve(db_path: Path, channel: Connection) -> None:
    try:
        conn = open_writer(db_path)
    except BaseException as err:  # noqa: BLE001 - the head raises it from Writer()
        channel.send_bytes(_reply(0, False, err))
        raise
    channel.send_bytes(_reply(0, True, None))  # ready: the schema exists, readers may open
    freeze_startup_objects()  # each release's collection then scans only what jobs left
    try:
        while True:
            try:
                data = channel.recv_bytes()
            except EOFError:
                return
            job_id, fn, args = pickle.loads(data)
            if fn is None:  # close
                channel.send_bytes(_reply(job_id, True, None))
                return
            try:
                out = (True, fn(conn, *args))
            except Exception as err:  # noqa: BLE001 - the caller's future raises it
                out = (False, err)
            reply = _reply(job_id, *out)
            del fn, args, out  # a transaction's rows: freed before the next one arrives
            channel.send_bytes(reply)
            if len(data) > TRIM_AFTER_BYTES:
                del data, reply
                release_free_memory()
    finally:
        try:
            conn.execute("PRAGMA optimize")
        finally:
            conn.close()


def main(argv: list[str]) -> None:
    db_path, fd = Path(argv[0]), int(argv[1])
    # Ctrl-C in a terminal reaches the whole process group: the head decides when the writer stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    channel = Connection(fd)
    try:
        serve(db_path, channel)
    except EOFError:
        pass
    finally:
        channel.close()


if __name__ == "__main__":
    main(sys.argv[1:])
