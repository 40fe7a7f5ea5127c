"""Waiting, in tests, for what happens asynchronously (a state the head has not stored yet, a process we
started to exit)."""
from __future__ import annotations

import subprocess
import time
from typing import Any, Callable


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.3,
             context: Callable[[], str] = lambda: "") -> Any:
    """probe() until it returns something truthy (returned); after `timeout`, AssertionError naming
    `what`, the last value probe() gave, and what `context()` says (logs, say)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
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
