"""The alert rules (alerts/rules.py) as Prometheus and Grafana get them, and the head series they read.

- The exported rule file passes `promtool check rules`, and `promtool test rules` runs
  tests/data/alert_rules_test.yml on it: each rule fires at the end of its `for` with the summary
  Prometheus renders, not before, and not on look-alikes.
- render_summary() (the head's rendering) gives the strings Prometheus rendered there.
- Every metric the exprs select is in a real scrape of the session cluster's head and agents, so a
  renamed series fails here; the exprs run on a real Prometheus in tests/test_alerts_prometheus.py.
- The head's per-node and per-job series (store/read_alert_figures.py) say what its store holds, on a
  real head fed over its ingest stream.
- The Grafana alerting provisioning that `rayscope metrics grafana-config` writes is well formed and
  queries the datasource it provisions.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import promql_parser
import pytest
import yaml

from head_process import IngestClient, running_head, task_event
from prom_text import metric_names, sample_values
from rayscope.alerts.prometheus import rule_file
from rayscope.alerts.rules import RULES, duration, render_summary, rule
from rayscope.cli.metrics_cli import rules_yaml
from rayscope.grafana.alerting import grafana_template
from rayscope.grafana.render import DATASOURCE_UID
from rayscope.runtime.local_cluster import LocalCluster
from rayscope.wire import rayscope_ingest_pb2 as pb

DATA = Path(__file__).parent / "data"
UNIT_TESTS = DATA / "alert_rules_test.yml"
CLI = [sys.executable, "-m", "rayscope.cli.main"]


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run ./run setup (it installs Debian's prometheus)")
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rule file as the real CLI writes it (once for the module: promtool's check and its unit tests
    read the same file)."""
    out = tmp_path_factory.mktemp("rules") / "alert_rules.yml"
    r = subprocess.run([*CLI, "metrics", "alert-rules", "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == rules_yaml()
    return out


def test_promtool_checks_the_exported_rules(exported: Path) -> None:
    out = exported
    r = subprocess.run([_promtool(), "check", "rules", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in r.stdout
    doc = yaml.safe_load(out.read_text())
    assert doc == rule_file()
    assert [x["alert"] for x in doc["groups"][0]["rules"]] == [x.name for x in RULES]


def test_an_unwritable_out_is_one_line_of_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["alert-rules", "--out", str(blocker / "rules.yml")], ["grafana-config", "--out", str(blocker)]):
        r = subprocess.run([*CLI, "metrics", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and r.stderr.startswith(f"error: cannot write {blocker}") \
            and len(r.stderr.splitlines()) == 1, r.stderr


def _unit_tests_with_descriptions() -> dict[str, Any]:
    """The unit-test file with each expected alert's description filled in from the table (static text:
    the file lists the rendered summaries only, promtool compares every annotation)."""
    doc = yaml.safe_load(UNIT_TESTS.read_text())
    for test in doc["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case.get("exp_alerts", []):
                alert["exp_annotations"]["description"] = rule(case["alertname"]).description
    return doc


def test_promtool_unit_tests_cover_every_rule_firing_and_not(exported: Path) -> None:
    doc = _unit_tests_with_descriptions()
    cases = [c for t in doc["tests"] for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert fired == quiet == {r.name for r in RULES}, "each rule needs a case that fires and one that does not"
    tests = exported.parent / "alert_rules_test.yml"  # its rule_files name the exported file beside it
    tests.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = subprocess.run([_promtool(), "test", "rules", str(tests)], capture_output=True, text=True, timeout=120,
                       cwd=exported.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


# (alert, eval_time) in the unit-test file -> the value Prometheus had there (its summary renders it)
VALUES = {
    ("RayNodeDown", "2m"): 0, ("RayscopeAgentDown", "3m"): 0, ("RayOOMKills", "4m"): 2,
    ("RayWorkerFailures", "6m"): 1, ("RayNodeMemoryPressure", "6m"): 0.95, ("RayObjectStoreNearlyFull", "6m"): 0.95,
    ("RayNodeDiskFull", "6m"): 0.92, ("RayObjectSpilling", "12m"): 1000, ("RayGPUReservedButIdle", "15m"): 2,
    ("RayscopeIngestLag", "7m"): 45, ("RayscopeDataDropped", "3m"): 1500, ("RayTasksPendingTooLong", "2m"): 620,
    ("RayTasksInfeasible", "6m"): 3, ("RayTaskFailureRate", "6m"): 0.1, ("RayTaskFailureRate", "15m"): 0.1,
    ("RayTasksInfeasible", "7m"): 1234567,  # `{{ $value }}` is Go's %v: exponent form from 1e6 on
}


def test_render_summary_matches_prometheus() -> None:
    """The head renders a summary as Prometheus did in the unit tests (the same strings, the same values)."""
    seen = 0
    for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for case in test["alert_rule_test"]:
            for alert in case.get("exp_alerts", []):
                labels = {k: str(v) for k, v in alert["exp_labels"].items()}
                value = VALUES[(case["alertname"], case["eval_time"])]
                got = render_summary(rule(case["alertname"]), labels, value)
                assert got == alert["exp_annotations"]["summary"], case
                seen += 1
    assert seen == len(VALUES)
    # Go's formatting of the numbers, beyond the file's cases
    r = rule("RayTasksInfeasible")
    assert [render_summary(r, {}, v).split()[0] for v in (2.0, 0.5, 1e6, 123456.0, 1e-5, -3.25)] == [
        "2", "0.5", "1e+06", "123456", "1e-05", "-3.25"]
    h = rule("RayscopeDataDropped")
    assert [render_summary(h, {}, v).split()[2] for v in (1500, 0.002, 2.5e9, 0, 999.95)] == [
        "1.5k", "2m", "2.5G", "0", "1000"]  # %.4g rounds 999.95 up, as Go does
    assert render_summary(rule("RayNodeMemoryPressure"), {}, 0.12345).split()[-2] == "12.35%"


def test_rules_are_well_formed() -> None:
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names) == 14
    for r in RULES:
        assert re.fullmatch(r"Ray(scope)?[A-Z][A-Za-z]+", r.name), r.name
        assert r.for_s % 60 == 0 and r.window_s % 60 == 0, r.name  # Grafana's 1m evaluation divides them
        labels = {"node": "node_ip", "job": "job_id", "cluster": ""}[r.scope]
        assert labels in r.summary, f"{r.name}: its summary names no {labels}"
        assert r.description.endswith(".") and len(r.description) > 80, r.name
        for token in re.findall(r"\{\{.*?\}\}", r.summary):
            assert re.fullmatch(r"\{\{ (\$labels\.\w+|\$value( \| (humanize|humanizePercentage))?) \}\}", token), \
                f"{r.name}: {token} is not one of the templates render_summary() knows"
    assert duration(0) == "0s" and duration(600) == "10m" and duration(5400) == "1h30m" and duration(90) == "1m30s"
    with pytest.raises(KeyError, match="no alert rule 'Nope'"):
        rule("Nope")


def test_docs_table_is_the_rule_table() -> None:
    """docs/metrics.md's table of rules lists each rule as defined (a changed threshold changes the doc)."""
    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    section = doc.split("## Alert rules", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| Ray")]
    want = [f"| {r.name} | {r.severity} | {duration(r.for_s)} | {r.scope} | `{' '.join(r.expr.replace('|', chr(92) + '|').split())}` |"
            for r in RULES]
    assert rows == want


# ------------------------------------------------------------------ the exprs' series exist in real scrapes


def _scraped_names(text: str) -> set[str]:
    """Names with samples, and names declared by `# TYPE` (a family can be empty now: e.g. the per-job
    series while no job runs)."""
    names = {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}
    return names | {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_every_series_the_rules_read_is_scraped(rayscope_cluster: LocalCluster) -> None:
    c = rayscope_cluster
    scraped = _scraped_names(httpx.get(c.http_url + "/metrics", headers={"Authorization": f"Bearer {c.token}"},
                                       timeout=10).text)
    for node in c.state.nodes:
        assert node.agent is not None
        scraped |= _scraped_names(httpx.get(node.agent.metrics_url, timeout=10).text)
    # GPU series exist only on a node with GPUs: our agent's code serves them (tests/test_metrics_prometheus.py
    # checks that name against a scrape fed by the fake NVML); none here
    gpu_only = {"rayscope_gpu_util_ratio"}
    used: set[str] = set()
    for r in RULES:
        names = metric_names(promql_parser.parse(r.expr))
        assert names, r.name
        missing = names - scraped - gpu_only
        assert not missing, f"{r.name}: {sorted(missing)} not in the head's nor an agent's /metrics"
        used |= names
    assert gpu_only <= used


# ------------------------------------------------------------------ the head's series, from what it stored

NODE_A, NODE_B, NODE_C, NODE_D = ("a1" * 28), ("b2" * 28), ("c3" * 28), ("d4" * 28)
JOB = "02000000"


def _node(node_id: str, ip: str, state: str, t: float, reason: str = "", **kw: Any) -> pb.NodeEvent:
    ev = pb.NodeEvent(node_id=node_id, state=state, node_ip=ip, event_time=t, **kw)
    if state == "DEAD":
        ev.end_time_ms = int(t * 1000)
        if reason:
            ev.death_reason = reason
    return ev


def _worker(i: int, node_id: str, exit_type: str) -> pb.WorkerEvent:
    return pb.WorkerEvent(worker_id=f"{i:056x}", node_id=node_id, pid=1000 + i, worker_type="WORKER",
                          is_alive=False, exit_type=exit_type, event_time=time.time())


def test_head_series_say_what_the_store_holds() -> None:
    t0 = time.time() - 1000
    with running_head() as head:
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello("agent-a", NODE_A, node_ip="10.0.0.1", metrics_url="http://10.0.0.1:9100/metrics")
            c.send(pb.Batch(seq=1, created_at=time.time() - 40, nodes=[
                _node(NODE_A, "10.0.0.1", "ALIVE", t0, resources_total={"CPU": 4, "GPU": 2}),
                _node(NODE_B, "10.0.0.2", "ALIVE", t0, resources_total={"CPU": 4}),
                # host .3: C crashed, then D joined and was stopped on purpose: its return ended C's outage
                _node(NODE_C, "10.0.0.3", "DEAD", t0 + 10, "UNEXPECTED_TERMINATION"),
                _node(NODE_D, "10.0.0.3", "DEAD", t0 + 20, "EXPECTED_TERMINATION"),
                # host .4: crashed (E), no return; host .5: drained idle by the autoscaler
                _node("e5" * 28, "10.0.0.4", "DEAD", t0 + 30, "UNEXPECTED_TERMINATION"),
                _node("f6" * 28, "10.0.0.5", "DEAD", t0 + 40, "AUTOSCALER_DRAIN_IDLE")],
                workers=[_worker(1, NODE_A, "NODE_OUT_OF_MEMORY"), _worker(2, NODE_A, "NODE_OUT_OF_MEMORY"),
                         _worker(3, NODE_A, "SYSTEM_ERROR"), _worker(4, NODE_A, "INTENDED_USER_EXIT"),
                         _worker(5, NODE_C, "SYSTEM_ERROR")],
                jobs=[pb.JobEvent(job_id=JOB, is_dead=False, event_time=t0)],
                actors=[pb.ActorEvent(actor_id="ac" * 16, job_id=JOB, state="ALIVE", node_id=NODE_A,
                                      required_resources={"GPU": 1.0, "CPU": 1.0}, event_time=t0)],
                tasks=[task_event(f"{i:048x}", job_id=JOB, name="f", type="NORMAL_TASK", required_resources=req,
                                  states=states, **({"node_id": node} if node else {}))
                       for i, (req, states, node) in enumerate([
                           ({"CPU": 1.0}, {"PENDING_NODE_ASSIGNMENT": t0 + 100}, ""),
                           ({"CPU": 1.0}, {"PENDING_NODE_ASSIGNMENT": t0 + 300}, ""),
                           ({"CPU": 64.0}, {"PENDING_NODE_ASSIGNMENT": t0}, ""),  # no node has 64 CPUs
                           ({"GPU_group_0_" + "9" * 36: 0.5, "GPU_group_" + "9" * 36: 0.5},
                            {"RUNNING": t0 + 5}, NODE_A),
                           ({}, {"RUNNING": t0, "FINISHED": t0 + 1}, NODE_B),
                           ({}, {"RUNNING": t0, "FINISHED": t0 + 1}, NODE_B),
                           ({}, {"RUNNING": t0, "FAILED": t0 + 1}, NODE_B)])],
                drops=[pb.DropReport(source="logs", reason="spool over budget", count=7, bytes=70, ts=time.time())]))
            with head.client() as api:
                text = api.get("/metrics").text
        s = sample_values(text)

        def node(name: str, node_id: str, ip: str, extra: str = "") -> float:
            return s[f'{name}{{node_id="{node_id}",node_ip="{ip}"{extra}}}']

        up = {k: v for k, v in s.items() if k.startswith("rayscope_node_up{")}
        assert up == {f'rayscope_node_up{{node_id="{NODE_A}",node_ip="10.0.0.1"}}': 1,
                      f'rayscope_node_up{{node_id="{NODE_B}",node_ip="10.0.0.2"}}': 1,
                      f'rayscope_node_up{{node_id="{"e5" * 28}",node_ip="10.0.0.4"}}': 0}
        assert node("rayscope_node_agent_connected", NODE_A, "10.0.0.1") == 1
        assert node("rayscope_node_agent_connected", NODE_B, "10.0.0.2") == 0  # alive, no agent ever spoke
        lag = node("rayscope_node_ingest_lag_seconds", NODE_A, "10.0.0.1")
        assert 40 <= lag < 40 + 60  # the batch was made 40 s before it was sent
        exits = {k: v for k, v in s.items() if k.startswith("rayscope_worker_exits_total")}
        assert exits == {
            f'rayscope_worker_exits_total{{exit_type="{t}",node_id="{n}",node_ip="{ip}"}}': v
            for t, n, ip, v in [("NODE_OUT_OF_MEMORY", NODE_A, "10.0.0.1", 2), ("SYSTEM_ERROR", NODE_A, "10.0.0.1", 1),
                                ("USER_ERROR", NODE_A, "10.0.0.1", 0), ("NODE_OUT_OF_MEMORY", NODE_B, "10.0.0.2", 0),
                                ("SYSTEM_ERROR", NODE_B, "10.0.0.2", 0), ("USER_ERROR", NODE_B, "10.0.0.2", 0),
                                ("SYSTEM_ERROR", NODE_C, "10.0.0.3", 1)]}
        # the drop was reported by agent-a, whose node is A; B has none yet
        assert node("rayscope_node_dropped_items_total", NODE_A, "10.0.0.1") == 7
        assert node("rayscope_node_dropped_items_total", NODE_B, "10.0.0.2") == 0
        # the actor's GPU and the placement-group task's half
        assert node("rayscope_node_gpus_reserved", NODE_A, "10.0.0.1") == 1.5
        assert node("rayscope_node_gpus_reserved", NODE_B, "10.0.0.2") == 0
        oldest = s[f'rayscope_job_oldest_pending_task_seconds{{job_id="{JOB}"}}']
        assert 900 - 5 <= oldest < 900 + 60  # the feasible one pending since t0 + 100, not the infeasible one
        assert s[f'rayscope_job_infeasible_tasks{{job_id="{JOB}"}}'] == 1
        assert s[f'rayscope_job_tasks_ended_total{{job_id="{JOB}",state="FINISHED"}}'] == 2
        assert s[f'rayscope_job_tasks_ended_total{{job_id="{JOB}",state="FAILED"}}'] == 1


# ------------------------------------------------------------------ Grafana alerting provisioning

ALERTING_SCHEMA = {
    "type": "object", "required": ["apiVersion", "groups"],
    "properties": {"apiVersion": {"const": 1}, "groups": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["orgId", "name", "folder", "interval", "rules"],
        "properties": {"interval": {"type": "string", "pattern": "^[0-9]+[smh]$"}, "rules": {
            "type": "array", "minItems": 1, "items": {
                "type": "object",
                "required": ["uid", "title", "condition", "data", "for", "noDataState", "execErrState", "annotations",
                             "labels"],
                "properties": {
                    "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
                    "noDataState": {"enum": ["Alerting", "NoData", "OK"]},
                    "execErrState": {"enum": ["Alerting", "Error", "OK"]},
                    "for": {"type": "string", "pattern": "^([0-9]+[smh])+$"},
                    "data": {"type": "array", "minItems": 2, "items": {
                        "type": "object", "required": ["refId", "datasourceUid", "model"]}}}}}}}}}}


def test_grafana_alerting_provisioning(tmp_path: Path) -> None:
    r = subprocess.run([*CLI, "metrics", "grafana-config", "--out", str(tmp_path), "--prometheus-url",
                        "http://127.0.0.1:9090"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "provisioning/alerting/rayscope.yaml"
    assert str(path) in r.stdout.split()
    doc = yaml.safe_load(path.read_text())
    jsonschema.validate(doc, ALERTING_SCHEMA)
    datasource = yaml.safe_load((tmp_path / "provisioning/datasources/rayscope.yaml").read_text())["datasources"][0]
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/rayscope.yaml").read_text())["providers"][0]
    assert datasource["uid"] == DATASOURCE_UID
    group = doc["groups"][0]
    assert group["folder"] == provider["folder"]  # beside the dashboards
    assert [g["title"] for g in group["rules"]] == [x.name for x in RULES]
    assert len({g["uid"] for g in group["rules"]}) == len(RULES)
    for g, x in zip(group["rules"], RULES):
        refs = {d["refId"]: d for d in g["data"]}
        query = refs["A"]
        assert query["datasourceUid"] == datasource["uid"] and query["model"]["expr"] == x.expr
        assert query["relativeTimeRange"]["from"] >= x.window_s
        cond = refs[g["condition"]]
        assert cond["datasourceUid"] == "__expr__" and "$A" in cond["model"]["expression"]
        assert g["for"] == duration(x.for_s) and g["labels"] == {"severity": x.severity}
        assert "$value " not in g["annotations"]["summary"] and "$value}" not in g["annotations"]["summary"]
        assert g["annotations"]["description"] == x.description
    assert grafana_template("{{ $value | humanizePercentage }} of {{ $labels.job_id }}, {{ $value }}") == (
        "{{ humanizePercentage $values.A.Value }} of {{ $labels.job_id }}, {{ $values.A.Value }}")
