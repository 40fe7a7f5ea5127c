"""Waiting, in tests, for what happens asynchronously (a state the head has not stored yet, a process we
started to exit)."""
from __future__ import annotations

import subprocess
import time
from typing import Any, Callable


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.3) -> Any:
    """probe() until it returns something truthy (returned); AssertionError naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_or_kill(proc: subprocess.Popen, timeout: float) -> None:
    """Give a process we started `timeout` seconds to exit, then kill it."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
