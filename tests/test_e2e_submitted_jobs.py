"""Jobs submitted with `ray job submit` on a real 2-node cluster with Ray's dashboard (the job API
needs it; the shared `rayscope_cluster` runs without it, so this module starts its own): one that
succeeds and one that exits with code 3. Checked in Rayscope's API, `rayscope list jobs --json`, the
web UI's Jobs page (real Chromium), and again in history mode after the cluster stopped.

The oracle is Ray's own job API (`GET /api/jobs/` on Ray's dashboard, read here with plain HTTP):
submission id, status, entrypoint, message, driver exit code and the driver's job id.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from history_dashboard import history_dashboard
from polling import wait_for
from rayscope.runtime.local_cluster import LocalCluster, local_cluster

RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")

# The drivers: each runs a task (so the driver job has tasks to join) and prints a marker.
OK_DRIVER = """
import ray
ray.init()
@ray.remote
def submitted_square(x):
    return x * x
print("ok-result", ray.get(submitted_square.remote(7)))
"""
FAIL_DRIVER = """
import sys, ray
ray.init()
@ray.remote
def submitted_before_failure():
    return 1
ray.get(submitted_before_failure.remote())
print("about to exit 3")
sys.exit(3)
"""
RUNTIME_ENV = {"env_vars": {"RS_A": "1", "RS_SECRET": "s3cr3t-value"}}


def _ray_jobs(c: LocalCluster) -> dict[str, dict]:
    """Ray's own view: submission id -> its row of GET /api/jobs/ (Ray's token: the cluster's)."""
    assert c.ray_dashboard_url
    r = httpx.get(f"{c.ray_dashboard_url}/api/jobs/", headers={"Authorization": f"Bearer {c.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {j["submission_id"]: j for j in r.json() if j.get("submission_id")}


def _submit(c: LocalCluster, sid: str, script: Path) -> None:
    assert c.ray_dashboard_url
    res = subprocess.run(
        [*RAY_CLI, "job", "submit", "--address", c.ray_dashboard_url, "--submission-id", sid, "--no-wait",
         "--runtime-env-json", json.dumps(RUNTIME_ENV), "--", sys.executable, str(script)],
        env=c.env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


def _rayscope_jobs(url: str, token: str, *filters: str) -> list[dict]:
    r = httpx.get(f"{url}/api/v1/jobs", params={"filter": list(filters), "limit": 1000},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The cluster, the two submission ids and Ray's final rows for them."""
    tmp = tmp_path_factory.mktemp("drivers")
    (tmp / "ok_driver.py").write_text(OK_DRIVER)
    (tmp / "fail_driver.py").write_text(FAIL_DRIVER)
    tag = uuid.uuid4().hex[:8]
    ok, bad = f"rs_ok_{tag}", f"rs_fail_{tag}"
    with local_cluster(ray_dashboard=True) as c:
        _submit(c, ok, tmp / "ok_driver.py")
        _submit(c, bad, tmp / "fail_driver.py")
        ray_rows = wait_for("both submitted jobs to end in Ray's job API",
                            lambda: (lambda rows: rows if all(rows.get(s, {}).get("status") in TERMINAL
                                                             for s in (ok, bad)) else None)(_ray_jobs(c)),
                            timeout=240, every=1)
        yield {"cluster": c, "ok": ok, "bad": bad, "ray": ray_rows, "tmp": tmp}


def _ended_at_head(url: str, token: str, sids: list[str]) -> dict[str, dict]:
    def probe() -> dict[str, dict] | None:
        rows = {j["submission_id"]: j for j in _rayscope_jobs(url, token) if j["submission_id"] in sids}
        done = all(rows.get(s, {}).get("submission_status") in TERMINAL and rows[s]["state"] == "FINISHED"
                   for s in sids)
        return rows if done else None

    return wait_for("both submitted jobs ended at Rayscope's head", probe, timeout=90, every=0.5,
                    context=lambda: json.dumps(_rayscope_jobs(url, token))[-3000:])


def _check_rows(rows: dict[str, dict], run: dict[str, Any]) -> None:
    """Rayscope's rows (API or CLI JSON) against Ray's own job API."""
    ray_rows = run["ray"]
    ok, bad = rows[run["ok"]], rows[run["bad"]]
    assert ray_rows[run["ok"]]["status"] == "SUCCEEDED" and ray_rows[run["bad"]]["status"] == "FAILED", ray_rows
    for mine, theirs in ((ok, ray_rows[run["ok"]]), (bad, ray_rows[run["bad"]])):
        assert mine["job_id"] == theirs["job_id"]  # the joined driver job is the one Ray names
        assert mine["submission_status"] == theirs["status"]
        assert mine["submission_entrypoint"] == theirs["entrypoint"]
        assert mine["submission_message"] == theirs["message"]
        assert mine["driver_exit_code"] == theirs["driver_exit_code"]
        assert mine["submission_start_time"] == pytest.approx(theirs["start_time"] / 1000)
        assert mine["submission_end_time"] == pytest.approx(theirs["end_time"] / 1000)
        # the runtime env as a summary: keys with counts, never the values
        assert "env_vars(2)" in mine["runtime_env"].split(", "), mine["runtime_env"]
        assert "s3cr3t" not in json.dumps(mine)
    assert (ok["driver_exit_code"], bad["driver_exit_code"]) == (0, 3)
    assert "exit code 3" in bad["submission_message"]
    assert ok["submission_entrypoint"].endswith("ok_driver.py")


def test_api_lists_submitted_jobs_joined_to_their_drivers(run) -> None:
    c: LocalCluster = run["cluster"]
    rows = _ended_at_head(c.http_url, c.token, [run["ok"], run["bad"]])
    _check_rows(rows, run)
    # the listing's filter rules apply to the new fields
    failed = _rayscope_jobs(c.http_url, c.token, "submission_status=FAILED")
    assert [j["submission_id"] for j in failed] == [run["bad"]]
    # joined to the driver job's tasks
    headers = {"Authorization": f"Bearer {c.token}"}
    for sid, fn in ((run["ok"], "submitted_square"), (run["bad"], "submitted_before_failure")):
        job_id = rows[sid]["job_id"]
        r = httpx.get(f"{c.http_url}/api/v1/tasks", params={"filter": [f"job_id={job_id}", f"name={fn}"]},
                      headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert [t["state"] for t in r.json()["rows"]] == ["FINISHED"], r.json()
        one = httpx.get(f"{c.http_url}/api/v1/jobs/{job_id}", headers=headers, timeout=30).json()
        assert one["submission_id"] == sid


def test_cli_list_jobs_json_carries_the_submission(run) -> None:
    c: LocalCluster = run["cluster"]
    _ended_at_head(c.http_url, c.token, [run["ok"], run["bad"]])
    res = c.cli("list", "jobs", "--json")
    assert res.returncode == 0, res.stderr
    rows = {j["submission_id"]: j for j in json.loads(res.stdout) if j["submission_id"]}
    _check_rows(rows, run)
    table = c.cli("list", "jobs")
    assert table.returncode == 0, table.stderr
    assert run["bad"] in table.stdout and "FAILED" in table.stdout


def _check_jobs_page(tab: Tab, run: dict[str, Any], shot: str) -> None:
    tab.open("/jobs", "page-jobs")
    table = tab.page.get_by_test_id("jobs-table")
    for sid, status in ((run["ok"], "SUCCEEDED"), (run["bad"], "FAILED")):
        cell = table.locator("[data-testid=job-submission]", has_text=sid)
        expect(cell).to_have_count(1)
        expect(cell.locator(f"[data-state={status}]")).to_have_count(1)
    expect(table.locator("[data-testid=job-submission]", has_text=run["bad"])).to_contain_text("exit 3")
    tab.shot(shot)


def test_web_ui_jobs_page_shows_submissions(run) -> None:
    c: LocalCluster = run["cluster"]
    _ended_at_head(c.http_url, c.token, [run["ok"], run["bad"]])
    browser = Browser()
    try:
        tab = browser.tab(f"{c.http_url}/#token={c.token}")
        _check_jobs_page(tab, run, "jobs_submitted")
        job_id = run["ray"][run["bad"]]["job_id"]
        tab.open(f"/jobs/{job_id}", "page-job")
        expect(tab.page.locator("dl.kv")).to_contain_text(run["bad"])
        message = tab.page.get_by_test_id("job-submission-message")
        expect(message).to_contain_text("exit code 3")
        expect(message).to_contain_text("about to exit 3")  # the driver's last output, as Ray's message carries it
        tab.shot("job_submitted_failed")
        assert tab.take_errors() == []
    finally:
        browser.close()


@pytest.fixture(scope="module")
def history(run) -> Iterator[str]:
    """The `web UI: URL/#token=…` link of `rayscope dashboard --db` over the stopped cluster's store."""
    c: LocalCluster = run["cluster"]
    _ended_at_head(c.http_url, c.token, [run["ok"], run["bad"]])
    db = c.state.nodes[0].head_service.db_path  # left in place by `stop`
    stop = c.cli("stop", timeout=180)
    assert stop.returncode == 0, stop.stderr
    with history_dashboard(db, c.env) as (ui, _):
        yield ui


def test_history_mode_keeps_the_submissions(run, history: str) -> None:
    base, token = history.split("/#token=")
    rows = {j["submission_id"]: j for j in _rayscope_jobs(base, token) if j["submission_id"]}
    _check_rows(rows, run)
    browser = Browser()
    try:
        tab = browser.tab(history)
        _check_jobs_page(tab, run, "history_jobs_submitted")
        assert tab.take_errors() == []
    finally:
        browser.close()
