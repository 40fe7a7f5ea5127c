"""The web UI at 1,000 nodes (issue 15): the overview and the nodes page chart distributions across
nodes (a heatmap under min/p50/p90/max lines, 4 lines per chart, not one per node), their node counts
are the simulated cluster's, the nodes table is paged and its busy filter and a heatmap cell both find
the node the simulator runs hot. Real Chromium, a real head fed over the real gRPC stream by
bench/sim_agents.py's SimulatedCluster. Page timings are printed (indicative: a shared machine).
"""
from __future__ import annotations

import json
import random
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from head_process import HeadProcess, running_head
from polling import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from sim_agents import SimulatedCluster  # noqa: E402

NODES = 1000
HOT = 7  # the simulated node run hot: 98..100 % CPU; every other node stays under 81 %
WORKERS = 3  # processes per simulated node: the pages under test do not show them
TABLE_PAGE = 100  # the nodes table's page (frontend/src/pages/nodes.tsx)


def _cpu(node: int, rng: random.Random) -> float:
    """Node `node`'s CPU at a tick: its own level (5..70 %) ±15 %, or 98..100 % for HOT."""
    if node == HOT:
        return 98.0 + 2.0 * rng.random()
    return random.Random(node).uniform(5, 70) * (0.85 + 0.3 * rng.random())


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[HeadProcess, SimulatedCluster]]:
    with running_head() as head:
        with SimulatedCluster(head.grpc_address, head.token, nodes=NODES, workers_per_node=WORKERS,
                              tasks_per_s_per_node=0.02, log_lines_per_s_per_node=0.1, reconnect_every_s=0,
                              cpu=_cpu) as cluster:
            cluster.wait_connected(timeout=120)
            yield head, cluster


@pytest.fixture(scope="module")
def tab(sim, browser: Browser) -> Iterator[Tab]:
    head, _ = sim
    t = browser.tab(f"{head.http_url}/#token={head.token}")
    t.take_errors()
    yield t
    assert t.take_errors() == []


def _timed_open(tab: Tab, path: str, page: str, ready: str) -> float:
    """Seconds from navigation until `ready` (a selector) is on screen."""
    t0 = time.monotonic()
    tab.open(path, page)
    tab.page.wait_for_selector(ready, timeout=60_000)
    return time.monotonic() - t0


def _newest_complete_column(tab: Tab, testid: str, want: int) -> dict:
    """The chart's newest complete step (its data attributes), once it counts `want` nodes."""
    chart = tab.page.get_by_test_id(testid)

    def read() -> dict | None:
        a = chart.evaluate("e => ({...e.dataset})")
        return a if a.get("lastNodes") and int(a["lastNodes"]) == want else None

    return wait_for(f"{testid}'s newest complete step to count {want} nodes", read, timeout=90,
                    context=lambda: str(chart.evaluate("e => ({...e.dataset})")))


def test_overview_charts_distributions_that_count_every_simulated_node(sim, tab: Tab) -> None:
    _, cluster = sim
    asked: list[str] = []
    tab.page.on("request", lambda r: asked.append(r.url))
    took = _timed_open(tab, "/", "page-overview", "[data-testid=dist-cpu-chart] canvas")
    print(f"\noverview with {NODES} nodes: CPU heatmap on screen {took:.2f}s after navigation")
    expect(tab.page.get_by_test_id("nodes-alive")).to_have_text(str(NODES), timeout=30_000)
    # distributions, not a line per node: no per-node chart, and 4 lines (min/p50/p90/max) per chart
    expect(tab.page.get_by_test_id("chart-cpu")).to_have_count(0)
    legend = tab.page.locator("[data-testid=dist-cpu-chart] .u-legend .u-series")
    expect(legend).to_have_count(5)  # the time axis + 4
    for testid in ("dist-cpu", "dist-mem", "dist-store"):
        col = _newest_complete_column(tab, testid, len(cluster.node_ids()))
        assert sum(json.loads(col["lastCounts"])) == len(cluster.node_ids()), (testid, col)
    # the browser pulled neither every node's series nor every node
    api = [urllib.parse.urlsplit(u) for u in asked if "/api/v1/" in u]
    assert not [u for u in api if u.path == "/api/v1/metrics/nodes" and "node_id=" not in u.query], api
    assert not [u for u in api if u.path == "/api/v1/nodes"], api
    tab.shot("overview_1000")


def test_nodes_page_pages_the_table_and_finds_the_hot_node(sim, tab: Tab) -> None:
    _, cluster = sim
    ids = cluster.node_ids()
    hot = ids[HOT]
    took = _timed_open(tab, "/nodes", "page-nodes", "[data-testid=dist-cpu-chart] canvas")
    tab.page.wait_for_selector("[data-testid=nodes-table] tbody tr")
    print(f"\nnodes page with {NODES} nodes: table and CPU heatmap on screen {took:.2f}s after navigation")
    expect(tab.page.get_by_test_id("nodes-count")).to_have_text(f"{len(ids):,} alive of {len(ids):,}")
    rows = tab.page.locator("[data-testid=nodes-table] tbody tr")
    expect(rows).to_have_count(TABLE_PAGE)
    expect(tab.page.get_by_test_id("more-rows")).to_contain_text(f"Showing the first {TABLE_PAGE} nodes")
    # one click: nodes busier than 90 %, busiest first
    tab.page.locator("select[name=hot]").select_option("cpu")
    tab.page.locator("select[name=sort]").select_option("-cpu_percent")
    expect(rows).to_have_count(1, timeout=20_000)  # the one node the simulator runs hot
    expect(rows.first).to_contain_text(hot[:12])
    # and from the heatmap: the top bucket of the newest complete step lists it
    col = _newest_complete_column(tab, "dist-cpu", len(ids))
    _click_cell(tab, "dist-cpu", float(col["lastTs"]) + float(col["step"]) / 2, 97.5)
    cell = tab.page.get_by_test_id("distribution-cell")
    expect(cell).to_contain_text(hot[:12])
    expect(cell).to_contain_text("95–100%")
    tab.shot("nodes_1000")


def _click_cell(tab: Tab, testid: str, x_value: float, y_percent: float) -> None:
    """Click the heatmap where time `x_value` and `y_percent` are (the x scale spans the chart's data,
    data-x-min..data-x-max; the y scale is 0..100 %)."""
    chart = tab.page.get_by_test_id(f"{testid}-chart")
    x_min, x_max = (float(chart.get_attribute(a) or 0) for a in ("data-x-min", "data-x-max"))
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box and x_max > x_min
    x = (x_value - x_min) / (x_max - x_min) * box["width"]
    y = (1 - y_percent / 100) * box["height"]
    over.click(position={"x": min(box["width"] - 1, max(1, x)), "y": y})
