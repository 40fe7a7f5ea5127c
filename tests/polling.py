"""Waiting, in tests, for what happens asynchronously (a state the head has not stored yet, a process we
started to exit, a line a subprocess has not printed yet). The one place tests wait: a wait is on a
condition with a timeout, never a bare sleep, and never a read that can block the suite forever."""
from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import time
from typing import IO, Any, Callable


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.3,
             context: Callable[[], str] = lambda: "",
             ignore: tuple[type[BaseException], ...] = ()) -> Any:
    """probe() until it returns something truthy (returned); after `timeout`, AssertionError naming
    `what`, the last value probe() gave, and what `context()` says (logs, say). An exception of a
    type in `ignore` (a head that is restarting refuses connections) counts as a falsy answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r} {context()}")


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> None:
    """Give a process we started `timeout` seconds to exit, then kill it."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_line(stream: IO[str], timeout: float, what: str = "a line") -> str:
    """The next line of a subprocess's text pipe (with its newline), or "" at end of file; an
    AssertionError naming `what` if none comes within `timeout` s (`readline()` on a pipe blocks
    until the child writes or exits, however long that takes).

    Reads the file descriptor a byte at a time, so nothing is left in the stream's buffer and a
    later `communicate()` or `read()` on the same process sees exactly the rest. So read a stream
    only here, or only after its last read here, never buffered before."""
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    got = bytearray()
    while not got.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} from a subprocess; "
                                 f"got so far: {bytes(got)!r}")
        byte = os.read(fd, 1)
        if not byte:
            break
        got += byte
    return got.decode(getattr(stream, "encoding", None) or "utf-8", errors="replace")


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """A `preexec_fn` for the processes a test starts in their own session: the kernel sends them
    SIGTERM when the test process dies, so a killed or timed-out test run leaves no head behind
    on the shared machine (Linux PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
