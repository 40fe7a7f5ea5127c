"""`rayscope dashboard --db DB` on a stopped cluster's store (history mode), for the tests that check
what a finished cluster still shows."""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator

from polling import read_line, wait_or_kill


@contextlib.contextmanager
def history_dashboard(db: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yields the web UI URL the command prints (with `#token=`) and its process; stops it after
    (SIGTERM, then SIGKILL if it lingers)."""
    proc = subprocess.Popen([sys.executable, "-m", "rayscope.cli.main", "dashboard", "--db", db],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ui = ""
        for _ in range(5):
            line = read_line(proc.stdout, 120, "the dashboard's 'web UI:' line")  # type: ignore[arg-type]
            if line.startswith("web UI: "):
                ui = line.split(" ", 2)[2].strip()
                break
        assert ui, proc.stderr.read() if proc.stderr and proc.poll() is not None else "no 'web UI:' line"
        yield ui, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        wait_or_kill(proc, 20)
