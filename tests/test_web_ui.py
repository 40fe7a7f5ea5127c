"""The web UI in real Chromium against the shared real 2-node cluster running real workloads.

Every page must load without console errors and show the workload's own tasks, actors, nodes,
logs and failure; filters, search, pagination and links must work; a task that finishes while
its page is open must change state on screen without a reload. Screenshots of every page go to
test-artifacts/screenshots/.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from polling import read_line, wait_for, wait_or_kill

WORKLOADS = Path(__file__).parent / "workloads"
N_TINY = 450  # more than two pages of the tasks table (200 rows a page)


@pytest.fixture(scope="module")
def truth(rayscope_cluster) -> dict:
    res = subprocess.run([sys.executable, str(WORKLOADS / "basic_workload.py"), rayscope_cluster.gcs_address],
                         env=rayscope_cluster.env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("TRUTH "))[6:])


@pytest.fixture(scope="module")
def held(rayscope_cluster) -> Iterator[tuple[str, Path]]:
    """A driver with N_TINY finished tasks and one task running until `release` exists."""
    release = Path(tempfile.mkdtemp(prefix="rs-ui-")) / "release"
    proc = subprocess.Popen([sys.executable, str(WORKLOADS / "held_workload.py"), rayscope_cluster.gcs_address,
                             str(N_TINY), str(release)], env=rayscope_cluster.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stdout, 120, "the held workload's HELD line")
        assert line.startswith("HELD "), (line, proc.stderr.read() if proc.poll() is not None else "")
        yield line.split()[1], release
    finally:
        release.touch()
        wait_or_kill(proc, 60)


@pytest.fixture(scope="module")
def tab(rayscope_cluster, truth, held, browser: Browser) -> Tab:
    status = rayscope_cluster.cli("status")
    link = next(ln.split()[-1] for ln in status.stdout.splitlines() if ln.strip().startswith("web UI"))
    assert link == f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}", status.stdout
    return browser.tab(link)


@pytest.fixture(autouse=True)
def no_console_errors(tab: Tab) -> Iterator[None]:
    tab.take_errors()
    yield
    assert tab.take_errors() == []


def test_overview_nodes_and_jobs_show_the_cluster(rayscope_cluster, truth, tab: Tab) -> None:
    c, job = rayscope_cluster, truth["job_id"]
    tab.open("/", "page-overview")
    expect(tab.page.get_by_test_id("nodes-alive")).to_have_text("2")
    expect(tab.page.get_by_test_id("recent-failures")).to_contain_text("explode")
    expect(tab.page.get_by_test_id("job-progress").filter(has_text=f"Job {job}")).to_contain_text("failed")
    tab.page.wait_for_selector("[data-testid=chart-cpu] canvas")
    tab.shot("overview")
    tab.open("/nodes", "page-nodes")
    for node in (c.head_node_id, c.worker_node_id):
        expect(tab.page.get_by_test_id("nodes-table")).to_contain_text(node[:12])
    tab.shot("nodes")
    # the node's row in the table (the Dropped card links nodes too, when they reported a drop)
    tab.page.get_by_test_id("nodes-table").get_by_role("link", name=c.worker_node_id[:12]).click()
    expect(tab.page).to_have_url(f"{c.http_url}/nodes/{c.worker_node_id}")
    expect(tab.page.get_by_test_id("process-table")).to_contain_text("raylet")
    tab.shot("node")
    tab.open("/jobs", "page-jobs")
    tab.page.get_by_test_id("jobs-table").get_by_role("link", name=job, exact=True).click()
    expect(tab.page.get_by_test_id("page-job")).to_contain_text("basic_workload.py")
    expect(tab.page.get_by_test_id("task-table")).to_contain_text("explode")
    tab.shot("job")


def test_live_overview_chart_adds_every_new_sample(rayscope_cluster, tab: Tab) -> None:
    """The live CPU chart fetches only what is new and draws every per-second sample of every node:
    the points it gains over a few seconds are the samples the head stored in that time (read with
    plain SQL from its database)."""
    tab.open("/", "page-overview")
    cpu = tab.page.get_by_test_id("chart-cpu")

    def state() -> list[float]:
        return cpu.evaluate("e => [Number(e.dataset.xMax || 0), Number(e.dataset.points || 0)]")

    first = wait_for("the CPU chart's first points", lambda: (r := state())[1] > 0 and r, timeout=30)
    later = wait_for("the chart to take 6 more seconds of samples", lambda: (r := state())[0] >= first[0] + 6 and r,
                     timeout=60)
    db = rayscope_cluster.state.nodes[0].head_service.db_path
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        stored = conn.execute("SELECT count(*) FROM node_samples WHERE ts > ? AND ts <= ?", (first[0], later[0])).fetchone()[0]
    assert stored >= 10  # two nodes, 6 s at 1 Hz
    gained = later[1] - first[1]
    # Nodes ship on their own clocks: a node's sample a little older than the other's newest can reach
    # the head (and the page) after the page asked, on either side of the window.
    assert abs(gained - stored) <= 4, (gained, stored)


def test_tasks_page_filters_summary_and_links(rayscope_cluster, truth, tab: Tab) -> None:
    job, failed = truth["job_id"], truth["failed_task_id"]
    tab.open(f"/tasks?job={job}", "page-tasks")
    summary = tab.page.get_by_test_id("task-summary")
    for name in ("square", "explode", "Counter.incr", "child", "parent"):
        expect(summary).to_contain_text(name)
    expect(tab.page.locator(f".vt-row[data-task-id='{failed}']")).to_have_attribute("data-state", "FAILED")
    tab.shot("tasks")
    tab.page.locator("select[name=state]").select_option("FAILED")
    expect(tab.page).to_have_url(f"{rayscope_cluster.http_url}/tasks?job={job}&state=FAILED")
    expect(tab.page.locator(".vt-row[data-task-id]")).to_have_count(1)
    tab.page.locator("select[name=state]").select_option("")
    summary.locator("button[data-name=square]").click()
    expect(tab.page.locator(".vt-row[data-task-id]")).to_have_count(len(truth["squares"]))
    assert "name=square" in tab.page.url
    tab.open(f"/tasks?job={job}&state=FAILED", "page-tasks")  # the URL alone restores the filter
    tab.page.locator(f".vt-row[data-task-id='{failed}'] a").first.click()
    expect(tab.page.get_by_test_id("task-error")).to_contain_text(f"boom-{truth['run']}")
    tab.shot("task_failed")
    parent = truth["parent"]["task_id"]
    tab.open(f"/tasks/{parent}?tab=children", "page-task")
    kids = tab.page.get_by_test_id("children-table")
    for kid in truth["parent"]["children"]:
        expect(kids.locator(f".vt-row[data-task-id='{kid['task_id']}']")).to_have_count(1)
    tab.page.locator(f".vt-row[data-task-id='{truth['parent']['children'][0]['task_id']}'] a").first.click()
    expect(tab.page.get_by_test_id("page-task")).to_contain_text(parent)  # the child links back to its parent
    tab.shot("task_child")


def test_tasks_table_pages_through_the_server(held, tab: Tab) -> None:
    tab.open("/tasks?name=tiny", "page-tasks")
    count = tab.page.get_by_test_id("task-count")
    expect(count).to_have_text(f"200+ loaded of {N_TINY}", timeout=60_000)
    body = tab.page.locator(".vt-body")
    for _ in range(20):
        if count.inner_text() == f"{N_TINY} loaded of {N_TINY}":
            break
        body.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        tab.page.wait_for_timeout(300)
    expect(count).to_have_text(f"{N_TINY} loaded of {N_TINY}")
    assert tab.page.locator(".vt-row[data-task-id]").count() < 100  # only the rows in view are in the DOM


def _failed_task_executed(cluster, task_id: str) -> dict | None:
    """The failed task's row once the head has both halves of it: FAILED (from its owner's events)
    and where and when it ran (from the executing node's events), the two a timeline bar needs."""
    r = httpx.get(f"{cluster.http_url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {cluster.token}"},
                  timeout=30)
    rows = r.json() if r.status_code == 200 else []
    done = [t for t in rows if t["state"] == "FAILED" and t["start_time"] and t["node_id"]]
    return done[0] if done else None


def test_timeline_actors_objects_and_debugger(rayscope_cluster, truth, tab: Tab) -> None:
    job = truth["job_id"]
    c = rayscope_cluster
    auth = {"Authorization": f"Bearer {c.token}"}
    wait_for("the failed task FAILED, with its start time and node, at the head",
             lambda: _failed_task_executed(c, truth["failed_task_id"]), 90,
             context=lambda: "row: {} health: {}".format(
                 httpx.get(f"{c.http_url}/api/v1/tasks/{truth['failed_task_id']}", headers=auth, timeout=30).text,
                 httpx.get(f"{c.http_url}/api/v1/ingest/health", headers=auth, timeout=30).text[:4000]))
    tab.open(f"/timeline?job={job}", "page-timeline")
    tab.page.wait_for_selector("[data-testid=timeline-canvas]")
    expect(tab.page.locator(".legend")).to_contain_text("square")
    tab.shot("timeline")
    with tab.page.expect_download() as dl:
        tab.page.get_by_test_id("export-trace").click()
    trace = json.loads(Path(dl.value.path()).read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {s["task_id"] for s in truth["squares"]} <= {e["args"]["task_id"] for e in spans}
    assert any(e["args"]["task_id"] == truth["failed_task_id"] and e["cat"] == "FAILED" for e in spans)
    tab.open("/actors", "page-actors")
    tab.page.get_by_role("link", name=truth["actor_id"][:12]).click()
    calls = tab.page.get_by_test_id("actor-calls")
    for call in truth["actor_calls"]:
        expect(calls.locator(f".vt-row[data-task-id='{call['task_id']}']")).to_have_count(1)
    expect(tab.page.get_by_test_id("page-actor")).to_contain_text("DEAD")  # the workload kills it
    tab.shot("actor")
    tab.open("/actors", "page-actors")
    tab.shot("actors")
    tab.open("/objects", "page-objects")
    tab.page.wait_for_selector("[data-testid=chart-store] canvas")
    tab.shot("objects")
    tab.open("/debugger", "page-debugger")
    # A head started by `rayscope start` runs the debugger service: the page must find it (the
    # "no debugger service" empty state would be a failure here, not another clean page).
    page = tab.page.get_by_test_id("page-debugger")
    expect(page).to_contain_text("Attach from a terminal with ray-debug attach SESSION")
    expect(page).not_to_contain_text("no debugger service")
    tab.shot("debugger")


def test_log_search_jumps_to_the_task_and_the_file(truth, tab: Tab) -> None:
    marker = f"marker-{truth['run']}-square-2"  # unique: the values are 0-2 and 10-12
    tab.open("/logs?mode=search", "page-logs")
    tab.page.locator("input[name=q]").fill(marker)
    tab.page.locator("input[name=q]").press("Enter")
    hits = tab.page.get_by_test_id("search-hits")
    expect(hits.locator(".logline.match")).to_have_count(1)
    expect(hits).to_contain_text(marker)
    tab.shot("logs_search")
    hits.locator(".logline.match .src a[title=task]").click()
    expect(tab.page.get_by_test_id("page-task")).to_contain_text("square")
    expect(tab.page.get_by_test_id("log-lines")).to_contain_text(marker)
    tab.page.go_back()
    tab.page.get_by_test_id("search-hits").locator(".logline.match .src a").nth(1).click()  # the file
    expect(tab.page.get_by_test_id("log-tail")).to_contain_text(marker)
    expect(tab.page.get_by_test_id("file-tree")).to_be_visible()
    tab.shot("logs")


def test_without_a_token_the_page_asks_for_it(rayscope_cluster, browser: Browser) -> None:
    blank = browser.blank(rayscope_cluster.http_url)
    blank.page.goto(rayscope_cluster.http_url + "/tasks?state=FAILED")  # a shared link, no token yet
    blank.page.locator("input[name=token]").fill("wrong-token")
    blank.page.locator("button[type=submit]").click()
    expect(blank.page.locator(".login")).to_contain_text("not accepted")
    blank.take_errors()  # the rejected /cluster call is a 401 in the console, by design
    blank.page.locator("input[name=token]").fill(rayscope_cluster.token)
    blank.page.locator("button[type=submit]").click()
    expect(blank.page.get_by_test_id("page-tasks")).to_be_visible()  # lands on the linked page
    assert blank.page.url.endswith("/tasks?state=FAILED")
    assert blank.take_errors() == []
    blank.page.context.close()


def test_a_task_finishing_while_open_changes_state_without_reload(held, tab: Tab) -> None:
    task_id, release = held
    tab.open("/tasks?name=held_task", "page-tasks")
    row = tab.page.locator(f".vt-row[data-task-id='{task_id}']")
    expect(row).to_have_attribute("data-state", "RUNNING", timeout=60_000)
    tab.page.evaluate("window.__noReload = true")
    release.touch()
    expect(row).to_have_attribute("data-state", "FINISHED", timeout=30_000)
    # the per-function summary follows too; the held task's function ranks past the 50 busiest (the
    # workload's crowd), and the page shows it because the name filter asks for it
    expect(tab.page.get_by_test_id("task-summary")).to_contain_text("more functions")
    held_row = tab.page.get_by_test_id("task-summary").locator("button[data-name=held_task]")
    expect(held_row).to_contain_text("1 finished")
    assert tab.page.evaluate("window.__noReload === true")
    tab.shot("tasks_live")
    tab.open("/logs?mode=search&q=held+task+waiting&ctx=0", "page-logs")
    hit = tab.page.get_by_test_id("search-hits").locator(".logline.match")
    expect(hit.locator(".structured .msg")).to_have_text("held task waiting")  # its JSON line, as fields
    expect(hit.locator(".structured")).to_contain_text(f"release={release}")
