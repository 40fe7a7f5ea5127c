"""Restart a running Rayscope service (head or agent) with its own command line: the fault tests kill
and restart them; the profiling test restarts an agent where ptrace is denied (tests/no_ptrace.py)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Sequence

import psutil


class Relaunchable:
    """A running service we can kill -9 and start again with the same command line, environment and
    working directory. Every process it starts is appended to `launched`, for the caller to stop."""

    def __init__(self, pid: int, launched: list[subprocess.Popen]) -> None:
        proc = psutil.Process(pid)
        self.cmdline, self.env, self.cwd = proc.cmdline(), proc.environ(), proc.cwd()
        self.pid = pid
        self.launched = launched

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        psutil.Process(self.pid).wait(10) if psutil.pid_exists(self.pid) else None

    def start(self, log: Path, prefix: Sequence[str] = ()) -> subprocess.Popen:
        """Start it again, its command line after `prefix` (a launcher such as tests/no_ptrace.py)."""
        with open(log, "ab") as out:
            proc = subprocess.Popen([*prefix, *self.cmdline], env=self.env, cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = proc.pid
        self.launched.append(proc)
        return proc
