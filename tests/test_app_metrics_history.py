"""Application metrics kept in history (issue 13): the workload of test_app_metrics_e2e.py records its
metrics on a real 2-node cluster; once the head has them the cluster is stopped, its database is
served by `rayscope dashboard --db FILE`, and the API, `rayscope metrics list --json` and the Metrics
page still show the same numbers.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Iterator

import httpx
import pytest

from browser import Browser
from history_dashboard import history_dashboard
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.local_cluster import local_cluster
from test_app_metrics_e2e import NAMES, WORKLOAD, _expected, _ray_histogram_sums, _shown


def _metrics(url: str, token: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/metrics/app", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="module")
def history() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(history head URL, token, the metrics as the live head last showed them, the cluster's env)."""
    with local_cluster() as c:
        proc = subprocess.Popen([sys.executable, str(WORKLOAD), c.gcs_address], env=c.env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            line = read_line(proc.stdout, 180, "the workload's TRUTH line")
            assert line.startswith("TRUTH "), line
            truth = json.loads(line[6:])
            want = _expected(truth, wait_for("withdraw_ms on Ray's endpoints", lambda: _ray_histogram_sums(truth),
                                             timeout=120))
            live = wait_for("the workload's metrics at the live head",
                            lambda: (lambda ms: ms if _shown(ms) == want else None)(_metrics(c.http_url, c.token)),
                            timeout=120, every=1.0)
            # two scrapes of each line at least, so the history has a line over time to chart
            wait_for("two scrapes of the counter at the live head", lambda: all(
                len(ln["points"]) >= 2 for ln in httpx.get(
                    f"{c.http_url}/api/v1/metrics/app/ray_failed_withdrawals", params={"group_by": "bank"},
                    headers={"Authorization": f"Bearer {c.token}"}, timeout=30).json()), timeout=60, every=1.0)
            proc.stdin.close()
            wait_or_kill(proc, 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        head = c.state.nodes[0].head_service
        assert head is not None
        stop = c.cli("stop", timeout=180)
        assert stop.returncode == 0, stop.stderr
        with history_dashboard(head.db_path, c.env) as (ui, _):
            url, token = ui.split("/#token=", 1)
            yield url, token, {"metrics": live, "want": want}, c.env


def test_history_api_and_cli_show_the_recorded_values(history) -> None:
    url, token, live, env = history
    shown = _metrics(url, token)
    assert _shown(shown) == live["want"]
    assert {m["name"] for m in shown} == NAMES
    res = subprocess.run([sys.executable, "-m", "rayscope.cli.main", "metrics", "list", "--json", "--address", url,
                          "--token", token], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert _shown(json.loads(res.stdout)) == live["want"]


def test_history_metrics_page_charts_the_run(history) -> None:
    url, token, _live, _env = history
    browser = Browser()
    try:
        tab = browser.tab(f"{url}/#token={token}")
        tab.open("/app-metrics?name=ray_failed_withdrawals&by=bank", "page-app-metrics")
        tab.page.locator("[data-testid=app-metrics-table]").get_by_text("ray_withdraw_ms").wait_for()
        chart = tab.page.locator("[data-testid=chart-app-metric]")
        wait_for("the run's line on the chart", lambda: int(chart.get_attribute("data-points") or "0") >= 4, timeout=30)
        tab.shot("history_app_metrics")
        assert tab.take_errors() == []
    finally:
        browser.close()
