"""Waiting, in tests, for what happens asynchronously (a state the head has not stored yet, a process we
started to exit, a line a subprocess has not printed yet). The one place tests wait: a wait is on a
condition with a timeout, never a bare sleep, and never a read that can block the suite forever."""
from __future__ import annotations

import queue
import subprocess
import threading
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


_EOF = object()
_readers: dict[int, "queue.Queue[object]"] = {}
_readers_lock = threading.Lock()


def _lines_of(stream: IO[str]) -> "queue.Queue[object]":
    """One daemon thread per stream moves its lines into a queue (then _EOF), so a read can time out:
    `readline()` on a pipe blocks until the child writes or exits, however long that takes."""
    with _readers_lock:
        q = _readers.get(id(stream))
        if q is None:
            q = _readers[id(stream)] = queue.Queue()

            def pump() -> None:
                try:
                    for line in iter(stream.readline, ""):
                        q.put(line)
                except (OSError, ValueError):  # the stream was closed under us
                    pass
                q.put(_EOF)

            threading.Thread(target=pump, name=f"read-line-{id(stream)}", daemon=True).start()
        return q


def read_line(stream: IO[str], timeout: float, what: str = "a line") -> str:
    """The next line of a text-mode subprocess pipe (with its newline), or "" at end of file.
    AssertionError naming `what` if none comes within `timeout` s. Once a stream is read here,
    read it only here (the pump thread owns it)."""
    q = _lines_of(stream)
    try:
        item = q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} from a subprocess") from None
    if item is _EOF:
        q.put(_EOF)  # every later read sees the end too
        return ""
    assert isinstance(item, str)
    return item
