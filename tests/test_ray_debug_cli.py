"""`ray-debug` without a cluster: the pdb-like debugger in a real pseudo-terminal against a
real debugpy (`attach --dap-address`, the path for Ray's own debugger ports), and the
one-line errors."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pexpect

from dap_debuggee import Debuggee, debuggee, line_of  # noqa: F401 - the fixture

RAY_DEBUG = [sys.executable, "-m", "rayscope.cli.ray_debug.main"]
PROMPT = r"\(ray-debug\) "


def spawn(*args: str, timeout: float = 30) -> pexpect.spawn:
    child = pexpect.spawn(RAY_DEBUG[0], [*RAY_DEBUG[1:], *args], encoding="utf-8", timeout=timeout,
                          dimensions=(40, 200))
    return child


def detach_and_finish(child: pexpect.spawn, command: str, says: str, debuggee: Debuggee) -> None:  # noqa: F811
    """`command` detaches: ray-debug says so and exits 0, the debuggee runs to its end."""
    child.sendline(command)
    child.expect(says)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "RESULT 41" in debuggee.finish()


def test_pdb_like_session_in_a_pty(debuggee: Debuggee) -> None:  # noqa: F811
    script = re.escape(str(debuggee.script))
    child = spawn("attach", "--dap-address", f"127.0.0.1:{debuggee.port}")
    child.expect(rf"> {script}\({line_of('STEP_HERE')}\)work\(\)\r\n-> total \+= 1  # STEP_HERE\r\n{PROMPT}")
    child.sendline("p n * 100")
    child.expect(rf"2000\r\n{PROMPT}")
    child.sendline("locals")
    child.expect(rf"n = 20\r\ntotal = 40\r\n{PROMPT}")
    child.sendline("where")
    child.expect(rf"  {script}\(\d+\)<module>\(\)\r\n.*> {script}\({line_of('STEP_HERE')}\)work\(\)")
    child.expect(PROMPT)
    child.sendline("up")
    child.expect(rf"> {script}\(\d+\)<module>\(\)\r\n-> print\(\"RESULT\"")
    child.sendline("p nope")
    child.expect(rf"\*\*\* NameError: name 'nope' is not defined\r\n{PROMPT}")
    child.sendline("down")
    child.expect(PROMPT)
    child.sendline("list")
    child.expect(rf" {line_of('STEP_HERE')}  ->\t    total \+= 1  # STEP_HERE")
    child.expect(PROMPT)
    child.sendline("next")
    child.expect(rf"> {script}\({line_of('BREAK_HERE')}\)work\(\)\r\n-> label = \"done\"")
    child.expect(PROMPT)
    child.sendline("p total")
    child.expect(rf"41\r\n{PROMPT}")
    child.sendline(f"break {debuggee.script.name}:{line_of('return total')}")
    child.expect(rf"Breakpoint 1 at {script}:{line_of('return total')}\r\n{PROMPT}")
    child.sendline("continue")
    child.expect(rf"> {script}\({line_of('return total')}\)work\(\)")
    child.expect(PROMPT)
    child.sendline("p label")
    child.expect(rf"'done'\r\n{PROMPT}")
    detach_and_finish(child, "quit", "Detached; the task runs on.", debuggee)


def test_continue_without_breakpoints_detaches_and_the_program_finishes(debuggee: Debuggee) -> None:  # noqa: F811
    child = spawn("attach", "--dap-address", f"127.0.0.1:{debuggee.port}")
    child.expect(PROMPT)
    detach_and_finish(child, "c", "Continuing; detached, the task runs on.", debuggee)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ray_debug(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RAY_DEBUG, *args], capture_output=True, text=True, timeout=60)


def test_unreachable_head_is_one_line(tmp_path: Path) -> None:
    port = _free_port()
    for args in (["list"], ["attach"], ["forward", "abc"]):
        res = run_ray_debug(*args, "--address", f"127.0.0.1:{port}", "--token", "t")
        assert res.returncode == 1
        assert res.stderr == (
            f"ray-debug: error: cannot reach the Rayscope head at http://127.0.0.1:{port}: connection refused\n"
        )


def test_bad_dap_address_and_closed_port() -> None:
    res = run_ray_debug("attach", "--dap-address", "nonsense")
    assert (res.returncode, res.stderr) == (1, "ray-debug: error: bad --dap-address 'nonsense': expected HOST:PORT\n")
    port = _free_port()
    res = run_ray_debug("attach", "--dap-address", f"127.0.0.1:{port}")
    assert res.returncode == 1
    assert res.stderr.startswith(f"ray-debug: error: cannot connect to the debug adapter at 127.0.0.1:{port}")
    assert res.stderr.count("\n") == 1
