"""`ray-debug` against a real 2-node Rayscope cluster: a task's `breakpoint()` on the worker
node, reached through the head's tunnel and the node's agent.

- attach in a pseudo-terminal (pexpect): --wait, the stop at the breakpoint() line, `p`, `next`,
  `list --json` showing who is attached, `continue` (detaches) and the task's result;
- list --json / the table, forward: a DAP client on the forwarded port gets the stack, and a
  second client (`ray-debug attach`) gets "already attached by …";
- one-line errors from the real head (bad token, unknown session, nothing paused).
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pexpect
import pytest

from polling import read_line, wait_for
from rayscope.debugger.dap import DapClient, PathMapping
from rayscope.runtime.local_cluster import LocalCluster

JOB = Path(__file__).parent / "workloads" / "ray_debug_job.py"
RAY_DEBUG = [sys.executable, "-m", "rayscope.cli.ray_debug.main"]
PROMPT = r"\(ray-debug\) "
WAIT_S = 60


def line_of(marker: str) -> int:
    return next(i for i, text in enumerate(JOB.read_text().splitlines(), 1) if f"# {marker}" in text)


@dataclass
class Job:
    proc: subprocess.Popen
    job_id: str

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = WAIT_S) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return out


@pytest.fixture
def job(rayscope_cluster: LocalCluster) -> Iterator[Job]:
    """The breakpoint job, its task pinned to the worker node (so the tunnel crosses the relay)."""
    proc = subprocess.Popen(
        [sys.executable, str(JOB), rayscope_cluster.gcs_address, rayscope_cluster.worker_node_id],
        env=rayscope_cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    first = read_line(proc.stdout, 120, "the job's JOB line").split()
    assert first[:1] == ["JOB"], first
    yield Job(proc, first[1])
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def ray_debug(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RAY_DEBUG, *args], env=cluster.env, capture_output=True, text=True, timeout=60)


def listed(cluster: LocalCluster, job_id: str) -> list[dict]:
    res = ray_debug(cluster, "list", "--json", "--job", job_id)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_attach_in_a_pty_stops_prints_steps_continues(rayscope_cluster: LocalCluster, job: Job) -> None:
    path = re.escape(str(JOB))
    child = pexpect.spawn(RAY_DEBUG[0], [*RAY_DEBUG[1:], "attach", "--wait", "--job", job.job_id],
                          env=rayscope_cluster.env, encoding="utf-8", timeout=WAIT_S, dimensions=(40, 200))
    try:
        child.expect("Waiting for a task to hit breakpoint()")
        job.go()
        child.expect(r"Attaching to session [0-9a-f]+: \S*compute at ")
        # pdb's convention: stopped at the next line to run, the one after breakpoint()
        child.expect(rf"> {path}\({line_of('AFTER')}\)compute\(\)\r\n-> total \+= 1  # AFTER\r\n{PROMPT}")
        child.sendline("p total")
        child.expect(rf"40\r\n{PROMPT}")

        [session] = listed(rayscope_cluster, job.job_id)
        assert session["state"] == "attached" and session["attached_by"].startswith("ray-debug@")
        assert session["node_id"] == rayscope_cluster.worker_node_id

        child.sendline("next")
        child.expect(rf"> {path}\({line_of('AFTER') + 1}\)compute\(\)\r\n-> return total\r\n{PROMPT}")
        child.sendline("p total")
        child.expect(rf"41\r\n{PROMPT}")
        # a breakpoint the worker never reaches: continue runs the task to its end; when its frame
        # returns the head ends the session (closing the tunnel) and ray-debug exits, no hang
        child.sendline(f"break ray_debug_job.py:{line_of('DRIVER')}")
        child.expect(rf"Breakpoint 1 at {path}:{line_of('DRIVER')}\r\n{PROMPT}")
        child.sendline("continue")
        child.expect("Continuing until a breakpoint is hit")
        child.expect(r"The session ended: the debug tunnel was closed|The task left the paused frame")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert "RESULT 41" in job.result()
    wait_for("the session to go away", lambda: listed(rayscope_cluster, job.job_id) == [], WAIT_S)


def test_list_and_forward_to_a_dap_client(rayscope_cluster: LocalCluster, job: Job, tmp_path: Path) -> None:
    job.go()
    [session] = wait_for("the paused session", lambda: listed(rayscope_cluster, job.job_id), WAIT_S)
    assert (session["state"], session["reason"], session["file"], session["line"]) == (
        "paused", "breakpoint", str(JOB), line_of("BREAKPOINT"))
    assert session["function"].endswith("compute")
    table = ray_debug(rayscope_cluster, "list", "--job", job.job_id)
    assert table.returncode == 0
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["SESSION", "AGE", "JOB", "TASK/ACTOR"]
    assert row.split()[:2] == ["0", session["session_id"]] and f"ray_debug_job.py:{line_of('BREAKPOINT')}" in row

    forward = subprocess.Popen([*RAY_DEBUG, "forward", session["session_id"], "--json"], env=rayscope_cluster.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        config = json.loads(read_line(forward.stdout, 60, "ray-debug forward's JSON line"))
        vscode = config["vscode"]
        assert vscode["request"] == "attach" and vscode["justMyCode"] is False
        assert vscode["connect"] == {"host": "127.0.0.1", "port": config["port"]}
        remote_root = Path(session["working_dir"])  # the worker's cwd; our checkout is "at" tmp_path
        local_job = tmp_path / JOB.relative_to(remote_root) if JOB.is_relative_to(remote_root) else JOB
        with DapClient.tcp("127.0.0.1", config["port"]) as dap:
            dap.attach([PathMapping(str(tmp_path), str(remote_root))])
            stopped = dap.wait_stopped(30)
            top = dap.stack_trace(stopped.thread_id)[0]
            assert (top.name, top.path, top.line) == ("compute", str(local_job), line_of("AFTER"))

            second = ray_debug(rayscope_cluster, "attach", session["session_id"])
            assert second.returncode == 1
            assert re.fullmatch(r"ray-debug: error: session \S+ is already attached by ray-debug-forward@\S+ "
                                r"since .+\n", second.stderr), second.stderr
            dap.disconnect()
        assert "RESULT 41" in job.result()
    finally:
        forward.send_signal(signal.SIGINT)
        try:
            assert forward.wait(timeout=10) == 130, "ray-debug forward must end on Ctrl-C"
        finally:
            if forward.poll() is None:
                forward.kill()
                forward.wait()


def test_errors_from_a_real_head_are_one_line(rayscope_cluster: LocalCluster) -> None:
    bad = ray_debug(rayscope_cluster, "list", "--token", "wrong")
    assert bad.returncode == 1
    assert bad.stderr.startswith("ray-debug: error: the head rejected the token (401)") and bad.stderr.count("\n") == 1
    gone = ray_debug(rayscope_cluster, "attach", "deadbeefdeadbeef")
    assert (gone.returncode, gone.stderr) == (
        1, "ray-debug: error: no paused session 'deadbeefdeadbeef' (it may have resumed; see `ray-debug list`)\n")
    none = ray_debug(rayscope_cluster, "attach", "--job", "ffffffff")
    assert (none.returncode, none.stderr) == (
        1, "ray-debug: error: no paused sessions (pass --wait to wait for the next breakpoint())\n")
