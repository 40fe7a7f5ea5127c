"""Application metrics on a real 2-node cluster (issue 13): an actor records a Counter, a Gauge and
a Histogram with tags; the API, `rayscope metrics list --json` and the web UI's Metrics page show
exactly the numbers the workload recorded (its TRUTH line), summed over nodes.

Also checked against Ray's own endpoints, read here with plain HTTP from the addresses `ray.nodes()`
gives (the workload prints them): every family Ray serves besides the workload's three is Ray's
own, and none of them reaches the API.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from browser import Browser
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.local_cluster import LocalCluster

WORKLOAD = Path(__file__).parent / "workloads" / "app_metrics_workload.py"
NAMES = {"ray_failed_withdrawals", "ray_balance", "ray_withdraw_ms"}


@pytest.fixture(scope="module")
def truth(rayscope_cluster: LocalCluster) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address], env=rayscope_cluster.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = read_line(proc.stdout, 180, "the workload's TRUTH line")
        assert line.startswith("TRUTH "), line + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        yield json.loads(line[6:])
        proc.stdin.close()
        wait_or_kill(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _expected(truth: dict[str, Any], hist_sums: dict[str, float]) -> dict[str, dict[str, tuple]]:
    """name -> bank -> (value, count, sum) as the API must show them: the workload's numbers, and for
    a histogram's sum what Ray itself exports (see _ray_histogram_sums)."""
    return {
        "ray_failed_withdrawals": {b: (float(n), None, None) for b, n in truth["failed"].items()},
        "ray_balance": {b: (float(v), None, None) for b, v in truth["balance"].items()},
        "ray_withdraw_ms": {b: (None, float(truth["withdraw_count"][b]), hist_sums[b]) for b in truth["withdraw_count"]},
    }


def _ray_expositions(truth: dict[str, Any]) -> list[str]:
    """Every node's exposition, read from the addresses Ray's `ray.nodes()` gave the workload."""
    return [urllib.request.urlopen(f"http://{t}/metrics", timeout=10).read().decode() for t in truth["endpoints"]]


_SUM_LINE = re.compile(r'^ray_withdraw_ms_sum\{[^}]*bank="(\w+)"[^}]*\} (\S+)$', re.M)


def _ray_histogram_sums(truth: dict[str, Any]) -> dict[str, float]:
    """`withdraw_ms`'s sum per bank as Ray's endpoints serve it, summed over nodes. Not the sum of the
    observed values: Ray 2.60 records a histogram observation as its bucket's midpoint (5, 50, 500
    with bounds [10, 100] are exported as sum 260, not 555), so Ray's own figure is the oracle."""
    sums: dict[str, float] = {}
    for text in _ray_expositions(truth):
        for bank, value in _SUM_LINE.findall(text):
            sums[bank] = sums.get(bank, 0.0) + float(value)
    return sums


def _shown(metrics: list[dict[str, Any]]) -> dict[str, dict[str, tuple]]:
    return {m["name"]: {tuple(sorted(s["tags"].items()))[0][1] if s["tags"] else "": (s["value"], s["count"], s["sum"])
                        for s in m["series"]}
            for m in metrics if m["name"] in NAMES}


def _api(cluster: LocalCluster, path: str, **params: Any) -> Any:
    r = httpx.get(f"{cluster.http_url}/api/v1{path}", params=params,
                  headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def test_api_and_cli_show_exactly_what_the_actor_recorded(rayscope_cluster: LocalCluster,
                                                          truth: dict[str, Any]) -> None:
    hist_sums = wait_for("withdraw_ms on Ray's endpoints", lambda: _ray_histogram_sums(truth), timeout=120)
    want = _expected(truth, hist_sums)
    metrics = wait_for("the three application metrics with the workload's values",
                       lambda: (lambda ms: ms if _shown(ms) == want else None)(_api(rayscope_cluster, "/metrics/app")),
                       timeout=120, every=1.0, context=lambda: repr(_api(rayscope_cluster, "/metrics/app")))
    by_name = {m["name"]: m for m in metrics}
    assert {n: by_name[n]["type"] for n in NAMES} == {
        "ray_failed_withdrawals": "counter", "ray_balance": "gauge", "ray_withdraw_ms": "histogram"}
    assert all(by_name[n]["tag_keys"] == ["bank"] for n in NAMES)
    assert by_name["ray_failed_withdrawals"]["description"] == "Withdrawals refused."
    hist = by_name["ray_withdraw_ms"]["series"][0]
    assert hist["nodes"] == 1

    res = rayscope_cluster.cli("metrics", "list", "--json", "--address", rayscope_cluster.http_url, timeout=60)
    assert res.returncode == 0, res.stderr
    assert _shown(json.loads(res.stdout)) == want
    text = rayscope_cluster.cli("metrics", "list", "--address", rayscope_cluster.http_url, timeout=60)
    assert text.returncode == 0, text.stderr
    assert "ray_failed_withdrawals" in text.stdout and "bank=south" in text.stdout

    # over time, grouped by the tag: the newest point of each line is the counter's total
    lines = _api(rayscope_cluster, "/metrics/app/ray_failed_withdrawals", group_by="bank")
    assert {ln["group"]: ln["points"][-1]["value"] for ln in lines} == {
        b: float(n) for b, n in truth["failed"].items()}


def test_none_of_rays_own_families_is_taken_for_an_application_metric(rayscope_cluster: LocalCluster,
                                                                      truth: dict[str, Any]) -> None:
    from rayscope.runtime.ray_metric_names import is_application_metric

    families: set[str] = set()
    assert len(truth["endpoints"]) == 2
    for body in _ray_expositions(truth):
        families |= {ln.split()[2] for ln in body.splitlines() if ln.startswith("# TYPE ")}
    assert len(families) > 20  # Ray's own are there
    ours = NAMES | {"ray_shard_reads"}  # what this file's workloads define
    users = {f.removesuffix("_total") for f in families if is_application_metric(f)}
    assert users <= ours, sorted(users - ours)
    rays_own = {f.removesuffix("_total") for f in families} - ours
    listed = {m["name"] for m in _api(rayscope_cluster, "/metrics/app")}
    assert NAMES <= listed and not listed & rays_own, sorted(listed)


def test_series_past_the_bound_are_dropped_and_reported(rayscope_cluster: LocalCluster) -> None:
    """120 tag values of one counter on one node: 100 reach the head, the other 20 are a DropReport."""
    from rayscope.agent.collectors.app_metrics import MAX_SERIES_PER_METRIC, SERIES_REASON

    shards = MAX_SERIES_PER_METRIC + 20
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address, "many", str(shards)],
                            env=rayscope_cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert read_line(proc.stdout, 180, "the workload's TRUTH line").startswith("TRUTH ")

        def reported() -> dict[str, Any] | None:
            drops = _api(rayscope_cluster, "/ingest/health")["drops"]
            return next((d for d in drops if d["source"] == "app_metrics" and d["reason"] == SERIES_REASON), None)

        drop = wait_for("the bound's DropReport", reported, timeout=120, every=1.0)
        assert drop["count"] >= 20 and drop["count"] % 20 == 0  # 20 per scrape
        assert "ray_shard_reads: 20 series" in drop["last_detail"]
        metric = next(m for m in _api(rayscope_cluster, "/metrics/app") if m["name"] == "ray_shard_reads")
        assert metric["series_count"] == MAX_SERIES_PER_METRIC
        assert all(v["value"] == 1.0 for v in metric["series"])
        proc.stdin.close()
        wait_or_kill(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_metrics_page_lists_the_metric_and_charts_it(rayscope_cluster: LocalCluster, truth: dict[str, Any],
                                                     browser: Browser) -> None:
    wait_for("the counter at the head", lambda: "ray_failed_withdrawals" in
             {m["name"] for m in _api(rayscope_cluster, "/metrics/app")}, timeout=120, every=1.0)
    tab = browser.tab(f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}")
    tab.open("/app-metrics?name=ray_failed_withdrawals&by=bank", "page-app-metrics")
    table = tab.page.locator("[data-testid=app-metrics-table]")
    table.get_by_text("ray_failed_withdrawals").wait_for()
    row = table.locator("tr", has_text="ray_failed_withdrawals")
    assert "bank=north: 3" in row.inner_text() and "bank=south: 2" in row.inner_text()
    chart = tab.page.locator("[data-testid=chart-app-metric]")
    # two scrapes at least (every 10 s per agent): a line over time, not a lone point
    wait_for("a line over time on the chart", lambda: int(chart.get_attribute("data-points") or "0") >= 4
             and float(chart.get_attribute("data-x-min") or 0) < float(chart.get_attribute("data-x-max") or 0),
             timeout=60)
    assert tab.page.locator("[data-testid=chart-app-metric] canvas").count() == 1
    assert tab.page.get_by_text("north").first.is_visible()  # a line per tag value in the legend
    tab.shot("app_metrics")
    assert tab.take_errors() == []
