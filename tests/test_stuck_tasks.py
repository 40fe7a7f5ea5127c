"""The stuck-task detector (dashboard/store/read_stuck.py): its rules over a real store, the plans
of its queries (no scan of the tasks table), and, on the shared 2-node cluster, a task that needs a
resource no node has and a task running far longer than its function's earlier runs, both flagged
through the REST API and the CLI."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from polling import read_line, wait_for, wait_or_kill
from rayscope.dashboard.store import rows
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.read_stuck import (
    StuckRules,
    Typical,
    annotate,
    feasible,
    fmt_duration,
    p95,
    stuck_page,
    stuck_tasks,
    typical,
)

NOW = 1_700_000_000.0
JOB = "01000000"
NODE_CPU = json.dumps({"CPU": 8.0, "memory": 1e10})
NODE_GPU = json.dumps({"CPU": 4.0, "GPU": 1.0})

_COLS = ("task_id", "attempt", "job_id", "name", "state", "state_rank", "creation_time", "start_time", "end_time",
         "required_resources", "ts_pending_node_assignment", "is_debugger_paused")


def _insert(conn: sqlite3.Connection, *tasks: dict) -> None:
    for t in tasks:
        conn.execute(f"INSERT INTO tasks ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})",
                     tuple(t.get(c) for c in _COLS))


def _finished(name: str, i: int, dur: float) -> dict:
    return dict(task_id=f"f{i:047x}", attempt=0, job_id=JOB, name=name, state="FINISHED", state_rank=4,
                creation_time=NOW - 5000 + i, start_time=NOW - 5000 + i, end_time=NOW - 5000 + i + dur)


def _running(tid: str, name: str, started: float, state: str = "RUNNING", paused: int | None = None) -> dict:
    return dict(task_id=tid, attempt=0, job_id=JOB, name=name, state=state, state_rank=3,
                creation_time=started - 1, start_time=started, is_debugger_paused=paused)


def _pending(tid: str, req: dict, since: float, job: str = JOB) -> dict:
    return dict(task_id=tid, attempt=0, job_id=job, name="wait", state="PENDING_NODE_ASSIGNMENT", state_rank=1,
                creation_time=since, required_resources=json.dumps(req), ts_pending_node_assignment=since)


@pytest.fixture()
def conn(tmp_path: Path):
    c = open_writer(tmp_path / "head.db")
    c.row_factory = sqlite3.Row
    c.execute("INSERT INTO nodes (node_id, state, resources_total) VALUES ('aa', 'ALIVE', ?), ('bb', 'ALIVE', ?),"
              " ('cc', 'DEAD', ?)", (NODE_CPU, NODE_GPU, json.dumps({"CPU": 64.0, "TPU": 8.0})))
    # weave: 40 runs of 1.0..4.9 s (p95 4.7 s); rare: only 3 runs
    _insert(c, *[_finished("weave", i, 1.0 + i * 0.1) for i in range(40)],
            *[_finished("rare", 100 + i, 1.0) for i in range(3)])
    yield c
    c.close()


def _kinds(found) -> dict[str, str]:
    return {t.task_id: t.stuck.kind for t in found}


def test_helpers():
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([7.0]) == 7.0
    assert feasible({"CPU": 2}, [{"CPU": 8}]) and not feasible({"GPU": 1}, [{"CPU": 8}])
    # each resource is on some node, but no single node has both
    assert not feasible({"CPU": 8, "GPU": 1}, [{"CPU": 8}, {"CPU": 4, "GPU": 1}])
    assert feasible({"CPU": 0, "GPU": 0}, [{"CPU": 1}])  # zero amounts ask for nothing
    assert fmt_duration(843) == "14m 3s" and fmt_duration(2.1) == "2.1 s" and fmt_duration(7500) == "2h 5m"


def test_typical_is_the_p95_of_finished_runs_of_the_name(conn):
    t = typical(conn, "weave", StuckRules())
    assert t == Typical(p95=pytest.approx(4.7), samples=40)
    assert typical(conn, "rare", StuckRules()) is None  # 3 < MIN_SAMPLES
    assert typical(conn, "rare", StuckRules(min_samples=3)) is not None
    assert typical(conn, "weave", StuckRules(window=10)).samples == 20  # the 10 oldest and the 10 newest
    assert typical(conn, "weave", StuckRules(window=30)).samples == 40  # overlapping ends count once


def test_typical_sees_past_a_queue_of_pending_attempts(conn):
    """A big job still draining: the function's newest attempts are all pending; its oldest ran."""
    _insert(conn, *[_pending(f"9{i:047x}", {"CPU": 1}, NOW + i) for i in range(50)])
    conn.execute("UPDATE tasks SET name = 'weave' WHERE name = 'wait'")
    t = typical(conn, "weave", StuckRules(window=30))
    assert t is not None and t.samples == 30


def test_running_long_against_the_function_p95(conn):
    _insert(conn, _running("a" * 48, "weave", NOW - 843),  # 14m: far over max(3 x 4.7, 60)
            _running("b" * 48, "weave", NOW - 30),  # under MIN_RUNNING_S
            _running("c" * 48, "rare", NOW - 9000),  # too few samples: never flagged
            _running("d" * 48, "weave", NOW - 900, state="RUNNING_IN_RAY_GET"),
            _running("e" * 48, "weave", NOW - 900, paused=1))  # paused in the debugger
    found = stuck_tasks(conn, StuckRules(), NOW)
    assert _kinds(found) == {"d" * 48: "running_long", "a" * 48: "running_long"}
    assert [t.task_id for t in found] == ["d" * 48, "a" * 48]  # longest first
    a = found[1].stuck
    assert a.reason == "RUNNING 14m 3s; weave usually takes 4.7 s (p95 of 40 runs)"
    assert (a.since, a.samples, a.threshold_s) == (NOW - 843, 40, 60.0)
    # a lower floor flags the 30 s one too (the API's min_running_s)
    assert "b" * 48 in _kinds(stuck_tasks(conn, StuckRules(min_running_s=5), NOW))


def test_infeasible_and_pending_long(conn):
    _insert(conn, _pending("1" * 48, {"GPU": 2}, NOW - 5),  # GPU 2: no node has two
            _pending("2" * 48, {"CPU": 64}, NOW - 50),  # only the DEAD node had 64
            _pending("3" * 48, {"CPU": 8, "GPU": 1}, NOW - 20),  # no single node has both
            _pending("4" * 48, {"CPU": 2}, NOW - 700),  # feasible, waiting > 10 min
            _pending("5" * 48, {"CPU": 2}, NOW - 100),  # feasible, waiting a little
            _pending("6" * 48, {"CPU_group_abc": 1}, NOW - 30))  # a placement group not placed yet
    found = stuck_tasks(conn, StuckRules(), NOW)
    assert _kinds(found) == {"4" * 48: "pending_long", "2" * 48: "infeasible", "3" * 48: "infeasible",
                             "1" * 48: "infeasible"}
    assert [t.task_id for t in found] == ["4" * 48, "2" * 48, "3" * 48, "1" * 48]
    assert found[3].stuck.reason == ("PENDING_NODE_ASSIGNMENT 5.0 s; needs {GPU: 2}, which no alive node has "
                                     "(2 alive)")
    assert [t.task_id for t in stuck_tasks(conn, StuckRules(), NOW, kind="pending_long")] == ["4" * 48]
    # no alive node known (not reported yet): nothing is infeasible
    conn.execute("UPDATE nodes SET state = 'DEAD'")
    assert _kinds(stuck_tasks(conn, StuckRules(), NOW)) == {"4" * 48: "pending_long"}


def test_last_stack_dump_and_annotate(conn):
    _insert(conn, _running("a" * 48, "weave", NOW - 843), _running("b" * 48, "weave", NOW - 1))
    conn.execute("INSERT INTO stack_dumps (dump_id, taken_at, task_id, attempt, node_id, pid, method, body) VALUES "
                 "('old', ?, ?, 0, 'n', 1, 'py-spy', x''), ('new', ?, ?, 0, 'n', 1, 'py-spy', x''), "
                 "('other', ?, ?, 1, 'n', 1, 'py-spy', x'')",
                 (NOW - 100, "a" * 48, NOW - 10, "a" * 48, NOW, "a" * 48))
    tasks = [rows.task(r) for r in conn.execute("SELECT * FROM tasks WHERE state_rank = 3 ORDER BY task_id")]
    annotate(conn, tasks, StuckRules(), NOW)
    assert tasks[0].stuck is not None and tasks[0].stuck.last_stack_dump_id == "new"
    assert tasks[1].stuck is None


def test_stuck_page_cursor_walks_every_row_once(conn):
    _insert(conn, *[_pending(f"{i:048x}", {"GPU": 5}, NOW - i) for i in range(7)])
    seen, cursor = [], None
    while True:
        page = stuck_page(conn, StuckRules(), NOW, 3, cursor)
        seen += [t.task_id for t in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"{i:048x}" for i in reversed(range(7))]


def test_stuck_queries_seek_instead_of_scanning(conn):
    rules = StuckRules()
    statements: list[str] = []
    _insert(conn, _running("a" * 48, "weave", NOW - 843), _pending("1" * 48, {"GPU": 2}, NOW - 5))
    conn.set_trace_callback(statements.append)
    try:
        stuck_tasks(conn, rules, NOW, job_id=JOB)
        stuck_tasks(conn, rules, NOW)
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if "FROM tasks" in s]
    assert len(selects) >= 5, selects
    for sql in selects:
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        scans = [p for p in plan if p.startswith("SCAN tasks") and "INDEX" not in p]
        assert not scans, f"{sql}\n-> {plan}"
        assert not any("TEMP B-TREE" in p for p in plan), f"{sql}\n-> {plan}"


# ---------------------------------------------------------------- on the real cluster

WORKLOAD = Path(__file__).parent / "workloads" / "stuck_tasks_workload.py"
# Thresholds the API takes per request, so the test waits seconds, not MIN_RUNNING_S
FAST = {"min_running_s": 2, "min_samples": 5}


def test_cluster_flags_infeasible_and_running_long(rayscope_cluster, browser):
    driver = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address],
                              env=rayscope_cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        line = read_line(driver.stdout, 120, "the STUCK line")
        assert line.startswith("STUCK "), f"{line!r}\n{driver.stderr.read() if driver.poll() is not None else ''}"
        ids = json.loads(line[len("STUCK "):])
        with httpx.Client(base_url=rayscope_cluster.http_url + "/api/v1", timeout=30,
                          headers={"Authorization": f"Bearer {rayscope_cluster.token}"}) as api:
            def flagged() -> dict | None:
                r = api.get("/tasks/stuck", params={"filter": f"job_id={ids['job_id']}", **FAST})
                assert r.status_code == 200, r.text
                got = {t["task_id"]: t["stuck"] for t in r.json()["rows"]}
                return got if ids["running"] in got and ids["infeasible"] in got else None

            got = wait_for("both stuck tasks flagged by /tasks/stuck", flagged, timeout=90)
            assert got[ids["infeasible"]]["kind"] == "infeasible"
            assert "unobtainium: 1" in got[ids["infeasible"]]["reason"]
            running = got[ids["running"]]
            assert running["kind"] == "running_long"
            # the quick runs' p95 (cold workers start slower than the 10 ms the function sleeps)
            assert running["samples"] >= 5 and running["typical_s"] < 30
            assert running["threshold_s"] == max(3 * running["typical_s"], FAST["min_running_s"])
            assert "weave_the_pattern usually takes" in running["reason"]
            # the default rules on the ordinary listing: the infeasible one is flagged at once
            rows = api.get("/tasks", params={"filter": f"task_id={ids['infeasible']}"}).json()["rows"]
            assert rows and rows[0]["stuck"]["kind"] == "infeasible"
            only = api.get("/tasks/stuck", params={"filter": [f"job_id={ids['job_id']}", "kind=infeasible"]})
            assert [t["task_id"] for t in only.json()["rows"]] == [ids["infeasible"]]
            for bad in ({"limit": 0}, {"filter": "kind=bogus"}, {"filter": "state=RUNNING"}, {"sort": "name"},
                        {"factor": 0}):
                r = api.get("/tasks/stuck", params=bad)
                assert r.status_code == 400 and "\n" not in r.json()["error"], (bad, r.text)
            # the stuck running task's stack, taken by the head, then carried by the task
            r = api.post("/profiling/stuck-stacks", params={"job_id": ids["job_id"], **FAST})
            assert r.status_code == 200, r.text
            dumps = {d["target"]["task_id"]: d for d in r.json()["dumps"]}
            assert set(dumps) == {ids["running"]} and not r.json()["failures"], r.json()
            dump = api.get(f"/profiling/stacks/{dumps[ids['running']]['dump_id']}").json()
            assert "weave_the_pattern" in {f["function"] for t in dump["threads"] for f in t["frames"]}
            again = {t["task_id"]: t["stuck"] for t in api.get("/tasks/stuck", params={"filter": f"job_id={ids['job_id']}",
                                                                                         **FAST}).json()["rows"]}
            assert again[ids["running"]]["last_stack_dump_id"] == dump["dump_id"]
            last_dump = dump["dump_id"]
        out = rayscope_cluster.cli("list", "stuck-tasks", "--json")
        assert out.returncode == 0, out.stderr
        assert ids["infeasible"] in {t["task_id"] for t in json.loads(out.stdout)}
        out = rayscope_cluster.cli("get", "task", ids["infeasible"])
        assert out.returncode == 0, out.stderr
        assert "infeasible: PENDING_NODE_ASSIGNMENT" in out.stdout, out.stdout
        _ui_shows_the_infeasible_task(browser, rayscope_cluster, ids)
        _ui_links_the_last_stack(browser, rayscope_cluster, ids, last_dump)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver's death ends its job: Ray kills its workers
        wait_or_kill(driver, 30)


def _ui_links_the_last_stack(browser, cluster, ids: dict, dump_id: str) -> None:
    """The dump a stuck task carries opens on its stack page (where the task banner's "last stack" links)."""
    tab = browser.tab(f"{cluster.http_url}/#token={cluster.token}")
    tab.open(f"/stacks/{dump_id}", "page-stack")
    tab.page.locator("[data-testid=frame]", has_text="weave_the_pattern").first.wait_for()
    assert not tab.take_errors()


def _ui_shows_the_infeasible_task(browser, cluster, ids: dict) -> None:
    """The Tasks page's Stuck toggle lists it with a badge whose tooltip is the reason; its task page
    has the banner (the default rules: an infeasible task is flagged at once)."""
    tab = browser.tab(f"{cluster.http_url}/#token={cluster.token}")
    tab.open(f"/tasks?job={ids['job_id']}", "page-tasks")
    tab.page.locator("[data-testid=stuck-toggle]").check()
    badge = tab.page.locator(f"[data-task-id='{ids['infeasible']}'] [data-testid=stuck-badge]")
    badge.wait_for()
    assert badge.get_attribute("data-kind") == "infeasible"
    assert "unobtainium: 1" in (badge.get_attribute("title") or "")
    tab.page.locator("[data-testid=stuck-note]").wait_for()
    tab.shot("stuck_tasks_list")
    tab.open(f"/tasks/{ids['infeasible']}", "page-task")
    banner = tab.page.locator("[data-testid=stuck-banner]")
    banner.wait_for()
    assert "which no alive node has" in banner.inner_text()
    tab.shot("stuck_task_banner")
    assert not tab.take_errors()
