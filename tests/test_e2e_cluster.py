"""Acceptance: a real 2-node cluster started with `rayscope start` observes a real workload.

Everything the driver did (its ground truth, printed as `TRUTH {...}`) must show up at the
head with the right state, times, node, worker and error; processes and metrics of both
nodes must arrive; a line printed by a task must be found by cluster-wide search and
attributed to that task.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from polling import read_line, wait_for, wait_or_kill

WORKLOAD = Path(__file__).parent / "workloads" / "basic_workload.py"
RESIDENT = Path(__file__).parent / "workloads" / "resident_actors.py"
WAIT_S = 90.0


@pytest.fixture(scope="module")
def api(rayscope_cluster) -> httpx.Client:
    with httpx.Client(
        base_url=rayscope_cluster.http_url + "/api/v1",
        headers={"Authorization": f"Bearer {rayscope_cluster.token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def truth(rayscope_cluster) -> dict:
    proc = subprocess.run(
        [sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address],
        env=rayscope_cluster.env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"workload failed:\n{proc.stdout}\n{proc.stderr}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("TRUTH "))
    return json.loads(line[len("TRUTH "):])


def get_task(api: httpx.Client, task_id: str) -> list[dict]:
    resp = api.get(f"/tasks/{task_id}")
    return resp.json() if resp.status_code == 200 else []


def finished_task(api: httpx.Client, task_id: str, state: str = "FINISHED", worker_side: bool = False) -> dict:
    """worker_side: also wait for the worker's own event (its pid, its start), which Ray flushes
    from the worker, up to a second after the owner's end state."""
    def probe() -> dict | None:
        attempts = get_task(api, task_id)
        done = [a for a in attempts if a["state"] == state and a.get("end_time")
                and (a.get("worker_pid") or not worker_side)]
        return done[0] if done else None

    return wait_for(f"task {task_id} in state {state}", probe, WAIT_S,
                    context=lambda: f"the head's attempts: {json.dumps(get_task(api, task_id))[:3000]}")


def test_both_nodes_alive_with_roles(api, rayscope_cluster, truth):
    nodes = wait_for("both nodes", lambda: (
        rows if len(rows := [n for n in api.get("/nodes").json()["rows"] if n["state"] == "ALIVE"]) >= 2 else None),
        WAIT_S)
    by_id = {n["node_id"]: n for n in nodes}
    assert set(truth["nodes"]) <= set(by_id)
    assert by_id[rayscope_cluster.head_node_id]["is_head_node"] is True
    assert by_id[rayscope_cluster.worker_node_id]["is_head_node"] is False
    assert by_id[rayscope_cluster.worker_node_id]["resources_total"].get("CPU") == 2


def test_every_task_has_state_times_node_and_worker(api, truth):
    for expected in truth["squares"]:
        task = finished_task(api, expected["task_id"], worker_side=True)
        assert task["name"].endswith("square"), task
        assert task["job_id"] == truth["job_id"]
        assert task["attempt"] == 0
        assert task["node_id"] == expected["node_id"]
        assert task["worker_id"] == expected["worker_id"]
        assert task["worker_pid"]
        assert task["creation_time"] <= task["start_time"] <= task["end_time"]
        assert task["error_type"] is None


def started_task(api: httpx.Client, task_id: str) -> dict:
    """The task once the head knows where it ran (its executor's RUNNING event, with node and worker)."""
    def probe() -> dict | None:
        ran = [a for a in get_task(api, task_id) if a.get("start_time") and a.get("node_id")]
        return ran[0] if ran else None

    return wait_for(f"task {task_id} started on a node", probe, WAIT_S,
                    context=lambda: f"the head's attempts: {json.dumps(get_task(api, task_id))[:3000]}")


def test_nested_tasks_point_at_their_parent(api, truth):
    """A child's parent and node come from events its owner and its executor write when it starts.
    Its FINISHED is not waited for: the child's owner is the parent's worker, which Ray retires soon
    after the parent returns, and Ray 2.60 can retire it before it writes the child's end (seen in CI:
    the FINISHED line is in no export-event file; issue 15's note). That loss is Ray's, before any file."""
    parent = finished_task(api, truth["parent"]["task_id"])
    for kid in truth["parent"]["children"]:
        child = started_task(api, kid["task_id"])
        assert child["parent_task_id"] == parent["task_id"]
        assert child["node_id"] == kid["node_id"]


def test_failed_task_carries_traceback(api, truth):
    task = finished_task(api, truth["failed_task_id"], state="FAILED")
    assert task["name"].endswith("explode")
    assert task["error_type"], task
    assert f"boom-{truth['run']}" in task["error_message"]
    assert 'in explode' in task["error_message"]  # the frame that raised, as Ray formats it
    assert "raise ValueError" in task["error_message"]
    failed = api.get("/tasks", params={"filter": [f"job_id={truth['job_id']}", "state=FAILED"]}).json()["rows"]
    assert [t["task_id"] for t in failed] == [truth["failed_task_id"]]


def test_actor_lifecycle_and_its_method_calls(api, truth):
    actor_id = truth["actor_id"]

    def dead_actor() -> dict | None:
        resp = api.get(f"/actors/{actor_id}")
        return resp.json() if resp.status_code == 200 and resp.json()["state"] == "DEAD" else None

    actor = wait_for("the actor to be DEAD after ray.kill", dead_actor, WAIT_S)
    assert actor["class_name"] == "Counter"
    assert actor["job_id"] == truth["job_id"]
    assert actor["node_id"] in truth["nodes"]
    assert actor["death_cause"]
    for call in truth["actor_calls"]:
        task = finished_task(api, call["task_id"])
        assert task["actor_id"] == actor_id
        assert task["type"] == "ACTOR_TASK"
        assert task["worker_id"] == call["worker_id"]


def test_job_appears_and_finishes(api, truth):
    def finished_job() -> dict | None:
        resp = api.get(f"/jobs/{truth['job_id']}")
        return resp.json() if resp.status_code == 200 and resp.json()["state"] == "FINISHED" else None

    job = wait_for("the driver's job to finish", finished_job, WAIT_S)
    assert job["driver_pid"]
    assert job["start_time"] and job["end_time"] and job["start_time"] <= job["end_time"]


def test_task_listing_pages_cover_every_task_of_the_job(api, truth):
    expected = {t["task_id"] for t in truth["squares"]} | {truth["failed_task_id"], truth["big_task_id"]}
    expected |= {truth["parent"]["task_id"]} | {k["task_id"] for k in truth["parent"]["children"]}
    seen: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"filter": f"job_id={truth['job_id']}", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/tasks", params=params).json()
        seen |= {t["task_id"] for t in page["rows"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert expected <= seen


def test_processes_and_metrics_of_both_nodes_arrive(api, rayscope_cluster, truth):
    """Workers live only as long as their job: keep an actor on every node while we look."""
    driver = subprocess.Popen([sys.executable, str(RESIDENT), rayscope_cluster.gcs_address],
                              env=rayscope_cluster.env, stdout=subprocess.PIPE, text=True)
    try:
        ready = read_line(driver.stdout, 120, "the resident driver's READY line")
        assert ready.startswith("READY "), ready
        actor_pids = json.loads(ready[len("READY "):])
        assert set(actor_pids) == {rayscope_cluster.head_node_id, rayscope_cluster.worker_node_id}
        for node_id, pid in actor_pids.items():
            def procs() -> dict | None:
                rows = api.get("/processes", params={"filter": f"node_id={node_id}", "limit": 1000}).json()["rows"]
                by_pid = {p["pid"]: p for p in rows}
                has_raylet = any(p["role"] == "raylet" for p in rows)
                mine = by_pid.get(pid, {})
                return by_pid if has_raylet and mine.get("actor_class") == "Resident" and mine.get("worker_id") else None

            by_pid = wait_for(f"the raylet and the Resident actor's worker on node {node_id}", procs, WAIT_S)
            actor_proc = by_pid[pid]
            assert actor_proc["role"] == "worker"
            assert actor_proc["rss"] > 0 and actor_proc["num_fds"] > 0
            assert all(p["node_id"] == node_id for p in by_pid.values())
    finally:
        driver.kill()
        driver.wait()
    for node_id in (rayscope_cluster.head_node_id, rayscope_cluster.worker_node_id):
        series = wait_for(f"metrics of node {node_id}", lambda: [
            s for s in api.get("/metrics/nodes", params={"node_id": node_id}).json() if s["points"]], WAIT_S)
        point = series[0]["points"][-1]
        assert point["mem_total"] > point["mem_used"] > 0
        assert point["disk_total"] > 0
        assert point["object_store_capacity"], point


def test_printed_line_is_found_cluster_wide_and_attributed(api, truth):
    for expected in truth["squares"]:
        value = expected["value"]
        x = int(round(value ** 0.5))
        marker = f"marker-{truth['run']}-square-{x}"

        def hit() -> list[dict] | None:
            rows = api.get("/logs/search", params={"q": marker, "context": 1}).json()["rows"]
            return [r for r in rows if r["line"]["task_id"] and r["line"]["text"] == marker] or None

        hits = wait_for(f"log line {marker!r} attributed to its task", hit, WAIT_S)
        assert len(hits) == 1
        line = hits[0]["line"]
        assert marker in line["text"]
        assert line["task_id"] == expected["task_id"]
        assert line["node_id"] == expected["node_id"]
        assert line["worker_id"] == expected["worker_id"]
        assert line["job_id"] == truth["job_id"]


def test_actor_output_is_attributed_to_the_actor(api, truth):
    marker = f"marker-{truth['run']}-actor-2"
    hits = wait_for(f"log line {marker!r}", lambda: api.get("/logs/search", params={"q": marker}).json()["rows"],
                    WAIT_S)
    assert hits[0]["line"]["actor_id"] == truth["actor_id"]


def test_running_task_output_is_attributed_before_it_ends(api, rayscope_cluster, tmp_path):
    """Ray 2.60 exports a task's log byte range only with its end: a task that is still running
    (the one a user is looking at because it is stuck) must still show what it printed."""
    release = tmp_path / "release"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "workloads" / "stuck_workload.py"),
                             rayscope_cluster.gcs_address, str(release)], env=rayscope_cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stdout, 120, "the stuck workload's STUCK line")
        assert line.startswith("STUCK "), (line, proc.stderr.read() if proc.poll() is not None else "")
        task_id = line.split()[1]
        wait_for(f"task {task_id} RUNNING", lambda: any(a["state"] == "RUNNING" for a in get_task(api, task_id)),
                 WAIT_S)

        def own_lines() -> list[dict]:
            rows = api.get("/logs/lines", params={"task_id": task_id}).json()["rows"]
            return [r for r in rows if str(release) in r["text"]]

        lines = wait_for("the running task's printed line in its own log view", own_lines, WAIT_S)
        assert len(lines) == 1 and lines[0]["task_id"] == task_id, lines
        hits = api.get("/logs/search", params={"q": str(release)}).json()["rows"]
        assert [h["line"]["task_id"] for h in hits] == [task_id], hits
        # Only that line: the worker's earlier output (other tasks, its startup) is not the task's.
        assert all(r["task_id"] == task_id for r in api.get("/logs/lines", params={"task_id": task_id}).json()["rows"])
        assert get_task(api, task_id)[0]["state"] == "RUNNING"
        release.touch()
        finished_task(api, task_id)
        lines = wait_for("the finished task's line, by its exported range", own_lines, WAIT_S)
        assert [r["task_id"] for r in lines] == [task_id]
    finally:
        release.touch()
        wait_or_kill(proc, 60)
