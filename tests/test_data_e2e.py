"""Ray Data on the shared 2-node cluster (issue 13): a driver runs range -> map -> map_batches on a
pool of 2 actors -> filter -> take_all with Rayscope's progress callback in its environment
(tests/workloads/data_workload.py). Ray's own `ds.stats()`, printed by the driver, is the oracle
for each operator's rows, blocks and tasks; the workload's settings (2 actors, 20 blocks) for the rest.

Checked: progress seen at the head while the dataset RUNS (several distinct rows_output values
before FINISHED: a condition, not a timing), exact final figures, states, the DAG's edges, the
schema, the actor-pool operator's tasks and actors found by the operator filter, the CLI's --json,
and the web UI's dataset page (operator table, tree, DAG) in real Chromium.
Everything checked reads the head's store only (no live-only state): history mode shows the same.

A second run of the same workload WITHOUT the callback in the driver's environment: the head shows
progress from Ray's own `ray_data_*` gauges (source "metrics"), each operator's final rows and
blocks equal to ds.stats(); the gauges' names and labels are checked on Ray's own endpoints.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from browser import Browser
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.data_progress import ENV_VALUE
from rayscope.runtime.local_cluster import LocalCluster
from rayscope.runtime.ray_metric_names import DATA_OPERATOR_FAMILIES, RAY_LABELS

WORKLOAD = Path(__file__).parent / "workloads" / "data_workload.py"
ACTOR_OP, FILTER_OP = "ReadRange->Map(slow)->MapBatches(AddOne)", "Filter(<lambda>)"


def _api(cluster: LocalCluster, path: str, **params: Any) -> Any:
    r = httpx.get(f"{cluster.http_url}/api/v1{path}", params=params,
                  headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _op(detail: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in detail["operators"] if o["name"] == name)


@pytest.fixture(scope="module")
def run(rayscope_cluster: LocalCluster, browser: Browser) -> Iterator[dict[str, Any]]:
    # Ray writes operator schemas and issues from the driver's own Python, which reads the export
    # switch from its environment only (the cluster's system config does not reach it): the opt-in
    # docs/ray-integration.md gives for drivers, with the progress callback.
    env = dict(rayscope_cluster.env, RAY_DATA_EXECUTION_CALLBACKS=ENV_VALUE, RAY_enable_export_api_write="1")
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = read_line(proc.stdout, 180, "the workload's READY line")
        assert ready.startswith("READY "), ready
        job_id = json.loads(ready[6:])["job_id"]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        seen: list[tuple[str, int | None]] = []  # (dataset state, the actor-pool operator's rows_output)
        live_shot: list[Any] = []

        def screenshot_while_running(dataset_id: str) -> None:
            """The dataset page mid-run, for the issue's screenshots (throughput current, queues)."""
            tab = browser.tab(f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}")
            tab.open(f"/datasets/{dataset_id}", "page-dataset")
            tab.page.locator("[data-testid=operators-table]").wait_for()
            live_shot.append(tab.shot("dataset_running"))

        def finished() -> dict[str, Any] | None:
            rows = _api(rayscope_cluster, "/datasets", filter=f"job_id={job_id}")["rows"]
            if not rows:
                return None
            detail = _api(rayscope_cluster, f"/datasets/{rows[0]['dataset_id']}")
            ops = [o for o in detail["operators"] if o["name"] == ACTOR_OP]
            seen.append((detail["state"], ops[0]["rows_output"] if ops else None))
            if not live_shot and detail["state"] == "RUNNING" and ops and ops[0]["rows_output"]:
                screenshot_while_running(detail["dataset_id"])
            return detail if detail["state"] == "FINISHED" else None

        detail = wait_for("the dataset FINISHED at the head", finished, timeout=180, every=0.25,
                          context=lambda: f"seen {seen[-5:]}")
        truth_line = read_line(proc.stdout, 120, "the workload's TRUTH line")
        assert truth_line.startswith("TRUTH "), truth_line
        yield {"job_id": job_id, "dataset_id": detail["dataset_id"], "truth": json.loads(truth_line[6:]),
               "seen": seen}
        proc.stdin.close()
        wait_or_kill(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _final(cluster: LocalCluster, run: dict[str, Any]) -> dict[str, Any]:
    """The dataset once its last progress sample (sent when the execution succeeded) is stored."""
    want = run["truth"]["operators"]

    def done() -> dict[str, Any] | None:
        d = _api(cluster, f"/datasets/{run['dataset_id']}")
        ok = all(_op(d, n)["rows_output"] == w["rows"] and _op(d, n)["blocks_output"] == w["blocks"]
                 for n, w in want.items())
        return d if ok else None

    return wait_for("each operator's final figures", done, timeout=60,
                    context=lambda: json.dumps(_api(cluster, f"/datasets/{run['dataset_id']}")["operators"]))


def test_progress_was_seen_while_the_dataset_ran(run: dict[str, Any]) -> None:
    running = {rows for state, rows in run["seen"] if state == "RUNNING" and rows is not None}
    assert len(running) >= 3, run["seen"]


def test_operators_match_rays_own_stats(rayscope_cluster: LocalCluster, run: dict[str, Any]) -> None:
    truth = run["truth"]
    assert set(truth["operators"]) == {ACTOR_OP, FILTER_OP}, truth
    assert truth["rows"] == truth["expected_filtered"] == truth["operators"][FILTER_OP]["rows"]
    d = _final(rayscope_cluster, run)
    assert d["job_id"] == run["job_id"] and d["state"] == "FINISHED" and d["has_progress"]
    # Ray's own ray_data_* gauges were read for this dataset too: the callback's samples win, never mixed
    assert d["progress_source"] == "callback" and d["progress_hint"] is None
    assert [o["state"] for o in d["operators"]] == ["FINISHED"] * 3
    ids = [o["operator_id"] for o in d["operators"]]
    assert ids == ["Input_0", f"{ACTOR_OP}_1", f"{FILTER_OP}_2"]
    assert [o["input_dependencies"] for o in d["operators"]] == [[], ["Input_0"], [f"{ACTOR_OP}_1"]]
    assert _op(d, FILTER_OP)["output_schema"] == {"id": "int64"}
    assert d["rows_output"] == truth["rows"]
    assert all(o["execution_start_time"] and o["execution_end_time"] for o in d["operators"])
    actor_op = _op(d, ACTOR_OP)
    assert actor_op["throughput_avg"] > 0 and actor_op["throughput_current"] is None  # finished


def test_operator_tasks_and_actors_by_label(rayscope_cluster: LocalCluster, run: dict[str, Any]) -> None:
    d = _final(rayscope_cluster, run)
    stats = run["truth"]["operators"]
    pool, filt = _op(d, ACTOR_OP), _op(d, FILTER_OP)

    def tasks(uuid: str) -> list[dict[str, Any]]:
        return _api(rayscope_cluster, "/tasks", filter=f"data_operator_id={uuid}", limit=1000)["rows"]

    def settled() -> tuple | None:
        # the pool's work: one `MapWorker(...).submit` call per task Ray counts (its actors also get
        # creation and bookkeeping calls)
        calls = [t for t in tasks(pool["uuid"]) if t["type"] == "ACTOR_TASK" and t["name"].endswith(".submit")]
        plain = [t for t in tasks(filt["uuid"]) if t["type"] == "NORMAL_TASK"]
        if len(calls) != stats[ACTOR_OP]["tasks"] or len(plain) != stats[FILTER_OP]["tasks"]:
            return None
        return (calls, plain) if all(t["state"] == "FINISHED" for t in calls + plain) else None

    def kinds(uuid: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in tasks(uuid):
            key = f"{t['type']} {t['name']} {t['state']}"
            out[key] = out.get(key, 0) + 1
        return out

    calls, plain = wait_for("the operators' tasks, FINISHED", settled, timeout=60,
                            context=lambda: f"{kinds(pool['uuid'])} {kinds(filt['uuid'])} want {stats}")
    assert all(t["actor_id"] for t in calls)
    assert {t["data_operator_id"] for t in calls + plain} == {pool["uuid"], filt["uuid"]}
    actors = wait_for("the pool's 2 actors", lambda: (lambda a: a if len(a) == 2 else None)(
        _api(rayscope_cluster, "/actors", filter=f"data_operator_id={pool['uuid']}")["rows"]), timeout=60)
    assert {t["actor_id"] for t in calls} <= {a["actor_id"] for a in actors}
    d = _api(rayscope_cluster, f"/datasets/{run['dataset_id']}")
    assert _op(d, ACTOR_OP)["ray_actors"] == 2 and _op(d, ACTOR_OP)["ray_tasks"] >= stats[ACTOR_OP]["tasks"]


def test_cli_json(rayscope_cluster: LocalCluster, run: dict[str, Any]) -> None:
    _final(rayscope_cluster, run)
    res = rayscope_cluster.cli("list", "datasets", "--json", "--filter", f"job_id={run['job_id']}",
                               "--address", rayscope_cluster.http_url, timeout=60)
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)
    assert row["dataset_id"] == run["dataset_id"] and row["state"] == "FINISHED"
    assert {o["name"]: o["rows_output"] for o in row["operators"] if o["name"] != "Input"} == {
        n: s["rows"] for n, s in run["truth"]["operators"].items()}
    res = rayscope_cluster.cli("get", "dataset", run["dataset_id"], "--json", "--address", rayscope_cluster.http_url,
                               timeout=60)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert {o["name"]: (o["state"], o["rows_output"]) for o in got["operators"] if o["name"] != "Input"} == {
        n: ("FINISHED", s["rows"]) for n, s in run["truth"]["operators"].items()}
    text = rayscope_cluster.cli("get", "dataset", run["dataset_id"], "--address", rayscope_cluster.http_url,
                                timeout=60)
    assert text.returncode == 0 and FILTER_OP in text.stdout and "schema of" in text.stdout, text.stderr


def test_dataset_pages(rayscope_cluster: LocalCluster, run: dict[str, Any], browser: Browser) -> None:
    _final(rayscope_cluster, run)
    tab = browser.tab(f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}")
    tab.open(f"/datasets?job={run['job_id']}", "page-datasets")
    tab.page.locator("[data-testid=datasets-table]").get_by_text(run["dataset_id"]).click()
    tab.page.wait_for_selector("[data-testid=page-dataset]")
    table = tab.page.locator("[data-testid=operators-table] tbody tr")
    wait_for("3 operator rows", lambda: table.count() == 3, timeout=30)
    pool_row = tab.page.locator("[data-testid=operators-table] tr", has_text=ACTOR_OP)
    assert f"{run['truth']['operators'][ACTOR_OP]['rows']} /" in pool_row.inner_text()
    assert tab.page.locator("[data-testid=progress-on]").count() == 1
    tab.shot("dataset")
    pool_row.get_by_text("tasks (").click()
    tab.page.wait_for_selector("[data-testid=operator-tasks]")
    filter_row = tab.page.locator("[data-testid=operators-table] tr", has_text=FILTER_OP)
    filter_row.get_by_text("logs").click()
    tab.page.get_by_text("The newest 4 actors or tasks of this operator").wait_for()
    tab.page.get_by_role("tab", name="Tree view").click()
    wait_for("the tree", lambda: tab.page.locator("[data-testid=tree-node]").count() == 3, timeout=20)
    tab.page.get_by_role("tab", name="DAG view").click()
    wait_for("the DAG", lambda: tab.page.locator("[data-testid=dag-node]").count() == 3
             and tab.page.locator("[data-testid=dag-edge]").count() == 2, timeout=20)
    tab.shot("dataset_dag")
    tab.open(f"/jobs/{run['job_id']}?tab=datasets", "page-job")
    tab.page.locator("[data-testid=datasets-table]").get_by_text(run["dataset_id"]).wait_for()
    assert tab.take_errors() == []


def _ray_data_tags(endpoints: list[str]) -> dict[str, set[str]]:
    """The `ray_data_*` families on the nodes' own Ray metrics endpoints and their tag keys."""
    from prometheus_client.parser import text_string_to_metric_families
    tags: dict[str, set[str]] = {}
    for addr in endpoints:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
        for fam in text_string_to_metric_families(text):
            if fam.name.startswith("ray_data_"):
                for s in fam.samples:
                    tags.setdefault(fam.name, set()).update(set(s.labels) - RAY_LABELS)
    return tags


def test_progress_from_rays_metrics_without_the_callback(rayscope_cluster: LocalCluster) -> None:
    env = {k: v for k, v in rayscope_cluster.env.items() if k != "RAY_DATA_EXECUTION_CALLBACKS"}
    env["RAY_enable_export_api_write"] = "1"
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = read_line(proc.stdout, 120, "the workload's READY line")
        assert ready.startswith("READY "), ready
        job_id, endpoints = json.loads(ready[6:])["job_id"], json.loads(ready[6:])["endpoints"]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # the names and labels Rayscope reads, on Ray's own endpoints while the pipeline runs (a gauge
        # not set again leaves the endpoint after Ray's gauge TTL)
        tags: dict[str, set[str]] = {}

        def all_families() -> bool:
            for name, keys in _ray_data_tags(endpoints).items():
                tags.setdefault(name, set()).update(keys)
            return set(DATA_OPERATOR_FAMILIES) <= set(tags)

        wait_for("Ray Data's operator gauges on Ray's endpoints", all_families, timeout=60, every=1.0,
                 context=lambda: f"missing {sorted(set(DATA_OPERATOR_FAMILIES) - set(tags))}; seen {sorted(tags)}")
        print("ray_data_ families on the endpoints:", json.dumps({k: sorted(v) for k, v in sorted(tags.items())}))
        for name in DATA_OPERATOR_FAMILIES:
            assert {"dataset", "operator"} <= tags[name], (name, tags[name])
        truth_line = read_line(proc.stdout, 120, "the workload's TRUTH line")
        assert truth_line.startswith("TRUTH "), truth_line
        truth = json.loads(truth_line[6:])
        want = truth["operators"]
        assert set(want) == {ACTOR_OP, FILTER_OP}, truth
        last: list[Any] = []

        def shown() -> dict[str, Any] | None:
            rows = _api(rayscope_cluster, "/datasets", filter=f"job_id={job_id}")["rows"]
            if not rows:
                return None
            d = _api(rayscope_cluster, f"/datasets/{rows[0]['dataset_id']}")
            last[:] = [d]
            ok = d["progress_source"] == "metrics" and all(
                _op(d, n)["rows_output"] == w["rows"] and _op(d, n)["blocks_output"] == w["blocks"]
                for n, w in want.items())
            return d if ok else None

        # Ray's gauges reach its endpoint ~10 s after they are set; the agent reads it every 10 s
        d = wait_for("each operator's final figures from Ray's metrics", shown, timeout=90, every=1.0,
                     context=lambda: json.dumps([{k: o.get(k) for k in ("operator_id", "rows_output",
                                                 "blocks_output", "tasks_finished")}
                                                 for o in (last[0]["operators"] if last else [])])
                     + f" source={last[0]['progress_source'] if last else None} want {want}")
        assert d["has_progress"] and "RAY_DATA_EXECUTION_CALLBACKS" in d["progress_hint"]  # the hint stays
        assert "Ray's metrics" in d["progress_source_text"]
        assert d["rows_output"] == truth["rows"]
        assert all(_op(d, n)["throughput_avg"] > 0 for n in want)  # computed from these samples too
        assert {n: _op(d, n)["tasks_finished"] for n in want} == {n: w["tasks"] for n, w in want.items()}
        proc.stdin.close()
        wait_or_kill(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
