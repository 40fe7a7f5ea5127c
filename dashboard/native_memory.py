"""Giving the head's freed memory back to the OS, in both of its processes.

Everything large in the head comes from malloc (decoded agent batches, pickled transactions,
SQLite's page caches, JSON answers) and its many small Python objects from pymalloc's 1 MiB arenas.
Both keep what is freed for reuse, so without this a process's RSS stays at the peak of its largest
burst (bench_ingest, 1M tasks: the service held 600 MiB after the ingest and the writer 290-460).
"""
from __future__ import annotations

import ctypes
import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

_LIBC = ctypes.CDLL(None)
_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
# The service's threads (request pool, gRPC, writer link, preparer) share this many arenas. glibc's
# default is 8 per core: each thread that allocates while another does gets a heap of its own, and
# what it frees stays in that heap (bench_tasks_1m: ~30 MiB per request thread before).
ARENAS = 2
# The service releases this often. The collection scans only what came after gc.freeze() (a fresh
# head: under 1 ms, 40 ms without the freeze); malloc_trim walks the free chunks. Under load, what it
# gives back is faulted in again as the next batches arrive (bench_ingest: ingest rate and head CPU
# within this machine's noise).
RELEASE_EVERY_S = 10.0


def limit_arenas(n: int = ARENAS) -> None:
    """At most `n` malloc arenas; call before the process starts threads."""
    mallopt = getattr(_LIBC, "mallopt", None)  # glibc only
    if mallopt is not None and not mallopt(_M_ARENA_MAX, n):
        log.warning("mallopt(M_ARENA_MAX, %d) failed", n)


def freeze_startup_objects() -> None:
    """Move what exists now (modules, classes, the app's routes and schemas: ~90k objects, alive for
    the whole process) out of the cyclic GC's view, so a full collection scans only what came later
    (40 ms -> well under 1 ms)."""
    gc.collect()
    gc.freeze()


def release_free_memory() -> None:
    """A full collection, which also empties CPython's free lists (tuples, floats, lists, dicts kept
    for reuse: after a burst each leftover pins its pool, and so its pymalloc arena), then glibc's
    malloc_trim: the free pages of every arena go back to the OS. Measured after a 300k-task ingest:
    the trim alone took the service from 442 to 181 MB, the collection then to 146 (writer: 111 -> 71)."""
    gc.collect()
    trim = getattr(_LIBC, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


def release_periodically(every_s: float = RELEASE_EVERY_S) -> threading.Thread:
    """A daemon thread that calls release_free_memory() every `every_s`: after a burst (an ingest
    backlog, a large page) the RSS comes back down within that time. (Releasing only when the RSS grew
    does not work: the RSS does not shrink when a burst ends, that is the problem being solved.)"""
    def loop() -> None:
        while True:
            time.sleep(every_s)
            release_free_memory()

    t = threading.Thread(target=loop, name="rayscope-memory-release", daemon=True)
    t.start()
    return t
