"""History mode in the browser: run a workload on a real 2-node cluster, stop the cluster, serve
its database with `rayscope dashboard --db FILE`, and check the same pages show the finished run
(with the history banner). Screenshots go to test-artifacts/screenshots/history_*.png.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.local_cluster import local_cluster

WORKLOAD = Path(__file__).parent / "workloads" / "basic_workload.py"


def _wait_ingested(url: str, token: str, truth: dict, timeout: float = 60) -> None:
    """The head has the failure and the last actor call before we stop the cluster."""
    headers = {"Authorization": f"Bearer {token}"}
    want = [truth["failed_task_id"], truth["actor_calls"][-1]["task_id"]]

    def states() -> list[Optional[str]]:
        out = []
        for tid in want:
            r = httpx.get(f"{url}/api/v1/tasks/{tid}", headers=headers, timeout=10)
            out.append(r.json()[-1]["state"] if r.status_code == 200 else None)
        return out

    wait_for("the failed task and the last actor call at the head", lambda: states() == ["FAILED", "FINISHED"],
             timeout, every=0.5, context=lambda: f"states: {states()}")


@pytest.fixture(scope="module")
def history() -> Iterator[tuple[str, dict, subprocess.Popen]]:
    """(the `web UI: URL/#token=…` link it printed, workload truth, its process) of `rayscope dashboard --db` over a stopped cluster."""
    with local_cluster() as c:
        res = subprocess.run([sys.executable, str(WORKLOAD), c.gcs_address], env=c.env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        truth = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("TRUTH "))[6:])
        _wait_ingested(c.http_url, c.token, truth)
        stop = c.cli("stop", timeout=180)
        assert stop.returncode == 0, stop.stderr
        db = c.state.nodes[0].head_service.db_path  # left in place by `stop`
        proc = subprocess.Popen([sys.executable, "-m", "rayscope.cli.main", "dashboard", "--db", db],
                                env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            ui = ""
            for _ in range(5):
                line = read_line(proc.stdout, 120, "the dashboard's 'web UI:' line")
                if line.startswith("web UI: "):
                    ui = line.split(" ", 2)[2].strip()
                    break
            assert ui, proc.stderr.read() if proc.poll() is not None else "no 'web UI:' line"
            yield ui, truth, proc
        finally:
            proc.send_signal(signal.SIGTERM)
            wait_or_kill(proc, 20)


@pytest.fixture(scope="module")
def tab(history) -> Iterator[Tab]:
    browser = Browser()
    try:
        yield browser.tab(history[0])
    finally:
        browser.close()


def test_history_pages_show_the_finished_run(history, tab: Tab) -> None:
    _, truth, _ = history
    job, failed, run = truth["job_id"], truth["failed_task_id"], truth["run"]
    tab.take_errors()
    tab.open("/", "page-overview")
    expect(tab.page.get_by_test_id("banner")).to_contain_text("History mode")
    expect(tab.page.get_by_test_id("recent-failures")).to_contain_text("explode")
    tab.page.wait_for_selector("[data-testid=chart-cpu] canvas")
    tab.shot("history_overview")
    tab.open("/nodes", "page-nodes")
    for node in truth["nodes"]:
        expect(tab.page.get_by_test_id("nodes-table")).to_contain_text(node[:12])
    tab.shot("history_nodes")
    tab.open(f"/tasks?job={job}", "page-tasks")
    expect(tab.page.get_by_test_id("task-summary")).to_contain_text("square")
    expect(tab.page.locator(f".vt-row[data-task-id='{failed}']")).to_have_attribute("data-state", "FAILED")
    tab.shot("history_tasks")
    tab.open(f"/tasks/{failed}", "page-task")
    expect(tab.page.get_by_test_id("task-error")).to_contain_text(f"boom-{run}")
    tab.open(f"/actors/{truth['actor_id']}", "page-actor")
    for call in truth["actor_calls"]:
        expect(tab.page.get_by_test_id("actor-calls").locator(f".vt-row[data-task-id='{call['task_id']}']")).to_have_count(1)
    tab.open(f"/timeline?job={job}", "page-timeline")
    expect(tab.page.locator(".legend")).to_contain_text("square")
    tab.shot("history_timeline")
    tab.open(f"/logs?mode=search&q=marker-{run}-actor-3", "page-logs")
    expect(tab.page.get_by_test_id("search-hits").locator(".logline.match")).to_have_count(1)
    tab.shot("history_logs")
    expect(tab.page.locator(".side .live")).to_have_text(re.compile("history"))
    assert tab.take_errors() == []


def test_banner_says_when_the_head_is_unreachable(history, tab: Tab) -> None:
    proc = history[2]
    tab.open("/tasks", "page-tasks")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    expect(tab.page.get_by_test_id("banner")).to_contain_text("unreachable", timeout=15_000)
    tab.shot("history_head_gone")
