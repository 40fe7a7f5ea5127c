"""Jobs submitted with `ray job submit` on a real 2-node cluster with Ray's dashboard (the job API
needs it; the shared `rayscope_cluster` runs without it, so this module starts its own): one that
succeeds, one that exits with code 3, and one whose entrypoint exits with code 2 before calling
ray.init (so no driver job ever exists: listed by its submission id, job_id null). Checked in
Rayscope's API, `rayscope list jobs --json`, the web UI's Jobs page (real Chromium), and again in
history mode after the cluster stopped.

The oracle is Ray's own job API (`GET /api/jobs/` on Ray's dashboard, read here with plain HTTP):
submission id, status, entrypoint, message, driver exit code and the driver's job id.

A third job (tests/workloads/libraries_job.py) runs a Ray Data pipeline, a Train run built in the job's
own driver (so its events exist only if `rayscope start`'s RAY_TRAIN_ENABLE_STATE_TRACKING reached a
submitted job's driver) and a Serve app receiving queries; after the cluster stopped, history mode
(`rayscope dashboard --db`) still shows the dataset, the run and the app: API, CLI --json and the web
UI's pages. Its oracle is what the job printed: its own counts and Ray's TrainStateActor/serve.status().
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
from rayscope.runtime.demo_libraries import DATASET_NAME, FAIL_EVERY, SERVE_APP
from rayscope.runtime.local_cluster import LocalCluster, local_cluster
from rayscope.runtime.ports import free_ports
from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV

WORKLOADS = Path(__file__).parent / "workloads"
TRAIN_RUN, QUERIES = "libs_job_train", 20  # as tests/workloads/libraries_job.py has them

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
# Fails before any driver exists: no ray.init, so Ray's job API lists it with job_id null.
NO_DRIVER = """
import sys
print("exiting before ray.init")
sys.exit(2)
"""
RUNTIME_ENV = {"env_vars": {"RS_A": "1", "RS_SECRET": "s3cr3t-value"}}


def _ray_jobs(c: LocalCluster) -> dict[str, dict]:
    """Ray's own view: submission id -> its row of GET /api/jobs/ (Ray's token: the cluster's)."""
    assert c.ray_dashboard_url
    r = httpx.get(f"{c.ray_dashboard_url}/api/jobs/", headers={"Authorization": f"Bearer {c.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return {j["submission_id"]: j for j in r.json() if j.get("submission_id")}


def _submit(c: LocalCluster, sid: str, script: Path, *args: str, runtime_env: dict = RUNTIME_ENV) -> None:
    assert c.ray_dashboard_url
    res = subprocess.run(
        [*RAY_CLI, "job", "submit", "--address", c.ray_dashboard_url, "--submission-id", sid, "--no-wait",
         "--runtime-env-json", json.dumps(runtime_env), "--", sys.executable, str(script), *args],
        env=c.env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


def _rayscope_jobs(url: str, token: str, *filters: str) -> list[dict]:
    r = httpx.get(f"{url}/api/v1/jobs", params={"filter": list(filters), "limit": 1000},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The cluster, the submission ids and Ray's final rows for them."""
    tmp = tmp_path_factory.mktemp("drivers")
    (tmp / "ok_driver.py").write_text(OK_DRIVER)
    (tmp / "fail_driver.py").write_text(FAIL_DRIVER)
    (tmp / "no_driver.py").write_text(NO_DRIVER)
    tag = uuid.uuid4().hex[:8]
    ok, bad, nodrv, libs = f"rs_ok_{tag}", f"rs_fail_{tag}", f"rs_nodrv_{tag}", f"rs_libs_{tag}"
    with local_cluster(ray_dashboard=True) as c:
        _submit(c, ok, tmp / "ok_driver.py")
        _submit(c, bad, tmp / "fail_driver.py")
        _submit(c, nodrv, tmp / "no_driver.py")
        _submit(c, libs, WORKLOADS / "libraries_job.py", str(free_ports(1)[0]), str(tmp / "train"),
                runtime_env={"env_vars": DATA_PROGRESS_ENV})
        ray_rows = wait_for("the submitted jobs to end in Ray's job API",
                            lambda: (lambda rows: rows if all(rows.get(s, {}).get("status") in TERMINAL
                                                             for s in (ok, bad, nodrv, libs)) else None)(_ray_jobs(c)),
                            timeout=300, every=1)
        driver_log = c.head_session_dir / "logs" / f"job-driver-{libs}.log"
        truth = [line for line in driver_log.read_text(errors="replace").splitlines() if line.startswith("TRUTH ")]
        assert ray_rows[libs]["status"] == "SUCCEEDED" and truth, driver_log.read_text(errors="replace")[-4000:]
        assert ray_rows[nodrv]["job_id"] is None, ray_rows[nodrv]  # Ray too has no driver job for it
        yield {"cluster": c, "ok": ok, "bad": bad, "nodrv": nodrv, "ray": ray_rows, "tmp": tmp,
               "libs": json.JSONDecoder().raw_decode(truth[-1], len("TRUTH "))[0]}


def _submitted(run: dict[str, Any]) -> list[str]:
    """The three ok/fail/no-driver submissions (the libraries job is checked apart)."""
    return [run["ok"], run["bad"], run["nodrv"]]


def _all_jobs_one_per_page(url: str, token: str) -> list[dict]:
    """The whole listing through its cursor, one row per page."""
    out: list[dict] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = httpx.get(f"{url}/api/v1/jobs", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text
        out += r.json()["rows"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out


def _ended_at_head(url: str, token: str, sids: list[str]) -> dict[str, dict]:
    def probe() -> dict[str, dict] | None:
        rows = {j["submission_id"]: j for j in _rayscope_jobs(url, token) if j["submission_id"] in sids}
        done = all(rows.get(s, {}).get("submission_status") in TERMINAL and rows[s]["state"] == "FINISHED"
                   for s in sids)
        return rows if done else None

    return wait_for("the submitted jobs ended at Rayscope's head", probe, timeout=90, every=0.5,
                    context=lambda: json.dumps(_rayscope_jobs(url, token))[-3000:])


def _check_rows(rows: dict[str, dict], run: dict[str, Any]) -> None:
    """Rayscope's rows (API or CLI JSON) against Ray's own job API."""
    ray_rows = run["ray"]
    ok, bad, nodrv = rows[run["ok"]], rows[run["bad"]], rows[run["nodrv"]]
    assert [ray_rows[run[k]]["status"] for k in ("ok", "bad", "nodrv")] == ["SUCCEEDED", "FAILED", "FAILED"], ray_rows
    for mine, theirs in ((ok, ray_rows[run["ok"]]), (bad, ray_rows[run["bad"]]), (nodrv, ray_rows[run["nodrv"]])):
        assert mine["job_id"] == theirs["job_id"]  # the joined driver job is the one Ray names (none: null)
        assert mine["submission_status"] == theirs["status"]
        assert mine["submission_entrypoint"] == theirs["entrypoint"]
        assert mine["submission_message"] == theirs["message"]
        assert mine["driver_exit_code"] == theirs["driver_exit_code"]
        assert mine["submission_start_time"] == pytest.approx(theirs["start_time"] / 1000)
        assert mine["submission_end_time"] == pytest.approx(theirs["end_time"] / 1000)
        # the runtime env as a summary: keys with counts, never the values
        assert "env_vars(2)" in mine["runtime_env"].split(", "), mine["runtime_env"]
        assert "s3cr3t" not in json.dumps(mine)
    assert (ok["driver_exit_code"], bad["driver_exit_code"], nodrv["driver_exit_code"]) == (0, 3, 2)
    assert "exit code 3" in bad["submission_message"]
    assert ok["submission_entrypoint"].endswith("ok_driver.py")
    # no driver job: the row is the submission's own (its entrypoint and times), FINISHED since it ended
    assert nodrv["job_id"] is None and nodrv["driver_pid"] is None and nodrv["state"] == "FINISHED"
    assert nodrv["entrypoint"] == nodrv["submission_entrypoint"] and nodrv["entrypoint"].endswith("no_driver.py")
    assert (nodrv["start_time"], nodrv["end_time"]) == (nodrv["submission_start_time"], nodrv["submission_end_time"])
    assert "exit code 2" in nodrv["submission_message"] and "exiting before ray.init" in nodrv["submission_message"]
    assert sum(1 for r in rows.values() if r["submission_id"] == run["nodrv"]) == 1


def test_api_lists_submitted_jobs_joined_to_their_drivers(run) -> None:
    c: LocalCluster = run["cluster"]
    rows = _ended_at_head(c.http_url, c.token, _submitted(run))
    _check_rows(rows, run)
    # the listing's filter rules apply to the new fields, and to the row without a driver
    failed = _rayscope_jobs(c.http_url, c.token, "submission_status=FAILED")
    assert sorted(j["submission_id"] for j in failed) == sorted([run["bad"], run["nodrv"]])
    finished = _rayscope_jobs(c.http_url, c.token, "state=FINISHED", f"submission_id={run['nodrv']}")
    assert [(j["job_id"], j["submission_status"]) for j in finished] == [(None, "FAILED")]
    # one row per submission in the whole listing, paged one row at a time
    listed = _all_jobs_one_per_page(c.http_url, c.token)
    for sid in _submitted(run):
        assert [j["submission_id"] for j in listed].count(sid) == 1, sid
    # a job id or a submission id names a job
    one = httpx.get(f"{c.http_url}/api/v1/jobs/{run['nodrv']}", headers={"Authorization": f"Bearer {c.token}"},
                    timeout=30).json()
    assert one == rows[run["nodrv"]]
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
    _ended_at_head(c.http_url, c.token, _submitted(run))
    res = c.cli("list", "jobs", "--json")
    assert res.returncode == 0, res.stderr
    rows = {j["submission_id"]: j for j in json.loads(res.stdout) if j["submission_id"]}
    _check_rows(rows, run)
    table = c.cli("list", "jobs")
    assert table.returncode == 0, table.stderr
    assert run["bad"] in table.stdout and "FAILED" in table.stdout
    assert run["nodrv"] in table.stdout
    got = c.cli("get", "job", run["nodrv"], "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == rows[run["nodrv"]]


def _check_jobs_page(tab: Tab, run: dict[str, Any], shot: str) -> None:
    tab.open("/jobs", "page-jobs")
    table = tab.page.get_by_test_id("jobs-table")
    for sid, status in ((run["ok"], "SUCCEEDED"), (run["bad"], "FAILED"), (run["nodrv"], "FAILED")):
        cell = table.locator("[data-testid=job-submission]", has_text=sid)
        expect(cell).to_have_count(1)
        expect(cell.locator(f"[data-state={status}]")).to_have_count(1)
    expect(table.locator("[data-testid=job-submission]", has_text=run["bad"])).to_contain_text("exit 3")
    expect(table.locator("[data-testid=job-submission]", has_text=run["nodrv"])).to_contain_text("exit 2")
    expect(table.locator("tbody tr", has_text=run["nodrv"]).get_by_test_id("job-no-driver")).to_have_count(1)
    tab.shot(shot)


def test_web_ui_jobs_page_shows_submissions(run) -> None:
    c: LocalCluster = run["cluster"]
    _ended_at_head(c.http_url, c.token, _submitted(run))
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
        # the submission without a driver: its page by submission id, with the job supervisor's log
        tab.open(f"/jobs/{run['nodrv']}", "page-job")
        expect(tab.page.locator("dl.kv")).to_contain_text("no driver job")
        expect(tab.page.get_by_test_id("job-submission-message")).to_contain_text("exit code 2")
        expect(tab.page.get_by_test_id("log-lines")).to_contain_text("exiting before ray.init")
        tab.shot("job_submitted_no_driver")
        assert tab.take_errors() == []
    finally:
        browser.close()


def _get(url: str, token: str, path: str, **params: Any) -> Any:
    r = httpx.get(f"{url}/api/v1{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _libraries(url: str, token: str, truth: dict) -> dict[str, Any] | None:
    """The libraries job's dataset, Train run and Serve app as the head shows them, once each has
    reached what the job saw (None before): the dataset FINISHED with its last operator's rows equal
    to the rows the job kept, the run FINISHED, the app with all its queries counted."""
    datasets = [d for d in _get(url, token, "/datasets", filter=[f"job_id={truth['job_id']}"])["rows"]
                if d["dataset_id"].startswith(DATASET_NAME)]
    runs = _get(url, token, "/train/runs", filter=[f"name={TRAIN_RUN}"])["rows"]
    apps = _get(url, token, "/serve/applications", filter=[f"name={SERVE_APP}"])["rows"]
    if not (datasets and runs and apps) or datasets[0]["state"] != "FINISHED" or runs[0]["status"] != "FINISHED":
        return None
    dataset = _get(url, token, f"/datasets/{datasets[0]['dataset_id']}")
    app = _get(url, token, f"/serve/applications/{SERVE_APP}")
    served = sum((d["requests"] or {}).get("requests_total", 0) for d in app["deployments"]
                 if d["name"] == app["ingress_deployment"])
    if dataset["operators"][-1]["rows_output"] != truth["rows_kept"] or served < QUERIES:
        return None
    return {"dataset": dataset, "run": _get(url, token, f"/train/runs/{runs[0]['run_id']}"), "app": app}


def _check_libraries(shown: dict[str, Any], truth: dict) -> None:
    """The head's view of the libraries job against what the job printed (its counts, Ray's views)."""
    dataset, run, app = shown["dataset"], shown["run"], shown["app"]
    assert truth["tracking_env"] == "1"  # the cluster's setting reached the submitted job's driver
    assert dataset["job_id"] == truth["job_id"] and dataset["has_progress"]
    assert [o["state"] for o in dataset["operators"]] == ["FINISHED"] * len(dataset["operators"])
    assert dataset["operators"][-1]["rows_output"] == truth["rows_kept"] == 200
    [ray_run] = [r for r in truth["train"] if r["name"] == TRAIN_RUN]
    assert (run["run_id"], run["status"], len(run["attempts"])) == (ray_run["run_id"], ray_run["status"], 1)
    assert run["job_id"] == truth["job_id"] and len(run["attempts"][0]["workers"]) == 2
    assert app["status"] == truth["serve"]["status"][SERVE_APP] == "RUNNING"
    assert {d["name"] for d in app["deployments"]} == {"Gateway", "Encoder"}
    gateway = next(d for d in app["deployments"] if d["name"] == "Gateway")
    assert (gateway["requests"]["requests_total"], gateway["requests"]["errors_total"]) == (
        QUERIES, truth["serve"]["failed"])
    assert truth["serve"]["failed"] == QUERIES // FAIL_EVERY


def test_libraries_job_is_shown_live(run) -> None:
    c: LocalCluster = run["cluster"]
    shown = wait_for("the libraries job's dataset, run and app at the head",
                     lambda: _libraries(c.http_url, c.token, run["libs"]), timeout=120, every=1)
    _check_libraries(shown, run["libs"])


@pytest.fixture(scope="module")
def history(run) -> Iterator[str]:
    """The `web UI: URL/#token=…` link of `rayscope dashboard --db` over the stopped cluster's store."""
    c: LocalCluster = run["cluster"]
    _ended_at_head(c.http_url, c.token, _submitted(run))
    wait_for("the libraries job's dataset, run and app at the head",
             lambda: _libraries(c.http_url, c.token, run["libs"]), timeout=120, every=1)
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


def test_history_mode_keeps_the_libraries(run, history: str) -> None:
    base, token = history.split("/#token=")
    shown = _libraries(base, token, run["libs"])
    assert shown is not None, "history mode lost the libraries job's dataset, run or app"
    _check_libraries(shown, run["libs"])
    c: LocalCluster = run["cluster"]
    for args, key in ((["list", "datasets"], "dataset_id"), (["list", "train-runs"], "run_id"),
                      (["get", "serve-app", SERVE_APP], "name")):
        res = subprocess.run([sys.executable, "-m", "rayscope.cli.main", *args, "--json", "--address", base,
                              "--token", token], env=c.env, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        keys = [r[key] for r in out] if isinstance(out, list) else [out[key]]
        want = {"dataset_id": shown["dataset"]["dataset_id"], "run_id": shown["run"]["run_id"], "name": SERVE_APP}[key]
        assert want in keys, res.stdout[:2000]
    browser = Browser()
    try:
        tab = browser.tab(history)
        tab.open(f"/datasets/{shown['dataset']['dataset_id']}", "page-dataset")
        expect(tab.page.get_by_test_id("operators-table").locator("tbody tr")).to_have_count(
            len(shown["dataset"]["operators"]))
        tab.page.get_by_role("tab", name="DAG view").click()
        expect(tab.page.get_by_test_id("dag-node")).to_have_count(len(shown["dataset"]["operators"]))
        tab.shot("history_dataset")
        tab.open(f"/train/{shown['run']['run_id']}", "page-train-run")
        expect(tab.page.get_by_test_id("train-worker")).to_have_count(2)
        tab.shot("history_train_run")
        tab.open(f"/serve/{SERVE_APP}", "page-serve-app")
        expect(tab.page.get_by_test_id("serve-deployments")).to_contain_text("Encoder")
        expect(tab.page.get_by_test_id("serve-history")).to_contain_text("Gateway")
        tab.shot("history_serve_app")
        assert tab.take_errors() == []
    finally:
        browser.close()
