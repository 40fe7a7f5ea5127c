"""Issue 6 end to end: a real Prometheus, real OTLP/gRPC receiver, Grafana lint, ray-memory vs `ray memory`.

One Rayscope cluster for this module (its head needs the OTLP endpoint at start, and one test
kills a node), a Prometheus server (Debian's) on free ports with its own data dir, configured
by the real `rayscope metrics prometheus-config` (both http_sd and file_sd), and the workload
tests/workloads/metrics_workload.py as ground truth.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Iterator, Optional

import grpc
import httpx
import jsonschema
import promql_parser
import psutil
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from ray.core.generated.common_pb2 import TaskStatus

from fake_nvml import FakeDevice, Scenario, make_fake_nvml
from polling import read_line, wait_for
from prom_text import metric_names
from rayscope.agent.collectors.gpu import GpuCollector
from rayscope.agent.metrics_server import NodeMetricsCollector, serve
from rayscope.grafana.dashboards import ALL
from rayscope.grafana.render import dashboard_json, write_provisioning
from rayscope.runtime import procs
from rayscope.runtime.local_cluster import LocalCluster, local_cluster
from rayscope.runtime.ports import free_ports
from rayscope.runtime.state import ProcessRecord, load_state
from rayscope.wire.rayscope_ingest_pb2 import NodeSample

WORKLOAD = str(Path(__file__).parent / "workloads" / "metrics_workload.py")
NESTED_PARENTS = 4
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$session": ".*", "$node": ".*"}


# ------------------------------------------------------------------ fixtures: receiver, cluster, Prometheus


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace endpoint: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list = []

    def Export(self, request, context):  # noqa: N802 - the OTLP service's method name
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                self.spans.extend(ss.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture(scope="module")
def otlp() -> Iterator[tuple[TraceReceiver, int]]:
    receiver = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(0)


@pytest.fixture(scope="module")
def prom_port() -> int:
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def cluster(otlp, prom_port) -> Iterator[LocalCluster]:
    env = {"RAYSCOPE_OTLP_ENDPOINT": f"127.0.0.1:{otlp[1]}", "RAYSCOPE_PROMETHEUS_URL": f"http://127.0.0.1:{prom_port}"}
    with local_cluster(extra_env=env) as c:
        yield c


def _truth(out: str) -> dict:
    line = next(ln for ln in out.splitlines() if ln.startswith("TRUTH "))
    return json.loads(line[len("TRUTH "):])


@pytest.fixture(scope="module")
def nested(cluster: LocalCluster) -> dict:
    r = subprocess.run([sys.executable, WORKLOAD, cluster.gcs_address, "nested", str(NESTED_PARENTS)],
                       env=cluster.env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return _truth(r.stdout)


@pytest.fixture(scope="module")
def holder(cluster: LocalCluster, nested) -> Iterator[dict]:
    """A driver that keeps objects of known sizes referenced for the rest of the module."""
    proc = subprocess.Popen([sys.executable, WORKLOAD, cluster.gcs_address, "hold"], env=cluster.env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = read_line(proc.stdout, 120, "the holder driver's TRUTH line")
        assert line.startswith("TRUTH "), "holder driver did not start"
        yield _truth(line)
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cli_config(cluster: LocalCluster, sd: str) -> dict:
    r = cluster.cli("metrics", "prometheus-config", "--sd", sd, "--scrape-interval", "1s")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


@pytest.fixture(scope="module")
def prometheus(cluster: LocalCluster, prom_port: int, holder) -> Iterator[str]:
    """Debian's Prometheus with the CLI's configs: job `rayscope` (http_sd) and `rayscope-file` (file_sd).
    Only the tests that use it need it; without it they fail (never skip) and the others still run."""
    if shutil.which("prometheus") is None:
        pytest.fail("Debian's prometheus is not installed: run ./run setup (it installs it)")
    http_cfg, file_cfg = _cli_config(cluster, "http"), _cli_config(cluster, "file")
    for cfg in (http_cfg, file_cfg):  # discovery refreshes faster than a user's 10 s, to keep the test short
        for job in cfg["scrape_configs"]:
            for sd in job.get("http_sd_configs", []) + job.get("file_sd_configs", []):
                sd["refresh_interval"] = "2s"
    for job in file_cfg["scrape_configs"]:  # the same targets again, under job="rayscope-file"
        job["job_name"] = job["job_name"].replace("rayscope", "rayscope-file")
        for rule in job["relabel_configs"]:
            if rule.get("target_label") == "job":
                rule["replacement"] = "rayscope-file"
    http_cfg["scrape_configs"] += file_cfg["scrape_configs"]
    work = Path(tempfile.mkdtemp(prefix="rs-prom-", dir="/tmp"))
    (work / "prometheus.yml").write_text(yaml.safe_dump(http_cfg))
    log = open(work / "prometheus.log", "w")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{prom_port}"
    try:
        wait_for("prometheus ready", lambda: proc.poll() is not None or _ready(url), 60)
        assert proc.poll() is None, (work / "prometheus.log").read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def promql(url: str, query: str) -> list[dict]:
    r = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=10)
    body = r.json()
    assert body["status"] == "success", f"{query}: {body}"
    return body["data"]["result"]


def scalar(url: str, query: str) -> Optional[float]:
    res = promql(url, query)
    return float(res[0]["value"][1]) if res else None


def _auth(cluster: LocalCluster) -> dict[str, str]:
    return {"Authorization": f"Bearer {cluster.token}"}


# ------------------------------------------------------------------ Prometheus


def test_prometheus_discovers_every_agent_and_the_head(cluster: LocalCluster, prometheus: str) -> None:
    """Both discovery paths (the head's http_sd endpoint, its file_sd file) find 2 agents + the head."""
    def up() -> dict:
        return {(r["metric"]["job"], r["metric"]["component"]): float(r["value"][1])
                for r in promql(prometheus, "sum by (job, component) (up)")}
    want = {(j, c): n for j in ("rayscope", "rayscope-file") for c, n in (("agent", 2.0), ("head", 1.0))}
    wait_for("every target up in both jobs", lambda: up() == want, 90)
    series = promql(prometheus, 'count by (node_id) (rayscope_node_cpus{job="rayscope"})')
    assert {s["metric"]["node_id"] for s in series} == {cluster.head_node_id, cluster.worker_node_id}


def _api_counts(cluster: LocalCluster) -> dict[tuple[str, str], int]:
    """(task name, state) -> attempts, as the head stored them."""
    rows = httpx.get(cluster.http_url + "/api/v1/tasks/summary", headers=_auth(cluster), timeout=10).json()["rows"]
    return {(r["name"], st): n for r in rows for st, n in r["states"].items()}


TaskKey = tuple[str, int]  # (task_id, attempt)


def _ray_status_name(key: str) -> str:
    """A `state_ts_ns` key (Ray writes the TaskStatus number) as its name, by Ray's own enum."""
    return TaskStatus.Name(int(key)) if key.isdigit() else key


def _written_tasks(cluster: LocalCluster, job_id: str) -> dict[TaskKey, tuple[str, frozenset]]:
    """(name, states) of the job's task attempts in Ray's export files on both nodes: all any tool can know.
    Read with json and base64 here, not with Rayscope's decoder (the code under test): the oracle."""
    names: dict[TaskKey, str] = {}
    states: dict[TaskKey, set[str]] = {}
    for session in (cluster.head_session_dir, cluster.worker_session_dir):
        for path in (session / "logs" / "export_events").glob("event_EXPORT_TASK_*.log"):
            for line in path.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:  # a line Ray is still writing
                    continue
                data = record.get("event_data", {})
                if record.get("source_type") != "EXPORT_TASK":
                    continue
                if base64.b64decode(data.get("job_id", "")).hex() != job_id:
                    continue
                key = (base64.b64decode(data["task_id"]).hex(), int(data.get("attempt_number", 0)))
                names[key] = data.get("task_info", {}).get("func_or_class_name") or names.get(key, "")
                ts = data.get("state_updates", {}).get("state_ts_ns", {})
                states.setdefault(key, set()).update(_ray_status_name(k) for k in ts)
    return {k: (names.get(k, ""), frozenset(v)) for k, v in states.items()}


def _stored_tasks(cluster: LocalCluster, job_id: str) -> dict[TaskKey, tuple[str, frozenset]]:
    rows = httpx.get(cluster.http_url + "/api/v1/tasks", params={"limit": 10000}, headers=_auth(cluster),
                     timeout=10).json()["rows"]
    return {(r["task_id"], r["attempt"]): (r["name"] or "", frozenset(r["state_times"] or ()))
            for r in rows if r["job_id"] == job_id}


def test_head_stores_every_task_ray_wrote(cluster: LocalCluster, nested: dict) -> None:
    """No loss on our side: for the nested job, the head has exactly the task attempts, names and
    states found in Ray's export files on both nodes (children may be missing from both, see the
    next test's docstring)."""
    job = nested["job_id"]
    assert len(_written_tasks(cluster, job)) >= 1 + nested["parents"] + nested["failed"]  # driver-owned: always written
    try:  # files are re-read too: a dying worker may still flush once after the driver returned
        wait_for("the head to store every task state in Ray's export files",
                 lambda: _stored_tasks(cluster, job) == _written_tasks(cluster, job), 60)
    except AssertionError as err:
        written, got = _written_tasks(cluster, job), _stored_tasks(cluster, job)
        diff = {k: (written.get(k), got.get(k)) for k in written.keys() | got.keys() if written.get(k) != got.get(k)}
        raise AssertionError(f"{err}: (files, head) differ for {diff}") from err


def test_promql_returns_what_the_workload_produced(cluster: LocalCluster, prometheus: str, nested: dict,
                                                   holder: dict) -> None:
    """Task counters equal what the workload ran. Exact for the tasks the driver owns; the nested
    children's events come from the parent workers, and when the driver exits Ray force-exits the
    job's workers without flushing their task-event buffer (1 s period), so a child whose owner and
    executor had not flushed yet never reaches the export files (docs/ray-integration.md, "Job end
    loses..."); for those the counters must equal what the head stored, and the head must have
    stored at least one child per parent."""
    q_fin = 'sum(rayscope_tasks_entered_total{job="rayscope", type="NORMAL_TASK", state="FINISHED"})'
    q_fail = 'sum(rayscope_tasks_entered_total{job="rayscope", type="NORMAL_TASK", state="FAILED"})'

    def settled() -> bool:
        api = _api_counts(cluster)
        stored = api.get(("parent", "FINISHED"), 0) + api.get(("child", "FINISHED"), 0)
        return (api.get(("parent", "FINISHED")) == nested["parents"] and api.get(("broken", "FAILED")) == 1
                and api.get(("child", "FINISHED"), 0) >= nested["parents"]
                and scalar(prometheus, q_fin) == stored and scalar(prometheus, q_fail) == nested["failed"])
    try:
        wait_for("Prometheus' task counters to match the workload and the head", settled, 90)
    except AssertionError as err:
        got = promql(prometheus, 'rayscope_tasks_entered_total{job="rayscope"}')
        raise AssertionError(f"{err}: prometheus has {[(s['metric'], s['value'][1]) for s in got]}; "
                             f"api {_api_counts(cluster)}") from err
    finished = scalar(prometheus, q_fin)
    # RUNNING is counted only when the head saw it before the end (deltas may arrive together)
    running = scalar(prometheus, 'sum(rayscope_tasks_entered_total{job="rayscope", type="NORMAL_TASK", '
                                 'state="RUNNING"})')
    assert running is not None and 0 < running <= finished + nested["failed"]
    total = psutil.virtual_memory().total  # both nodes are this host
    mem = promql(prometheus, 'rayscope_node_memory_total_bytes{job="rayscope"}')
    assert len(mem) == 2 and all(float(s["value"][1]) == total for s in mem)
    used = wait_for("the held object in the object store series",
                    lambda: (v := scalar(prometheus, 'max(rayscope_object_store_used_bytes{job="rayscope"})'))
                    and v >= holder["big_bytes"] and v, 60)
    assert used < holder["big_bytes"] * 2


def test_scrape_formats_auth_and_range_endpoint(cluster: LocalCluster, prometheus: str) -> None:
    head = cluster.http_url + "/metrics"
    assert httpx.get(head, timeout=10).status_code == 401  # the token, like every head endpoint
    text = httpx.get(head, headers=_auth(cluster), timeout=10)
    assert text.headers["content-type"].startswith("text/plain") and "# TYPE rayscope_tasks_entered_total counter" in text.text
    om = httpx.get(head, headers={**_auth(cluster), "Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10)
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert "# TYPE rayscope_tasks_entered counter" in om.text and om.text.rstrip().endswith("# EOF")
    agent_url = next(n.agent.metrics_url for n in cluster.state.nodes if n.role == "worker")
    agent_om = httpx.get(agent_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=10)
    assert agent_om.text.rstrip().endswith("# EOF") and "rayscope_node_memory_used_bytes{" in agent_om.text
    # longer chart ranges through the head (the head was started with RAYSCOPE_PROMETHEUS_URL)
    now = time.time()
    r = httpx.get(cluster.http_url + "/api/v1/metrics/prometheus/query_range", headers=_auth(cluster), timeout=30,
                  params={"query": 'rayscope_node_memory_total_bytes{job="rayscope"}', "start": now - 60, "end": now,
                          "step": 5})
    assert r.status_code == 200, r.text
    series = r.json()
    assert {s["metric"]["node_id"] for s in series} == {cluster.head_node_id, cluster.worker_node_id}
    assert all(p[1] == psutil.virtual_memory().total for s in series for p in s["points"])
    bad = httpx.get(cluster.http_url + "/api/v1/metrics/prometheus/query_range", headers=_auth(cluster), timeout=30,
                    params={"query": "sum(", "start": now - 60, "end": now})
    assert bad.status_code == 400 and bad.json()["error"].startswith("prometheus: bad_data")


# ------------------------------------------------------------------ Grafana lint


def _substitute(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def _scraped_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def _fake_gpu_scrape() -> str:
    """The GPU series come from our agent's /metrics code fed by the fake NVML (no GPU here)."""
    sample = NodeSample(ts=time.time(), cpu_percent=1.0, cpu_count=2, mem_total=1, mem_used=1)
    sample.gpus.extend(GpuCollector(nvml=make_fake_nvml(Scenario(devices=[FakeDevice(util_percent=50)]))).sample())
    collector = NodeMetricsCollector("ab" * 28)
    collector.update(node=sample)
    server, url = serve(collector)
    try:
        return httpx.get(url, timeout=10).text
    finally:
        server.shutdown()


PROVIDER_SCHEMA = {
    "type": "object", "required": ["apiVersion", "providers"],
    "properties": {"apiVersion": {"const": 1}, "providers": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "type", "options"],
        "properties": {"type": {"const": "file"}, "options": {"type": "object", "required": ["path"]}}}}}}
DATASOURCE_SCHEMA = {
    "type": "object", "required": ["apiVersion", "datasources"],
    "properties": {"apiVersion": {"const": 1}, "datasources": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["name", "type", "uid", "url", "access"],
        "properties": {"type": {"const": "prometheus"}, "access": {"enum": ["proxy", "direct"]},
                       "url": {"type": "string", "pattern": "^https?://"}}}}}}
DASHBOARD_SCHEMA = {
    "type": "object", "required": ["uid", "title", "panels", "templating", "schemaVersion"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos"],
            "properties": {"gridPos": {"type": "object", "required": ["x", "y", "w", "h"]},
                           "targets": {"type": "array", "items": {"type": "object", "required": ["refId", "expr"]}}}}},
        "templating": {"type": "object", "required": ["list"]}}}


def test_grafana_queries_parse_and_use_scraped_metrics(cluster: LocalCluster, prometheus: str, holder,
                                                       tmp_path: Path) -> None:
    scraped = _scraped_names(httpx.get(cluster.http_url + "/metrics", headers=_auth(cluster), timeout=10).text)
    for node in cluster.state.nodes:
        scraped |= _scraped_names(httpx.get(node.agent.metrics_url, timeout=10).text)
    scraped |= _scraped_names(_fake_gpu_scrape())
    exprs = [(d.uid, p.title, t.expr) for d in ALL for row in d.rows for p in row.panels for t in p.targets]
    assert len({d.uid for d in ALL}) == 6 and len(exprs) > 40
    used: set[str] = set()
    for uid, title, expr in exprs:
        parsed = promql_parser.parse(_substitute(expr))  # raises on a syntax error
        names = metric_names(parsed)
        assert names, f"{uid} / {title}: no metric in {expr}"
        missing = names - scraped
        assert not missing, f"{uid} / {title}: {sorted(missing)} not in any scrape"
        used |= names
        # and the real Prometheus accepts it too
        promql(prometheus, _substitute(expr))
    assert "rayscope_gpu_util_ratio" in used and "rayscope_tasks_entered_total" in used
    # provisioning, as the CLI writes it, passes the schema checks; the JSON is what dashboards.py defines
    r = subprocess.run([sys.executable, "-m", "rayscope.cli.main", "metrics", "grafana-config", "--out", str(tmp_path),
                        "--prometheus-url", prometheus], env=cluster.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    jsonschema.validate(yaml.safe_load((tmp_path / "provisioning/datasources/rayscope.yaml").read_text()),
                        DATASOURCE_SCHEMA)
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/rayscope.yaml").read_text())
    jsonschema.validate(provider, PROVIDER_SCHEMA)
    files = sorted(Path(provider["providers"][0]["options"]["path"]).glob("*.json"))
    assert [f.stem for f in files] == sorted(d.uid for d in ALL)
    for f, d in zip(files, sorted(ALL, key=lambda d: d.uid)):
        doc = json.loads(f.read_text())
        jsonschema.validate(doc, DASHBOARD_SCHEMA)
        assert doc == json.loads(json.dumps(dashboard_json(d)))
    assert sorted(write_provisioning(tmp_path, prometheus).dashboards) == files  # idempotent rewrite


# ------------------------------------------------------------------ OpenTelemetry


def test_otlp_traces_of_a_nested_workload(cluster: LocalCluster, otlp, nested: dict) -> None:
    receiver, _ = otlp
    stored_children = _api_counts(cluster).get(("child", "FINISHED"), 0)  # see the Prometheus test's docstring
    assert stored_children >= nested["parents"]
    want = nested["parents"] + stored_children + nested["failed"]

    def task_spans() -> list:
        return [s for s in list(receiver.spans) if s.name in ("parent", "child", "broken")]

    wait_for(f"{want} task spans and the job span at the OTLP receiver",
             lambda: len({s.span_id for s in task_spans()}) >= want
             and any(s.name.startswith("job ") for s in receiver.spans), 90)
    spans = {s.span_id: s for s in receiver.spans}  # a resend is the same span id
    by_name: dict[str, list] = {}
    for s in spans.values():
        by_name.setdefault(s.name.split(" ")[0], []).append(s)
    job = next(s for s in by_name["job"] if s.attributes and _attr(s, "ray.job_id") == nested["job_id"])
    driver = next(s for s in by_name["driver"] if s.trace_id == job.trace_id)
    assert driver.parent_span_id == job.span_id and not job.parent_span_id
    parents = [s for s in by_name["parent"] if s.trace_id == job.trace_id]
    children = [s for s in by_name["child"] if s.trace_id == job.trace_id]
    assert len(parents) == nested["parents"] and len(children) == stored_children
    assert all(p.parent_span_id == driver.span_id for p in parents)
    parent_ids = {p.span_id for p in parents}
    for c in children:
        assert c.parent_span_id in parent_ids
        assert c.start_time_unix_nano >= spans[c.parent_span_id].start_time_unix_nano
        assert c.end_time_unix_nano <= spans[c.parent_span_id].end_time_unix_nano
    assert all(sum(1 for c in children if c.parent_span_id == p) <= 2 for p in parent_ids)
    with_pid = 0
    for s in parents + children:
        assert s.status.code == s.status.STATUS_CODE_OK and s.end_time_unix_nano >= s.start_time_unix_nano
        (row,) = httpx.get(f"{cluster.http_url}/api/v1/tasks/{_attr(s, 'ray.task_id')}", headers=_auth(cluster),
                           timeout=10).json()
        assert _attr(s, "ray.attempt") == row["attempt"] == 0
        # what the head knew 3 s after the end (the executing worker's deltas can come late, or be lost with it)
        for key, field in (("ray.node_id", "node_id"), ("ray.worker_id", "worker_id"), ("process.pid", "worker_pid")):
            assert _attr(s, key) in (None, row[field]), (key, _attr(s, key), row[field])
        assert _attr(s, "ray.node_id") in (cluster.head_node_id, cluster.worker_node_id)
        with_pid += _attr(s, "process.pid") is not None
    assert with_pid >= 1
    (broken,) = [s for s in by_name["broken"] if s.trace_id == job.trace_id]
    assert broken.status.code == broken.status.STATUS_CODE_ERROR and "ValueError" in broken.status.message


def _attr(span, key: str):
    for kv in span.attributes:
        if kv.key == key:
            v = kv.value
            return getattr(v, v.WhichOneof("value"))
    return None


# ------------------------------------------------------------------ ray-memory


RAY_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(Driver|Worker)\s+.*?\s+(\d+\.\d+) B\s+([A-Z_]+)\s+([0-9a-f]{40,})\s*$")


def _ray_memory_rows(cluster: LocalCluster) -> set[tuple[str, int, str, int]]:
    ray = str(Path(sys.executable).with_name("ray"))
    r = subprocess.run([ray, "memory", "--address", cluster.gcs_address, "--units", "B"],
                       env={**cluster.env, "COLUMNS": "250"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {(m[6], int(float(m[4])), m[5], int(m[2])) for m in map(RAY_ROW.match, r.stdout.splitlines()) if m}
    assert rows, r.stdout
    return rows


def _ours(cluster: LocalCluster, *extra: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).with_name("ray-memory"))
    return subprocess.run([exe, "--address", cluster.http_url, "--token", cluster.token, *extra],
                          env=cluster.env, capture_output=True, text=True, timeout=120)


def _our_rows(cluster: LocalCluster) -> set[tuple[str, int, str, int]]:
    r = _ours(cluster, "--json", "--no-history")
    assert r.returncode == 0, r.stderr
    return {(e["object_id"], e["object_size"], e["reference_type"], e["pid"])
            for g in json.loads(r.stdout)["groups"] for e in g["entries"]}


def test_ray_memory_matches_ray_memory(cluster: LocalCluster, holder: dict) -> None:
    wait_for("the held objects in ray-memory", lambda: set(holder["objects"]) <= {r[0] for r in _our_rows(cluster)}, 60)
    for _ in range(3):  # the agents sample every 5 s: compare a stable moment
        before, theirs, after = _our_rows(cluster), _ray_memory_rows(cluster), _our_rows(cluster)
        if before == after == theirs:
            break
    assert theirs == after, f"ray memory only: {theirs - after}; ray-memory only: {after - theirs}"
    big = next(r for r in after if r[0] == holder["big"])
    assert big[1] >= holder["big_bytes"]
    # text: Ray's blocks, largest first, nothing cut in a narrow terminal
    for cols in ("60", "250"):
        r = subprocess.run([str(Path(sys.executable).with_name("ray-memory")), "--address", cluster.http_url,
                            "--token", cluster.token, "--units", "MB", "--top-callsites", "2", "--no-history"],
                           env={**cluster.env, "COLUMNS": cols}, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        out = r.stdout
        for block in ("--- Summary for node address: ", "--- Object references for node address: ",
                      "--- Aggregate object store stats across all nodes ---", "--- Top "):
            assert block in out, block
        assert all(oid in out for oid in holder["objects"])  # full ids in any width
        sizes = [float(m) for m in re.findall(r"\s(\d+\.\d+(?:e-?\d+)?) MB\s", out.split("--- Object references")[1]
                                              .split("To record")[0])]
        assert sizes == sorted(sizes, reverse=True) and sizes
    assert _ours(cluster, "--sort-by", "nonsense").returncode == 2
    stats = _ours(cluster, "--stats-only")
    assert stats.returncode == 0 and stats.stdout.startswith("======== Object references status: ")
    assert stats.stdout.splitlines()[1] == "--- Aggregate object store stats across all nodes ---"
    assert re.search(r"Plasma memory usage (\d+) MiB, (\d+) objects", stats.stdout)


# ------------------------------------------------------------------ a killed node goes stale (last: it kills)


def test_killed_node_series_go_stale(cluster: LocalCluster, prometheus: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    try:
        for _attempt in range(2):  # Ray's own node start-up times out on a loaded 2-core machine: one retry
            r = cluster.cli("start", "--address", cluster.gcs_address, f"--temp-dir={tmp}", "--num-cpus=1")
            if r.returncode == 0 or "timed out during startup" not in r.stderr + r.stdout:
                break
        assert r.returncode == 0, r.stderr[-3000:]
        node = [n for n in load_state(cluster.home).nodes if n.temp_dir == str(tmp)][-1]
        q = f'rayscope_node_cpus{{job="rayscope", node_id="{node.node_id}"}}'
        wait_for("the new node's series in Prometheus", lambda: promql(prometheus, q), 60)
        assert scalar(prometheus, 'sum(up{job="rayscope", component="agent"})') == 3
        victims = node.ray_processes + procs.group_members(node.ray_pgid, node.started_at)
        victims += [ProcessRecord(pid=node.agent.pid, create_time=node.agent.create_time)]
        victims += procs.descendants(victims)
        for rec in victims:  # SIGKILL: a crash, not a clean stop
            if procs.is_running(rec):
                os.kill(rec.pid, signal.SIGKILL)
        wait_for("the killed node's series to go stale", lambda: not promql(prometheus, q), 60)
        assert promql(prometheus, f'rayscope_node_cpus{{job="rayscope", node_id="{cluster.head_node_id}"}}')
        wait_for("the killed agent gone from discovery",
                 lambda: scalar(prometheus, 'count(up{job="rayscope", component="agent"})') == 2, 30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
