"""A real debugpy in a subprocess, stopped in a small function: the DAP tests' debuggee."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from polling import read_line

DEBUGGEE = textwrap.dedent(
    """\
    import debugpy

    _, port = debugpy.listen(("127.0.0.1", 0))
    print("PORT", port, flush=True)
    debugpy.wait_for_client()


    def work(n):
        total = n * 2
        debugpy.breakpoint()
        total += 1  # STEP_HERE
        label = "done"  # BREAK_HERE
        return total


    print("RESULT", work(20), flush=True)
    """
)


def line_of(marker: str) -> int:
    return next(i for i, text in enumerate(DEBUGGEE.splitlines(), 1) if marker in text)


@dataclass
class Debuggee:
    proc: subprocess.Popen
    port: int
    script: Path

    def finish(self, timeout: float = 30) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return out


@pytest.fixture
def debuggee(tmp_path: Path) -> Iterator[Debuggee]:
    script = tmp_path / "debuggee.py"
    script.write_text(DEBUGGEE)
    proc = subprocess.Popen(
        [sys.executable, "-X", "frozen_modules=off", str(script)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={"PYDEVD_DISABLE_FILE_VALIDATION": "1", "PATH": "/usr/bin:/bin"},
    )
    first = read_line(proc.stdout, 60, "the debuggee's PORT line")
    assert first.startswith("PORT "), first
    yield Debuggee(proc, int(first.split()[1]), script)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
