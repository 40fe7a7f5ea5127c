"""glibc malloc in the head's two processes: how many arenas, and giving freed heap back to the OS.

Everything large in the head comes from malloc: decoded agent batches, prepared and pickled
transactions, SQLite's page caches, JSON answers. glibc keeps what is freed for reuse, so without
these a process's RSS stays at the peak of its largest burst (bench_ingest: the service held 600 MiB
after a 1M-task ingest, 270 MiB of it free heap that one malloc_trim gave back).
"""
from __future__ import annotations

import ctypes
import logging
import threading
import time

log = logging.getLogger(__name__)

_LIBC = ctypes.CDLL(None)
_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
# The service's threads (request pool, gRPC, writer link, preparer) share this many arenas. glibc's
# default is 8 per core: each thread that allocates while another does gets a heap of its own, and
# what it frees stays there for that heap alone (bench_tasks_1m: ~30 MiB per request thread).
ARENAS = 2
TRIM_EVERY_S = 10.0


def limit_arenas(n: int = ARENAS) -> None:
    """At most `n` malloc arenas; call before the process starts threads."""
    mallopt = getattr(_LIBC, "mallopt", None)  # glibc only
    if mallopt is not None and not mallopt(_M_ARENA_MAX, n):
        log.warning("mallopt(M_ARENA_MAX, %d) failed", n)


def release_free_memory() -> None:
    """Return the free pages of every arena to the OS (glibc's malloc_trim: a few ms)."""
    trim = getattr(_LIBC, "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


def trim_periodically(every_s: float = TRIM_EVERY_S) -> threading.Thread:
    """A daemon thread that calls release_free_memory every `every_s`: after a burst (an ingest
    backlog, a large page) the process's RSS comes back down within that time."""
    def loop() -> None:
        while True:
            time.sleep(every_s)
            release_free_memory()

    t = threading.Thread(target=loop, name="rayscope-malloc-trim", daemon=True)
    t.start()
    return t
