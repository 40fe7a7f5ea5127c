"""A Ray Train v2 run on the shared 2-node cluster (issue 13): launched from inside a Ray task by a
driver that does not set RAY_TRAIN_ENABLE_STATE_TRACKING (so the events prove that `rayscope start`
put it where Ray's processes get it), 2 workers, rank 0 failing once → 2 attempts (ERRORED, FINISHED).

Oracles: the workload's own record (the pid and node of every train-function call, per attempt) and
Ray's TrainStateActor (`get_train_runs` / `get_train_run_attempts`), read by the workload after the
run. Checked in the API, `rayscope list train-runs --json`, `rayscope get train-run --json`, and the
web UI's Train and run pages in real Chromium (a worker's log link opens that worker's lines).
Everything checked is read from the head's store (history mode reads the same tables).
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser
from polling import wait_for
from rayscope.runtime.local_cluster import LocalCluster

WORKLOAD = Path(__file__).parent / "workloads" / "train_workload.py"
FAILURE = "injected failure for attempt 1"


@pytest.fixture(scope="module")
def truth(rayscope_cluster: LocalCluster, tmp_path_factory) -> dict[str, Any]:
    env = {k: v for k, v in rayscope_cluster.env.items() if k != "RAY_TRAIN_ENABLE_STATE_TRACKING"}
    name = f"rs_train_{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("train")
    res = subprocess.run([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address, name, str(tmp)],
                         env=env, capture_output=True, text=True, timeout=420)
    lines = [x for x in res.stdout.splitlines() if x.startswith("TRUTH ")]
    assert res.returncode == 0 and lines, res.stdout[-3000:] + res.stderr[-5000:]
    out = json.loads(lines[-1][6:])
    (run_id, ray_run), = [(k, v) for k, v in out["ray_runs"].items() if v["name"] == name]
    out["run_id"], out["ray_run"] = run_id, ray_run
    out["ray_attempts"] = sorted(out["ray_attempts"][run_id].values(), key=lambda a: a["start_time_ns"])
    return out


def _get(c: LocalCluster, path: str, **params: Any) -> Any:
    r = httpx.get(f"{c.http_url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {c.token}"},
                  timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _finished_at_head(c: LocalCluster, run_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        r = httpx.get(f"{c.http_url}/api/v1/train/runs/{run_id}", headers={"Authorization": f"Bearer {c.token}"},
                      timeout=30)
        if r.status_code != 200:
            return None
        run = r.json()
        done = run["status"] == "FINISHED" and [a["status"] for a in run["attempts"]] == ["ERRORED", "FINISHED"]
        return run if done and all(len(a["workers"]) == 2 for a in run["attempts"]) else None

    return wait_for("the train run FINISHED with 2 attempts at Rayscope's head", probe, timeout=90, every=0.5,
                    context=lambda: json.dumps(_get(c, "/train/runs"))[-2000:])


def _check_run(run: dict[str, Any], truth: dict[str, Any]) -> None:
    """A run as the API (or the CLI's JSON) gives it, against Ray's state actor and the workload."""
    ray_run = truth["ray_run"]
    assert truth["tracking_env"] == "1"  # the task got it from the cluster, not from the driver
    assert truth["error"] is None
    assert (run["run_id"], run["name"], run["status"]) == (truth["run_id"], truth["name"], ray_run["status"])
    assert run["job_id"] == ray_run["job_id"] and run["controller_actor_id"] == ray_run["controller_actor_id"]
    assert run["start_time"] == pytest.approx(ray_run["start_time_ns"] / 1e9)
    assert run["end_time"] == pytest.approx(ray_run["end_time_ns"] / 1e9)
    assert run["controller_log_file_path"] == ray_run["controller_log_file_path"]
    assert (run["num_workers"], run["resources_per_worker"], run["max_failures"]) == (2, {"CPU": 0.5}, 1)
    assert run["storage_path"].endswith("storage")
    assert [a["attempt_id"] for a in run["attempts"]] == [a["attempt_id"] for a in truth["ray_attempts"]]
    for mine, theirs, label in zip(run["attempts"], truth["ray_attempts"], ("first", "second")):
        assert mine["status"] == theirs["status"]
        assert mine["status_detail"] == theirs["status_detail"]  # in full
        assert mine["end_time"] == pytest.approx(theirs["end_time_ns"] / 1e9)
        ray_workers = {(w["world_rank"], w["pid"], w["node_id"], w["actor_id"]) for w in theirs["workers"]}
        assert {(w["world_rank"], w["pid"], w["node_id"], w["actor_id"]) for w in mine["workers"]} == ray_workers
        seen = {(c["rank"], c["pid"], c["node_id"]) for c in truth["calls"] if c["attempt"] == label}
        assert {(w["world_rank"], w["pid"], w["node_id"]) for w in mine["workers"]} == seen
        assert all(w["resources"] == {"CPU": 0.5} for w in mine["workers"])
    assert FAILURE in run["attempts"][0]["status_detail"]
    # every transition Ray wrote, in order: the run's and each attempt's
    history = run["history"]
    run_statuses = [h["status"] for h in history if h["attempt_id"] is None]
    assert run_statuses[0] == "INITIALIZING" and run_statuses[-1] == "FINISHED" and "RESTARTING" in run_statuses
    for a in run["attempts"]:
        mine = [h["status"] for h in history if h["attempt_id"] == a["attempt_id"]]
        assert mine == ["PENDING", "RUNNING", a["status"]], mine


def test_api_shows_the_run_its_attempts_and_workers(rayscope_cluster: LocalCluster, truth: dict[str, Any]) -> None:
    c = rayscope_cluster
    run = _finished_at_head(c, truth["run_id"])
    _check_run(run, truth)
    # the listing's filters
    listed = _get(c, "/train/runs", filter=[f"name={truth['name']}"])["rows"]
    assert [(r["run_id"], r["status"], r["num_attempts"]) for r in listed] == [(truth["run_id"], "FINISHED", 2)]
    assert _get(c, "/train/runs", filter=[f"name={truth['name']}", "status=ERRORED"])["rows"] == []
    assert [r["run_id"] for r in _get(c, "/train/runs", filter=[f"job_id={run['job_id']}"])["rows"]] == [truth["run_id"]]
    # each worker's Ray Train log file (its absolute path, as Ray gives it) is the one the agent shipped
    for a in run["attempts"]:
        for w in a["workers"]:
            assert w["log_file_id"] == f"{w['node_id']}:train/{Path(w['log_file_path']).name}", w
            text = [ln["text"] for ln in _get(c, "/logs/lines", file_id=w["log_file_id"], limit=1000)["rows"]]
            assert any(f"train worker rank {w['world_rank']} pid {w['pid']}" in t for t in text), text[-20:]
    # the controller's, on the node Rayscope saw its actor on
    controller = _get(c, f"/actors/{run['controller_actor_id']}")
    assert run["controller_log_file_id"] == (
        f"{controller['node_id']}:train/{Path(run['controller_log_file_path']).name}")
    bad = httpx.get(f"{c.http_url}/api/v1/train/runs", params={"filter": "colour=red"},
                    headers={"Authorization": f"Bearer {c.token}"}, timeout=30)
    assert bad.status_code == 400 and "colour" in bad.text


def test_cli_json(rayscope_cluster: LocalCluster, truth: dict[str, Any]) -> None:
    c = rayscope_cluster
    _finished_at_head(c, truth["run_id"])
    res = c.cli("list", "train-runs", "--json", "--filter", f"name={truth['name']}")
    assert res.returncode == 0, res.stderr
    assert [(r["run_id"], r["status"]) for r in json.loads(res.stdout)] == [(truth["run_id"], "FINISHED")]
    one = c.cli("get", "train-run", truth["run_id"], "--json")
    assert one.returncode == 0, one.stderr
    _check_run(json.loads(one.stdout), truth)
    text = c.cli("get", "train-run", truth["run_id"])
    assert text.returncode == 0, text.stderr
    assert FAILURE in text.stdout and "RESTARTING" in text.stdout, text.stdout
    table = c.cli("list", "train-runs", "--filter", f"name={truth['name']}")
    assert table.returncode == 0, table.stderr
    assert truth["run_id"] in table.stdout and "FINISHED" in table.stdout, table.stdout


def test_web_ui_train_and_run_pages(rayscope_cluster: LocalCluster, truth: dict[str, Any]) -> None:
    c = rayscope_cluster
    run = _finished_at_head(c, truth["run_id"])
    browser = Browser()
    try:
        tab = browser.tab(f"{c.http_url}/#token={c.token}")
        tab.open("/jobs", "page-jobs")
        tab.page.locator("nav").get_by_role("link", name="Train", exact=True).click()
        expect(tab.page.get_by_test_id("page-train")).to_be_visible()
        row = tab.page.get_by_test_id("train-runs-table").locator("tr", has_text=truth["name"])
        expect(row).to_have_count(1)
        expect(row.locator("[data-state=FINISHED]")).to_have_count(1)
        tab.shot("train_runs")
        tab.open("/train?name=no-such-run", "page-train")  # none: the page says how tracking is turned on
        expect(tab.page.get_by_test_id("train-no-runs")).to_have_text("No Train runs match these filters.")
        expect(tab.page.get_by_test_id("page-train")).to_contain_text("RAY_TRAIN_ENABLE_STATE_TRACKING=1")
        tab.open("/train", "page-train")
        row = tab.page.get_by_test_id("train-runs-table").locator("tr", has_text=truth["name"])
        row.get_by_role("link", name=truth["name"]).click()
        expect(tab.page.get_by_test_id("page-train-run")).to_be_visible()
        attempts = tab.page.get_by_test_id("train-attempt")
        expect(attempts).to_have_count(2)
        expect(attempts.nth(0)).to_have_attribute("data-attempt-status", "ERRORED")
        expect(attempts.nth(1)).to_have_attribute("data-attempt-status", "FINISHED")
        expect(attempts.nth(0).get_by_test_id("train-attempt-error")).to_contain_text(FAILURE)
        for i, a in enumerate(run["attempts"]):
            for w in a["workers"]:
                expect(attempts.nth(i).get_by_test_id("train-worker").filter(has_text=f"pid {w['pid']}")).to_have_count(1)
        expect(tab.page.get_by_test_id("train-history").locator("tr")).to_have_count(len(run["history"]) + 1)
        tab.shot("train_run")
        # a worker's log link opens that worker's lines
        w0 = next(w for w in run["attempts"][1]["workers"] if w["world_rank"] == 0)
        worker = attempts.nth(1).get_by_test_id("train-worker").filter(has_text=f"pid {w0['pid']}")
        worker.get_by_role("link", name="logs").click()
        expect(tab.page.get_by_test_id("log-lines")).to_contain_text(f"train worker rank 0 pid {w0['pid']} first=False",
                                                                      timeout=30_000)
        # and its Ray Train log file opens in the log view
        tab.page.go_back()
        worker = tab.page.get_by_test_id("train-attempt").nth(1).get_by_test_id("train-worker").filter(
            has_text=f"pid {w0['pid']}")
        worker.get_by_role("link", name="train log").click()
        expect(tab.page.get_by_test_id("log-tail")).to_contain_text(f"train worker rank 0 pid {w0['pid']} first=False",
                                                                    timeout=30_000)
        assert tab.take_errors() == []
    finally:
        browser.close()
