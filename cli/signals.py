"""Ctrl-C is how `logs --follow`, `ray-debug forward` and `attach` end: make sure it can."""
from __future__ import annotations

import signal
import threading


def ctrl_c_interrupts() -> None:
    """SIGINT raises KeyboardInterrupt even when this process inherited SIGINT ignored (every
    background job of a non-interactive shell does, and Python then never installs its handler),
    so `kill -INT` ends a follow started from a script as Ctrl-C ends one in a terminal."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
