"""History mode in the browser: run a workload on a real 2-node cluster, stop the cluster, serve
its database with `rayscope dashboard --db FILE`, and check the same pages show the finished run
(with the history banner). Screenshots go to test-artifacts/screenshots/history_*.png.
"""
from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from history_dashboard import history_dashboard
from polling import wait_for
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


def _samples(db: str, node_id: str, since: float, until: float) -> list[float]:
    """The oracle for the charts: the node samples as stored, read with plain SQL."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("SELECT ts FROM node_samples WHERE node_id = ? AND ts >= ? AND ts <= ? "
                                           "ORDER BY ts", (node_id, since, until))]


# For each [r, g, b]: how many pixel columns of the canvas hold a pixel of about that colour.
_COLOUR_COLUMNS = """(canvas, colours) => {
  const ctx = canvas.getContext("2d");
  const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  return colours.map(([r, g, b]) => {
    let cols = 0;
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) {
        const i = 4 * (y * width + x);
        const near = Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40;
        if (near && data[i + 3] > 128) { cols++; break; }
      }
    }
    return cols;
  });
}"""


def _live_default_series(url: str, token: str, db: str) -> dict[str, tuple[int, int]]:
    """node -> (points the default /metrics/nodes query gave, samples stored in that range) on the live cluster,
    once each of its two nodes has stored 10 samples (a worker node's agent starts seconds after the head's)."""
    def enough() -> bool:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            counts = [n for (n,) in conn.execute("SELECT count(*) FROM node_samples GROUP BY node_id")]
        return len(counts) == 2 and min(counts) >= 10

    wait_for("10 samples stored from each node", enough, timeout=60)
    asked_at = time.time()
    r = httpx.get(f"{url}/api/v1/metrics/nodes", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {s["node_id"]: (len(s["points"]), len(_samples(db, s["node_id"], asked_at - 3600, s["points"][-1]["ts"])))
            for s in r.json() if s["points"]}


@pytest.fixture(scope="module")
def history() -> Iterator[tuple[str, dict, subprocess.Popen, str, dict]]:
    """(the `web UI: URL/#token=…` link it printed, workload truth, its process, the DB, the live cluster's
    default metrics query as node -> (points, samples stored)) of `rayscope dashboard --db` over a stopped cluster."""
    with local_cluster() as c:
        res = subprocess.run([sys.executable, str(WORKLOAD), c.gcs_address], env=c.env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        truth = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("TRUTH "))[6:])
        _wait_ingested(c.http_url, c.token, truth)
        db = c.state.nodes[0].head_service.db_path  # left in place by `stop`
        live_series = _live_default_series(c.http_url, c.token, db)
        stop = c.cli("stop", timeout=180)
        assert stop.returncode == 0, stop.stderr
        with history_dashboard(db, c.env) as (ui, proc):
            yield ui, truth, proc, db, live_series


@pytest.fixture(scope="module")
def tab(history) -> Iterator[Tab]:
    browser = Browser()
    try:
        yield browser.tab(history[0])
    finally:
        browser.close()


def test_live_default_metrics_query_has_every_per_second_sample(history) -> None:
    """A young cluster's default chart query returns the agent's 1 s samples, not 10 s averages."""
    live = history[4]
    assert len(live) == 2, live  # both nodes
    for node, (points, stored) in live.items():
        assert stored >= 10, (node, stored)  # enough samples that 10 s averages (the old default) would show fewer
        assert points >= stored - 1, (node, points, stored)


def test_history_overview_charts_span_the_whole_run(history, tab: Tab) -> None:
    """The finished cluster's charts draw every stored sample from its first to its last."""
    db = history[3]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        first, last, n = conn.execute("SELECT min(ts), max(ts), count(*) FROM node_samples").fetchone()
    assert last - first >= 10, (first, last)
    tab.open("/", "page-overview")
    cpu = tab.page.get_by_test_id("chart-cpu")
    expect(cpu).to_have_attribute("data-points", str(n), timeout=20_000)  # every sample of every node, drawn
    assert float(cpu.get_attribute("data-x-min")) == pytest.approx(first, abs=1e-3)
    assert float(cpu.get_attribute("data-x-max")) == pytest.approx(last, abs=1e-3)
    mem = tab.page.get_by_test_id("chart-mem")
    expect(mem).to_have_attribute("data-points", str(n))
    # Lines are drawn: shown alone (the others hidden through the legend, so no line covers another),
    # each node's line covers most of the pixel columns its samples span.
    canvas = cpu.locator("canvas")
    width = canvas.evaluate("c => c.width")
    legend = cpu.locator(".u-legend .u-series")  # the first row is the time axis
    colours = {0: [0x25, 0x63, 0xEB], 1: [0x16, 0xA3, 0x4A]}  # PALETTE[0], PALETTE[1] in chart.tsx
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        spans = dict(conn.execute("SELECT node_id, max(ts) - min(ts) FROM node_samples GROUP BY node_id").fetchall())
    assert legend.count() == 1 + len(spans)
    for k in range(len(spans)):
        label = legend.nth(1 + k).inner_text()
        node = next(n for n in spans if n[:6] in label)
        others = [1 + j for j in range(len(spans)) if j != k]
        for j in others:
            legend.nth(j).click()  # hide
        drawn = canvas.evaluate(_COLOUR_COLUMNS, [colours[k]])[0]
        for j in others:
            legend.nth(j).click()  # show again
        expected = width * spans[node] / (last - first)  # a little more than the plot's own width
        assert drawn >= 0.5 * expected, (label, drawn, expected)
    tab.shot("history_overview")


def test_history_workers_are_listed_and_none_alive(history, tab: Tab) -> None:
    """The finished run's workers are listed (its driver among them), and none claims to be alive."""
    link = history[0]
    base, token = link.split("/#token=")
    r = httpx.get(f"{base}/api/v1/workers", params={"limit": 10000}, headers={"Authorization": f"Bearer {token}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert any(w["worker_type"] == "DRIVER" and w["job_id"] == history[1]["job_id"] for w in rows), rows
    assert [w for w in rows if w["is_alive"]] == []
    ids = [w["worker_id"] for w in rows if w["worker_id"]]
    assert len(ids) == len(set(ids)), ids  # a dead worker's last process sample is not a second row
    tab.open("/workers", "page-workers")
    table = tab.page.get_by_test_id("workers-table")
    expect(table.locator("tbody tr")).to_have_count(len(rows))
    expect(table.locator(".ok-text")).to_have_count(0)  # no row reads "alive"
    tab.shot("history_workers")


def test_history_pages_show_the_finished_run(history, tab: Tab) -> None:
    _, truth, *_ = history
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
