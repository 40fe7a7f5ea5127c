"""Acceptance: nothing is lost across faults, and bad input is reported, not swallowed.

A dedicated 2-node cluster (these tests kill its head and agents). Each test produces a
known number of tasks and log lines, injects one fault while it runs, and then requires
the head to hold exactly that many.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import RayscopeCluster, start_rayscope_cluster
from polling import wait_for
from relaunch import Relaunchable

WORKLOAD = Path(__file__).parent / "workloads" / "chatty_workload.py"
TASKS, LINES = 24, 40


WAIT_S = 120.0
RESTARTING = (httpx.TransportError,)  # a head being restarted refuses connections


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


def lines_written(session_dirs: list[Path], run: str) -> int:
    """The workload's lines as Ray's workers wrote them to disk (the oracle: no Rayscope code reads them)."""
    marker = f"chatty-{run} ".encode()
    return sum(path.read_bytes().count(marker)
               for session in session_dirs for path in (session / "logs").glob("worker-*.out"))


def spool_pending(cluster: RayscopeCluster) -> dict[str, float]:
    """Each agent's unacked spooled batches, from its own Prometheus endpoint (node id -> count)."""
    from rayscope.runtime.state import load_state

    out: dict[str, float] = {}
    for node in load_state(cluster.home).nodes:
        if node.agent and node.agent.metrics_url:
            text = httpx.get(node.agent.metrics_url, timeout=10).text
            values = [float(line.split()[-1]) for line in text.splitlines()
                      if line.startswith("rayscope_agent_spool_pending_batches")]
            out[node.node_id] = values[0] if values else -1.0
    return out


def test_head_killed_and_restarted_mid_workload_loses_nothing(cluster, api, tmp_path):
    run = uuid.uuid4().hex[:8]
    both = [cluster.head_session_dir, cluster.worker_session_dir]
    head = Relaunchable(service_pid(cluster, "head"), RELAUNCHED)
    driver = run_workload(cluster, run)
    wait_for("the workload's first lines at the head", lambda: search_count(api, f"chatty-{run} ") > 0, WAIT_S)
    head.kill()
    # The fault lands mid-flight: the workload still runs, writes lines while the head is down,
    # and the agents hold what they could not deliver in their spools.
    assert driver.poll() is None, "the workload ended before the head was killed: nothing was in flight"
    at_kill = lines_written(both, run)
    assert at_kill < TASKS * LINES, f"all {at_kill} lines were written before the head was killed"
    wait_for("lines written while the head is down", lambda: lines_written(both, run) > at_kill, WAIT_S)
    wait_for("agents holding unacked batches while the head is down",
             lambda: all(n > 0 for n in spool_pending(cluster).values()), WAIT_S)
    restarted = head.start(tmp_path / "head-restarted.log")
    try:
        job_id = finish(driver)
        assert lines_written(both, run) == TASKS * LINES
        wait_for("every task FINISHED at the restarted head", lambda: finished_tasks(api, job_id) == TASKS, WAIT_S,
                 ignore=RESTARTING)
        wait_for(f"all {TASKS * LINES} lines", lambda: search_count(api, f"chatty-{run} ") == TASKS * LINES, WAIT_S,
                 ignore=RESTARTING)
    finally:
        cluster_keeps = restarted  # the restarted head serves the rest of the module
        assert cluster_keeps.poll() is None


def test_agent_killed_and_restarted_mid_workload_loses_nothing(cluster, api, tmp_path):
    run = uuid.uuid4().hex[:8]
    worker_node = [cluster.worker_session_dir]
    agent = Relaunchable(service_pid(cluster, "agent"), RELAUNCHED)  # the worker node's agent
    driver = run_workload(cluster, run)
    wait_for("the workload's first lines on the worker node", lambda: lines_written(worker_node, run) > 0, WAIT_S)
    agent.kill()
    # The fault lands mid-flight: tasks are unfinished and keep writing lines on the worker node
    # while its agent is dead; the restarted agent must pick them up from its checkpointed offsets.
    assert driver.poll() is None, "the workload ended before the agent was killed: nothing was in flight"
    at_kill = lines_written(worker_node, run)
    wait_for("lines written on the worker node while its agent is down",
             lambda: lines_written(worker_node, run) > at_kill, WAIT_S)
    agent.start(tmp_path / "agent-restarted.log")
    job_id = finish(driver)
    assert lines_written([cluster.head_session_dir, cluster.worker_session_dir], run) == TASKS * LINES
    wait_for("every task FINISHED", lambda: finished_tasks(api, job_id) == TASKS, WAIT_S)
    wait_for(f"all {TASKS * LINES} lines", lambda: search_count(api, f"chatty-{run} ") == TASKS * LINES, WAIT_S)


def test_rotated_and_truncated_log_file_loses_nothing(cluster, api):
    run = uuid.uuid4().hex[:8]
    logs = cluster.worker_session_dir / "logs"
    path = logs / f"app-{run}.log"

    def write(n: int, phase: str) -> None:
        with open(path, "a") as f:
            for k in range(n):
                f.write(f"rot-{run} {phase} {k}\n")

    write(300, "first")
    wait_for("first generation", lambda: search_count(api, f"rot-{run} first") == 300, WAIT_S)
    write(100, "tail")                     # written, then rotated away at once
    os.rename(path, logs / f"app-{run}.log.1")
    write(200, "second")                   # a new file at the same path
    wait_for("rotated file", lambda: search_count(api, f"rot-{run} second") == 200, WAIT_S)
    with open(path, "r+") as f:
        f.truncate(0)                      # copytruncate-style
    write(50, "third")
    wait_for("after truncation", lambda: search_count(api, f"rot-{run} third") == 50, WAIT_S)
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
    wait_for("lines after the huge one", lambda: search_count(api, f"odd-{run} after") == 20, WAIT_S)
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
    wait_for("the tasks after the malformed lines", lambda: finished_tasks(api, job_id) == TASKS, WAIT_S)
    drops = wait_for("malformed events reported", lambda: [
        d for d in api.get("/ingest/health").json()["drops"]
        if d["source"] == "events" and "malformed" in d["reason"]], WAIT_S)
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
