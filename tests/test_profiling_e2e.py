"""Profiling on the real 2-node cluster (issue 14): stack dumps, the grouped summary, CPU and memory
profiles through the head, and the no-ptrace fallback.

The workload (tests/workloads/profiling_workload.py) does known things on lines it marks itself; the
oracle is those line numbers and function names, and for the flame graph the speedscope document
read here (shares counted by this test, not by Rayscope's own top-functions code).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import psutil
import pytest

from polling import wait_for
from relaunch import Relaunchable

WORKLOAD = Path(__file__).parent / "workloads" / "profiling_workload.py"
NO_PTRACE = Path(__file__).parent / "no_ptrace.py"
N_LINE = 3
WAIT_S = 120.0


@pytest.fixture(scope="module")
def api(rayscope_cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rayscope_cluster.http_url + "/api/v1",
                      headers={"Authorization": f"Bearer {rayscope_cluster.token}"}, timeout=90) as client:
        yield client


@pytest.fixture(scope="module")
def truth(rayscope_cluster, api) -> Iterator[dict[str, Any]]:
    """The workload running, with every process it started known to the head (task RUNNING with a pid,
    actors ALIVE)."""
    driver = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address,
                               rayscope_cluster.worker_node_id, str(N_LINE)],
                              env=rayscope_cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout is not None
        line = driver.stdout.readline()
        assert line.startswith("TRUTH "), f"the workload did not start: {line!r}"
        t = json.loads(line[len("TRUTH "):])

        def running(task_id: str) -> bool:
            rows = api.get(f"/tasks/{task_id}").json()
            return isinstance(rows, list) and any(r["state"].startswith("RUNNING") and r.get("worker_pid") for r in rows)

        def ready() -> bool:
            tasks = [t["spin_task_id"], *t["line_task_ids"], *t["method_task_ids"]]  # the actors in their methods
            actors = [api.get(f"/actors/{a}") for a in (t["keeper_actor_id"], t["hoarder_actor_id"])]
            return all(running(x) for x in tasks) and all(r.status_code == 200 and r.json()["state"] == "ALIVE"
                                                           and r.json()["pid"] for r in actors)

        wait_for("the workload's tasks running and its actors alive at the head", ready, WAIT_S)
        yield t
    finally:
        if driver.stdin:
            driver.stdin.close()
        try:
            driver.wait(30)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()


def name(f: dict[str, Any]) -> str:
    """A frame's function without its class: py-spy names methods by qualified name on 3.11 (Keeper.wait_for)."""
    return f["function"].rsplit(".", 1)[-1]


def frames_of(dump: dict[str, Any]) -> list[tuple[str, int]]:
    return [(name(f), f["line"]) for t in dump["threads"] for f in t["frames"]]


def test_stack_of_a_task_spinning_on_the_second_node(rayscope_cluster, api, truth) -> None:
    r = api.post("/profiling/stacks", json={"task_id": truth["spin_task_id"]})
    assert r.status_code == 200, r.text
    dump = r.json()
    assert dump["target"]["node_id"] == rayscope_cluster.worker_node_id
    assert dump["method"] == "py-spy", dump.get("warning")
    assert ("weave_the_pattern", truth["lines"]["spin"]) in frames_of(dump)
    main = next(t for t in dump["threads"] if t["name"] == "MainThread")
    assert main["frames"][0]["function"] == "weave_the_pattern", "innermost frame first"
    # stored: listed for the task and readable again
    listed = api.get("/profiling/stacks", params={"task_id": truth["spin_task_id"]}).json()["rows"]
    assert dump["dump_id"] in [row["dump_id"] for row in listed]
    assert api.get(f"/profiling/stacks/{dump['dump_id']}").json()["threads"] == dump["threads"]


def test_stack_with_locals(api, truth) -> None:
    dump = api.post("/profiling/stacks", json={"task_id": truth["spin_task_id"], "locals": True}).json()
    spin = next(f for t in dump["threads"] for f in t["frames"] if f["function"] == "weave_the_pattern")
    assert {"acc", "i"} <= set(spin["locals"] or {}), spin


def test_actor_blocked_in_ray_get(api, truth) -> None:
    dump = api.post("/profiling/stacks", json={"actor_id": truth["keeper_actor_id"]}).json()
    assert ("wait_for", truth["lines"]["get"]) in frames_of(dump), dump
    row = next(r for r in api.get("/profiling/stacks", params={"actor_id": truth["keeper_actor_id"]}).json()["rows"]
               if r["dump_id"] == dump["dump_id"])
    assert row["headline"] == f"ray.get at {truth['file']}:{truth['lines']['get']}"


def test_summary_groups_identical_workers(api, truth) -> None:
    s = api.post("/profiling/stack-summary", json={"job_id": truth["job_id"]}).json()
    assert not s["failures"], s["failures"]
    line = [g for g in s["groups"] if ("stand_in_line", truth["lines"]["sleep"]) in [(name(f), f["line"]) for f in g["frames"]]]
    assert len(line) == 1 and line[0]["count"] == N_LINE, s["groups"]
    assert line[0]["headline"] == f"stand_in_line at {truth['file']}:{truth['lines']['sleep']}"
    assert sorted(t["task_id"] for t in line[0]["targets"]) == sorted(truth["line_task_ids"])
    assert s["groups"][0]["count"] >= N_LINE  # largest first


def _finished_profile(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post("/profiling/profiles", json=body)
    assert r.status_code == 202, r.text
    pid = r.json()["profile_id"]
    assert r.json()["status"] == "running"
    wait_for("the profile to end", lambda: api.get(f"/profiling/profiles/{pid}").json()["status"] != "running", WAIT_S)
    p = api.get(f"/profiling/profiles/{pid}").json()
    assert p["status"] == "done", p
    return p


def test_cpu_flame_graph_of_the_spinning_task(api, truth) -> None:
    p = _finished_profile(api, {"task_id": truth["spin_task_id"], "kind": "cpu", "duration_s": 2})
    doc = api.get(f"/profiling/profiles/{p['profile_id']}/speedscope.json").json()
    names = [f["name"] for f in doc["shared"]["frames"]]
    spin = {i for i, n in enumerate(names) if n.rsplit(".", 1)[-1] == "weave_the_pattern"}
    assert spin, names
    # The thread running the task: every sample but a few should be in weave_the_pattern.
    prof = next(pr for pr in doc["profiles"] if any(spin & set(s) for s in pr["samples"]))
    inside = sum(w for s, w in zip(prof["samples"], prof["weights"]) if spin & set(s))
    assert inside / sum(prof["weights"]) > 0.9
    assert p["top_functions"][0]["function"] == "weave_the_pattern"
    listed = api.get("/profiling/profiles").json()["rows"]
    assert p["profile_id"] in [row["profile_id"] for row in listed]


def test_memory_profile_names_the_allocating_line(api, truth) -> None:
    p = _finished_profile(api, {"actor_id": truth["hoarder_actor_id"], "kind": "memory", "duration_s": 3})
    assert p["method"] == "memray"
    hits = [a for a in p["top_allocations"] if a["line"] == truth["lines"]["alloc"] and a["file"].endswith(truth["file"])]
    assert hits and hits[0]["size"] >= 64 * 1024, p["top_allocations"]
    doc = api.get(f"/profiling/profiles/{p['profile_id']}/speedscope.json").json()
    assert any(f["name"].rsplit(".", 1)[-1] == "hoard" for f in doc["shared"]["frames"]), doc["shared"]["frames"][:20]


def test_a_finished_task_has_nothing_to_dump(api, truth) -> None:
    done = truth["finished_task_id"]
    wait_for("quick task FINISHED", lambda: any(r["state"] == "FINISHED" for r in api.get(f"/tasks/{done}").json()), WAIT_S)
    r = api.post("/profiling/stacks", json={"task_id": done})
    assert r.status_code == 409 and "FINISHED" in r.json()["error"], r.text


def test_profiling_requests_are_audited(rayscope_cluster, api, truth) -> None:
    db = Path(api.get("/cluster").json()["db_path"])
    audit = db.with_name(db.stem + ".profiling-audit.jsonl")
    api.post("/profiling/stacks", json={"task_id": truth["spin_task_id"]}, headers={"x-rayscope-client": "audit-probe"})
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert any(r["event"] == "stack" and r["client"] == "audit-probe" and r["task_id"] == truth["spin_task_id"]
               for r in records)


def test_cli_stack_and_profile(rayscope_cluster, truth, tmp_path) -> None:
    out = rayscope_cluster.cli("stack", "--task", truth["spin_task_id"])
    assert out.returncode == 0, out.stderr
    assert "weave_the_pattern (" in out.stdout and f":{truth['lines']['spin']})" in out.stdout
    out = rayscope_cluster.cli("stack", "--summary", "--job", truth["job_id"])
    assert out.returncode == 0, out.stderr
    assert f"{N_LINE} workers in stand_in_line at {truth['file']}:{truth['lines']['sleep']}" in out.stdout
    doc = tmp_path / "spin.speedscope.json"
    out = rayscope_cluster.cli("profile", "--task", truth["spin_task_id"], "--duration", "1", "--out", str(doc))
    assert out.returncode == 0, out.stderr
    assert "weave_the_pattern" in out.stdout
    assert "weave_the_pattern" in [f["name"] for f in json.loads(doc.read_text())["shared"]["frames"]]


def test_capabilities_per_node(rayscope_cluster, api) -> None:
    caps = {c["node_id"]: c for c in api.get("/profiling/capabilities").json()}
    for node in (rayscope_cluster.head_node_id, rayscope_cluster.worker_node_id):
        c = caps[node]
        assert c["connected"] and c["py_spy"] and c["ptrace"] == "root", c


def _worker_agent_pid(cluster) -> int:
    from rayscope.runtime.state import load_state

    return next(n.agent.pid for n in load_state(cluster.home).nodes if n.role == "worker" and n.agent)


def _worker_caps(api: httpx.Client, node_id: str) -> dict[str, Any]:
    return next(c for c in api.get("/profiling/capabilities").json() if c["node_id"] == node_id)


def test_ptrace_denied_gives_the_fallback_stack_and_the_reason(rayscope_cluster, api, truth, tmp_path) -> None:
    """The worker node's agent restarted where ptrace and process_vm_readv fail with EPERM (a seccomp
    filter, as in a container without SYS_PTRACE): the dump comes from the worker's faulthandler, with
    the one-line reason and remedy; then the agent is restarted as it was (and `rayscope stop` told)."""
    from rayscope.runtime.state import locked_state

    node = rayscope_cluster.worker_node_id
    launched: list[subprocess.Popen] = []
    agent = Relaunchable(_worker_agent_pid(rayscope_cluster), launched)
    agent.kill()
    try:
        agent.start(tmp_path / "agent-no-ptrace.log", prefix=[sys.executable, str(NO_PTRACE), "--"])
        wait_for("the agent without ptrace linked for profiling",
                 lambda: (c := _worker_caps(api, node))["connected"] and c["ptrace"] == "denied", WAIT_S)
        assert "SYS_PTRACE" in (_worker_caps(api, node)["remedy"] or "")
        r = api.post("/profiling/stacks", json={"task_id": truth["spin_task_id"]})
        assert r.status_code == 200, r.text
        dump = r.json()
        assert dump["method"] == "faulthandler"
        assert ("weave_the_pattern", truth["lines"]["spin"]) in frames_of(dump)
        warning = dump["warning"]
        assert warning and "\n" not in warning and "ptrace" in warning.lower() and "SYS_PTRACE" in warning, warning
        # A CPU profile still works there: py-spy --nonblocking never stops the process, and reads its
        # memory through /proc/PID/mem when process_vm_readv is refused (the filter leaves read() alone;
        # the kernel's own check is the classic same-uid one).
        p = _finished_profile(api, {"task_id": truth["spin_task_id"], "kind": "cpu", "duration_s": 1})
        assert p["top_functions"][0]["function"].rsplit(".", 1)[-1] == "weave_the_pattern", p["top_functions"][:3]
    finally:
        agent.kill()
        restored = agent.start(tmp_path / "agent-restored.log")
        with locked_state(rayscope_cluster.home) as state:  # so `rayscope stop` stops this one
            record = next(n.agent for n in state.nodes if n.role == "worker" and n.agent)
            record.pid, record.create_time = restored.pid, psutil.Process(restored.pid).create_time()
    wait_for("the restored agent linked with ptrace", lambda: (c := _worker_caps(api, node))["connected"]
             and c["ptrace"] == "root", WAIT_S)


def test_history_mode_lists_dumps_and_profiles(rayscope_cluster, api, truth, tmp_path) -> None:
    """A copy of the live store (SQLite's online backup: a consistent snapshot) served by `rayscope
    dashboard --db`: the profiles and dumps taken above are listed and readable; nothing can be taken."""
    import sqlite3

    from history_dashboard import history_dashboard

    profiles = api.get("/profiling/profiles", params={"filter": "status=done", "limit": 1000}).json()["rows"]
    dumps = api.get("/profiling/stacks", params={"limit": 1000}).json()["rows"]
    assert profiles and dumps, "the tests above took no profile or dump"
    copy = tmp_path / "history.db"
    with sqlite3.connect(api.get("/cluster").json()["db_path"]) as live, sqlite3.connect(copy) as snapshot:
        live.backup(snapshot)
    with history_dashboard(str(copy), rayscope_cluster.env) as (ui, _):
        base, token = ui.split("/#token=")
        with httpx.Client(base_url=base + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as old:
            listed = {p["profile_id"] for p in old.get("/profiling/profiles", params={"limit": 1000}).json()["rows"]}
            assert {p["profile_id"] for p in profiles} <= listed
            doc = old.get(f"/profiling/profiles/{profiles[0]['profile_id']}/speedscope.json")
            assert doc.status_code == 200 and doc.json()["shared"]["frames"]
            assert old.get(f"/profiling/stacks/{dumps[0]['dump_id']}").json()["threads"]
            refused = old.post("/profiling/stacks", json={"task_id": truth["spin_task_id"]})
            assert refused.status_code == 409 and "history" in refused.json()["error"]
