"""The suite's own hygiene on a shared machine: a head a test started does not outlive the test
process, even when that process is killed (a timed-out or interrupted run)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from polling import read_line, wait_for

TESTS = Path(__file__).resolve().parent

STARTS_A_HEAD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from head_process import start_head
head = start_head(workdir=None)
print(head.proc.pid, flush=True)
time.sleep(600)
"""


def test_a_head_dies_with_the_test_process_that_started_it() -> None:
    runner = subprocess.Popen([sys.executable, "-c", STARTS_A_HEAD, str(TESTS)], stdout=subprocess.PIPE, text=True)
    try:
        head_pid = int(read_line(runner.stdout, 90, "the head's pid"))
        head = psutil.Process(head_pid)
        writer_pids = [c.pid for c in head.children(recursive=True)]
        assert head.is_running()
    finally:
        runner.kill()  # SIGKILL: no finally, no atexit in the runner
        runner.wait(10)

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for("the head gone after its test process was killed", lambda: gone(head_pid), 30)
    wait_for("the head's writer gone too", lambda: all(gone(p) for p in writer_pids), 30)
    assert os.getpid() != head_pid
