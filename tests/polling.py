"""Waiting, in tests, for what happens asynchronously (a state the head has not stored yet)."""
from __future__ import annotations

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
