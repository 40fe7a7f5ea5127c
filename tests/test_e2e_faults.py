"""Acceptance: nothing is lost across faults, and bad input is reported, not swallowed.

A dedicated 2-node cluster (these tests kill its head and agents). Each test produces a
known number of tasks and log lines, injects one fault while it runs, and then requires
the head to hold exactly that many.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import psutil
import pytest

from conftest import RayscopeCluster, start_rayscope_cluster

WORKLOAD = Path(__file__).parent / "workloads" / "chatty_workload.py"
TASKS, LINES = 24, 40


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except httpx.TransportError as exc:  # the head may be restarting
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; last seen: {last!r}")


RELAUNCHED: list[subprocess.Popen] = []  # services these tests restarted: `rayscope stop` never knew them


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayscopeCluster]:
    try:
        with start_rayscope_cluster() as c:
            yield c
    finally:
        for proc in RELAUNCHED:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture()
def api(cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.http_url + "/api/v1",
                      headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30) as client:
        yield client


def search_count(api: httpx.Client, query: str) -> int:
    """Every hit of a substring search, following cursors (there is no row cap)."""
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"q": query, "limit": 10000, "context": 0}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/logs/search", params=params).json()
        total += len(page["rows"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


def finished_tasks(api: httpx.Client, job_id: str) -> int:
    rows = api.get("/tasks", params={"filter": [f"job_id={job_id}", "state=FINISHED", "name=chatter"],
                                     "limit": 10000}).json()["rows"]
    return len(rows)


class Relaunchable:
    """A running service we can kill -9 and start again with the same command line."""

    def __init__(self, pid: int) -> None:
        proc = psutil.Process(pid)
        self.cmdline, self.env, self.cwd = proc.cmdline(), proc.environ(), proc.cwd()
        self.pid = pid

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        psutil.Process(self.pid).wait(10) if psutil.pid_exists(self.pid) else None

    def start(self, log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.cmdline, env=self.env, cwd=self.cwd, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = proc.pid
        RELAUNCHED.append(proc)
        return proc


def run_workload(cluster: RayscopeCluster, run: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKLOAD), cluster.gcs_address, run, str(TASKS), str(LINES)],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(driver: subprocess.Popen) -> str:
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, f"workload failed:\n{out}\n{err}"
    return next(ln.split()[1] for ln in out.splitlines() if ln.startswith("DONE "))


def service_pid(cluster: RayscopeCluster, which: str) -> int:
    from rayscope.runtime.state import load_state

    state = load_state(cluster.home)
    if which == "head":
        return next(n.head_service.pid for n in state.nodes if n.head_service)
    return next(n.agent.pid for n in state.nodes if n.role == "worker" and n.agent)


def test_head_killed_and_restarted_mid_workload_loses_nothing(cluster, api, tmp_path):
    run = uuid.uuid4().hex[:8]
    head = Relaunchable(service_pid(cluster, "head"))
    driver = run_workload(cluster, run)
    time.sleep(6)
    head.kill()
    time.sleep(4)  # agents buffer meanwhile
    restarted = head.start(tmp_path / "head-restarted.log")
    try:
        job_id = finish(driver)
        wait_for("every task FINISHED at the restarted head", lambda: finished_tasks(api, job_id) == TASKS)
        wait_for(f"all {TASKS * LINES} lines", lambda: search_count(api, f"chatty-{run} ") == TASKS * LINES)
    finally:
        cluster_keeps = restarted  # the restarted head serves the rest of the module
        assert cluster_keeps.poll() is None


def test_agent_killed_and_restarted_mid_workload_loses_nothing(cluster, api, tmp_path):
    run = uuid.uuid4().hex[:8]
    agent = Relaunchable(service_pid(cluster, "agent"))
    driver = run_workload(cluster, run)
    time.sleep(6)
    agent.kill()
    time.sleep(3)
    agent.start(tmp_path / "agent-restarted.log")
    job_id = finish(driver)
    wait_for("every task FINISHED", lambda: finished_tasks(api, job_id) == TASKS)
    wait_for(f"all {TASKS * LINES} lines", lambda: search_count(api, f"chatty-{run} ") == TASKS * LINES)


def test_rotated_and_truncated_log_file_loses_nothing(cluster, api):
    run = uuid.uuid4().hex[:8]
    logs = cluster.worker_session_dir / "logs"
    path = logs / f"app-{run}.log"

    def write(n: int, phase: str) -> None:
        with open(path, "a") as f:
            for k in range(n):
                f.write(f"rot-{run} {phase} {k}\n")

    write(300, "first")
    wait_for("first generation", lambda: search_count(api, f"rot-{run} first") == 300)
    write(100, "tail")                     # written, then rotated away at once
    os.rename(path, logs / f"app-{run}.log.1")
    write(200, "second")                   # a new file at the same path
    wait_for("rotated file", lambda: search_count(api, f"rot-{run} second") == 200)
    with open(path, "r+") as f:
        f.truncate(0)                      # copytruncate-style
    write(50, "third")
    wait_for("after truncation", lambda: search_count(api, f"rot-{run} third") == 50)
    assert search_count(api, f"rot-{run} tail") == 100
    assert search_count(api, f"rot-{run} first") == 300


def test_binary_and_huge_lines_are_reported_and_nothing_else_is_lost(cluster, api):
    run = uuid.uuid4().hex[:8]
    path = cluster.worker_session_dir / "logs" / f"odd-{run}.log"
    with open(path, "wb") as f:
        f.write(f"odd-{run} before\n".encode())
        f.write(b"\x00\xff\xfe binary \x80\x81 odd-" + run.encode() + b" bin\n")
        f.write(b"odd-" + run.encode() + b" huge " + b"y" * (10 * 1024 * 1024) + b"\n")
        for k in range(20):
            f.write(f"odd-{run} after {k}\n".encode())
    wait_for("lines after the huge one", lambda: search_count(api, f"odd-{run} after") == 20)
    assert search_count(api, f"odd-{run} before") == 1
    hits = api.get("/logs/search", params={"q": f"odd-{run} bin"}).json()["rows"]
    assert len(hits) == 1 and hits[0]["line"]["is_binary"] is True
    huge = api.get("/logs/search", params={"q": f"odd-{run} huge"}).json()["rows"]
    assert len(huge) == 1 and huge[0]["line"]["truncated_bytes"] > 0
    drops = api.get("/ingest/health").json()["drops"]
    # The line itself is kept (cut); what was cut is reported in bytes, with where it happened.
    assert any(d["source"] == "logs" and d["bytes"] >= 9 * 1024 * 1024 and run in (d["last_detail"] or "")
               for d in drops), drops


def test_malformed_event_lines_are_reported_and_nothing_else_is_lost(cluster, api):
    run = uuid.uuid4().hex[:8]
    events = cluster.head_session_dir / "logs" / "export_events" / f"event_EXPORT_TASK_9{run[:4]}.log"
    events.parent.mkdir(parents=True, exist_ok=True)
    with open(events, "ab") as f:
        f.write(b"this is not json " + run.encode() + b"\n")
        f.write(b'{"event_id": "x", "timestamp": 1, "source_type": "EXPORT_TASK", "event_data": {}}\n')
    driver = run_workload(cluster, run)
    job_id = finish(driver)
    wait_for("the tasks after the malformed lines", lambda: finished_tasks(api, job_id) == TASKS)
    drops = wait_for("malformed events reported", lambda: [
        d for d in api.get("/ingest/health").json()["drops"]
        if d["source"] == "events" and "malformed" in d["reason"]])
    assert sum(d["count"] for d in drops) >= 2


def test_bad_token_is_a_clear_error(cluster):
    resp = httpx.get(cluster.http_url + "/api/v1/tasks", headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401
    assert "token" in resp.json()["error"].lower()
    env = {**cluster.env, "RAYSCOPE_TOKEN": "wrong"}
    proc = subprocess.run([sys.executable, "-m", "rayscope.cli.main", "list", "tasks",
                           "--address", cluster.http_url], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "401" in proc.stderr, proc.stderr
