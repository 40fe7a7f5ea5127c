"""The head's own alert evaluator (dashboard/alerting/, docs/alerts.md).

- The state machine (machine.py) on its own: pending -> firing after `for_s`, a pending alert that clears
  is forgotten, a firing one resolves, nothing is written when nothing changed.
- Every rule of alerts/rules.py has a head condition, and each condition judged over a store filled
  through the real ingest path (a real head fed over gRPC as agents feed it): what crosses the rule's
  threshold is found, what does not is not.
- A real head's evaluator end to end: a node GCS declares dead fires RayNodeDown (API, WebSocket delta,
  `rayscope alerts --json`, a real Alertmanager routing it to a webhook receiver), the web UI shows the
  banner and the Alerts page (screenshot alerts.png), a restarted head keeps the alert, and a node joining
  from the same host resolves it everywhere. An unreachable Alertmanager is logged once and counted.
- A real two-host cluster whose worker host is killed, where the head fires RayNodeDown within 60 s and
  resolves it when the host returns, shares its one cluster, kill and return with Prometheus' path in
  tests/test_alerts_prometheus.py.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import pytest
import websockets.sync.client as ws_client

from browser import Browser, Tab
from head_process import IngestClient, running_head, start_head, task_event
from polling import wait_for, wait_or_kill
from rayscope.alerts.rules import RULES, AlertRule, rule
from rayscope.dashboard.alerting.conditions import CONDITIONS, SAMPLE_STALE_S, Memory
from rayscope.dashboard.alerting.machine import Observation, step
from rayscope.dashboard.store.apply_alerts import apply_alert_changes, open_alerts
from rayscope.dashboard.store.connection import open_reader, open_writer
from rayscope.dashboard.store.retention import RetentionPolicy, enforce
from rayscope.runtime.ports import free_ports
from rayscope.wire import rayscope_ingest_pb2 as pb

CLI = [sys.executable, "-m", "rayscope.cli.main"]
WAIT_S = 60.0  # the bound for RayNodeDown after a node dies


# ------------------------------------------------------------------ the state machine

def _rule(for_s: int) -> AlertRule:
    return AlertRule(name="RayTest", severity="warning", for_s=for_s, scope="node",
                     summary="{{ $labels.node_ip }} at {{ $value | humanizePercentage }}", description="d", expr="x > 1")


def _obs(key: str, value: float = 0.95) -> Observation:
    return Observation(key=key, value=value, labels={"node_id": key * 4, "node_ip": f"10.0.0.{len(key)}"})


def test_pending_fires_after_for_s_and_resolves() -> None:
    r = _rule(for_s=300)
    [c] = step(r, {}, [_obs("a")], now=1000.0)
    assert (c.record.state, c.record.since, c.visible, c.record.active_since) == ("pending", None, False, 1000.0)
    opened = {"a": c.record}
    assert step(r, opened, [_obs("a")], now=1100.0) == []  # still pending, nothing changed: no write
    [c] = step(r, opened, [_obs("a", 0.97)], now=1299.0)  # the value moved: stored, not shown (pending)
    assert (c.record.state, c.visible) == ("pending", False)
    opened = {"a": c.record}
    [c] = step(r, opened, [_obs("a", 0.97)], now=1300.0)
    assert (c.record.state, c.record.since, c.visible) == ("firing", 1300.0, True)
    assert c.record.summary == "10.0.0.1 at 97%"
    assert c.record.labels == {"alertname": "RayTest", "severity": "warning", "node_id": "aaaa", "node_ip": "10.0.0.1"}
    opened = {"a": c.record}
    [c] = step(r, opened, [], now=1400.0)
    assert (c.record.state, c.record.resolved_at, c.record.since, c.visible) == ("resolved", 1400.0, 1300.0, True)
    assert c.record.alert_id == opened["a"].alert_id


def test_a_pending_alert_that_clears_is_forgotten_and_for_0_fires_at_once() -> None:
    [c] = step(_rule(for_s=300), {}, [_obs("a")], now=1000.0)
    [gone] = step(_rule(for_s=300), {"a": c.record}, [], now=1010.0)
    assert gone.dropped and not gone.visible
    [c] = step(_rule(for_s=0), {}, [_obs("a"), _obs("a", 0.5)], now=1000.0)  # one alert per key: the first wins
    assert (c.record.state, c.record.since, c.record.value, c.visible) == ("firing", 1000.0, 0.95, True)


def test_every_rule_has_a_head_condition() -> None:
    assert set(CONDITIONS) == {r.name for r in RULES}


def test_stored_alerts_resume_and_retention_keeps_what_is_open(tmp_path: Path) -> None:
    """The open alerts a head reads back at start are those it stored; retention deletes only resolved
    ones older than the samples' policy."""
    conn = open_writer(tmp_path / "head.db")
    r = _rule(for_s=60)
    pending = step(r, {}, [_obs("a")], now=1000.0)
    firing = step(_rule(for_s=0), {}, [_obs("bb")], now=1000.0)
    old = step(_rule(for_s=0), {}, [_obs("ccc")], now=1000.0)
    old = step(r, {"ccc": old[0].record}, [], now=2000.0)
    apply_alert_changes(conn, pending + firing + old)
    assert {(a.key, a.state) for a in open_alerts(conn)} == {("a", "pending"), ("bb", "firing")}
    assert open_alerts(conn)[0] in (pending[0].record, firing[0].record)
    assert enforce(conn, RetentionPolicy(sample_hours=1), now=2000.0 + 3601) == 1
    assert {a.key for a in open_alerts(conn)} == {"a", "bb"}
    assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 2
    conn.close()


# ------------------------------------------------------------------ conditions over a real head's store

NOW = time.time()
A, B, C, D, E = ("a1" * 28, "b2" * 28, "c3" * 28, "d4" * 28, "e5" * 28)
IP = {A: "10.9.0.1", B: "10.9.0.2", C: "10.9.0.3", D: "10.9.0.4", E: "10.9.0.5"}
JOB_GPU, JOB_WAIT, JOB_FAIL = "01000000", "02000000", "03000000"
GIB = 1 << 30


def _node(node_id: str, state: str = "ALIVE", **kw: Any) -> pb.NodeEvent:
    return pb.NodeEvent(node_id=node_id, state=state, node_ip=IP[node_id], event_time=time.time(),
                        start_time_ms=int((NOW - 3600) * 1000), **kw)


def _sample(ts: float, mem: float, disk: float, gpu_util: Optional[float] = None) -> pb.NodeSample:
    gpus = [pb.GpuSample(index=0, utilization_ratio=gpu_util, memory_total=GIB)] if gpu_util is not None else []
    return pb.NodeSample(ts=ts, cpu_percent=10, mem_total=100 * GIB, mem_used=int(mem * 100 * GIB),
                         disk_total=100 * GIB, disk_used=int(disk * 100 * GIB), gpus=gpus)


def _store(ts: float, used: float, spilled: int) -> pb.ObjectStoreSample:
    return pb.ObjectStoreSample(ts=ts, used_bytes=int(used * GIB), capacity_bytes=GIB, spilled_bytes_total=spilled)


@dataclass
class Fed:
    """A head fed through the real wire by agents whose streams stay open (so they count as connected),
    and a reader of its store for judging conditions."""

    head: Any
    conn: sqlite3.Connection
    agents: dict[str, tuple[IngestClient, list[int]]] = field(default_factory=dict)

    def send(self, agent: str, node_id: str, **batch: Any) -> None:
        if agent not in self.agents:
            c = IngestClient(self.head.grpc_address, self.head.token).__enter__()
            self.agents[agent] = (c, [c.hello(agent, node_id, node_ip=IP[node_id])])
        c, seq = self.agents[agent]
        seq[0] += 1
        assert c.send(pb.Batch(seq=seq[0], created_at=batch.pop("created_at", time.time()), **batch)) == seq[0]

    def close(self) -> None:
        for c, _ in self.agents.values():
            c.__exit__(None, None, None)
        self.conn.close()

    def judge(self, name: str, memory: Optional[Memory] = None) -> dict[str, Observation]:
        r = rule(name)
        return {o.key: o for o in CONDITIONS[name].find(self.conn, r, time.time(), memory or Memory())}


@pytest.fixture(scope="module")
def fed() -> Iterator[Fed]:
    """Node A (head node: its agent ships GCS's node, job and worker tables) is short of memory and disk, its
    object store nearly full and spilling; node B has an idle GPU a running task holds; C is alive without an
    agent; D died unexpectedly and E was stopped on purpose. Its --alertmanager-url points at a closed port."""
    [closed] = free_ports(1)
    with running_head(extra_args=["--alertmanager-url", f"http://127.0.0.1:{closed}", "--alert-eval-s", "1"]) as head:
        f = Fed(head, open_reader(head.db_path))
        now = time.time()
        f.send("agent-a", A, nodes=[_node(A, is_head_node=True), _node(B, resources_total={"CPU": 4, "GPU": 1}),
                                    _node(C), _node(D, state="DEAD", death_reason="UNEXPECTED_TERMINATION",
                                                    end_time_ms=int(now * 1000)),
                                    _node(E, state="DEAD", death_reason="EXPECTED_TERMINATION",
                                          end_time_ms=int(now * 1000))],
               jobs=[pb.JobEvent(job_id=j, is_dead=False, event_time=now) for j in (JOB_GPU, JOB_WAIT, JOB_FAIL)],
               node_samples=[_sample(now - 1, mem=0.95, disk=0.93)],
               object_store=[_store(now - 400, 0.5, 0), _store(now - 1, 0.96, 3_000_000)],
               tasks=[task_event("f0" * 24, JOB_GPU, name="train", node_id=B, required_resources={"GPU": 1.0},
                                 states={"PENDING_NODE_ASSIGNMENT": now - 20, "RUNNING": now - 10}),
                      task_event("f1" * 24, JOB_WAIT, name="wait", required_resources={"CPU": 1.0},
                                 states={"PENDING_NODE_ASSIGNMENT": now - 700}),
                      task_event("f2" * 24, JOB_WAIT, name="huge", required_resources={"TPU": 8.0},
                                 states={"PENDING_NODE_ASSIGNMENT": now - 5})])
        f.send("agent-b", B, node_samples=[_sample(now - 1, mem=0.5, disk=0.1, gpu_util=0.01)])
        try:
            yield f
        finally:
            f.close()


def test_node_figures_cross_their_thresholds(fed: Fed) -> None:
    mem, disk = fed.judge("RayNodeMemoryPressure"), fed.judge("RayNodeDiskFull")
    assert set(mem) == {A} and mem[A].value == pytest.approx(0.95) and mem[A].labels["node_ip"] == IP[A]
    assert set(disk) == {A} and disk[A].value == pytest.approx(0.93)
    full = fed.judge("RayObjectStoreNearlyFull")
    assert set(full) == {A} and full[A].value == pytest.approx(0.96)
    spill = fed.judge("RayObjectSpilling")  # 3 MB over the 399 s between the two samples
    assert set(spill) == {A} and spill[A].value == pytest.approx(3_000_000 / 399, rel=0.01)
    gpu = fed.judge("RayGPUReservedButIdle")
    assert set(gpu) == {B} and gpu[B].value == 1.0  # one GPU reserved, its utilization 1% < 5%


def test_stale_samples_judge_nothing(fed: Fed) -> None:
    r = rule("RayNodeMemoryPressure")
    later = time.time() + SAMPLE_STALE_S + 5
    assert CONDITIONS[r.name].find(fed.conn, r, later, Memory()) == []


def test_liveness_node_down_by_host_and_agent_down(fed: Fed) -> None:
    down = fed.judge("RayNodeDown")
    assert set(down) == {IP[D]} and down[IP[D]].labels == {"node_id": D, "node_ip": IP[D]}  # E was stopped on purpose
    fed.send("agent-a", A)  # A's and B's agents stream (an empty batch: they spoke just now); C has none
    fed.send("agent-b", B)
    assert set(fed.judge("RayscopeAgentDown")) == {C}


def test_tasks_pending_long_and_infeasible_per_job(fed: Fed) -> None:
    pending = fed.judge("RayTasksPendingTooLong")
    assert set(pending) == {JOB_WAIT} and pending[JOB_WAIT].value == pytest.approx(700, abs=30)
    infeasible = fed.judge("RayTasksInfeasible")
    assert set(infeasible) == {JOB_WAIT} and infeasible[JOB_WAIT].value == 1.0


def test_counters_over_a_window_failures_oom_kills_and_drops(fed: Fed) -> None:
    """Each counter's increase from the condition's own snapshot of the previous round."""
    names = ("RayTaskFailureRate", "RayOOMKills", "RayWorkerFailures", "RayscopeDataDropped")
    memories = {n: Memory() for n in names}
    for n in names:
        assert fed.judge(n, memories[n]) == {}  # the first round is the baseline
    now = time.time()
    ended = [task_event(f"{i:048x}", JOB_FAIL, name="flaky", states={"RUNNING": now - 2, state: now - 1})
             for i, state in enumerate(["FAILED"] * 5 + ["FINISHED"] * 20)]
    workers = [pb.WorkerEvent(worker_id=f"{i:056x}", node_id=A, pid=100 + i, worker_type="WORKER", is_alive=False,
                              exit_type=t, end_time=now - 1, event_time=now)
               for i, t in enumerate(["NODE_OUT_OF_MEMORY"] * 2 + ["SYSTEM_ERROR"])]
    fed.send("agent-a", A, tasks=ended, workers=workers,
             drops=[pb.DropReport(source="logs", reason="spool over budget", count=7, bytes=700, ts=now)])
    rate = fed.judge("RayTaskFailureRate", memories["RayTaskFailureRate"])
    assert set(rate) == {JOB_FAIL} and rate[JOB_FAIL].value == pytest.approx(5 / 25)
    assert {k: o.value for k, o in fed.judge("RayOOMKills", memories["RayOOMKills"]).items()} == {A: 2.0}
    assert {k: o.value for k, o in fed.judge("RayWorkerFailures", memories["RayWorkerFailures"]).items()} == {A: 1.0}
    assert {k: o.value for k, o in fed.judge("RayscopeDataDropped", memories["RayscopeDataDropped"]).items()} == {A: 7.0}


def test_ingest_lag_of_an_agent_sending_old_batches(fed: Fed) -> None:
    assert fed.judge("RayscopeIngestLag") == {}
    fed.send("agent-c", C, created_at=time.time() - 120)  # C's agent connects with a backlog two minutes old
    lag = fed.judge("RayscopeIngestLag")
    assert set(lag) == {C} and lag[C].value == pytest.approx(120, abs=15)


def test_the_head_fires_while_alertmanager_is_unreachable_and_says_so_once(fed: Fed) -> None:
    """Its own evaluator (every second here) fires RayNodeDown for D's host; every POST to the closed
    port fails, is counted, and is logged once."""
    def firing() -> list[dict]:
        return [a for a in fed.head.get("/alerts").json()["rows"] if a["name"] == "RayNodeDown"]

    [down] = wait_for("RayNodeDown for D's host at GET /alerts", firing, WAIT_S)
    assert (down["state"], down["severity"], down["node_ip"], down["node_id"]) == ("firing", "critical", IP[D], D)
    assert down["summary"] == f"Ray node {IP[D]} ({D}) is down"
    metrics = httpx.get(fed.head.http_url + "/metrics", headers={"Authorization": f"Bearer {fed.head.token}"}).text
    assert re.search(r'^rayscope_head_alerts_firing\{alertname="RayNodeDown"\} 1\.0$', metrics, re.M)
    wait_for("a failed POST to the closed Alertmanager port, counted",
             lambda: re.search(r"^rayscope_head_alertmanager_post_failures_total [1-9]", httpx.get(
                 fed.head.http_url + "/metrics", headers={"Authorization": f"Bearer {fed.head.token}"}).text, re.M), 30)
    assert fed.head.log_text().count("did not take") == 1, fed.head.log_text()[-3000:]


# ------------------------------------------------------------------ a real head, Alertmanager and the web UI

class _Receiver(BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: keeps every notification's JSON body."""

    got: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


AM_CONFIG = """
route:
  receiver: webhook
  group_by: [alertname, node_ip]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: webhook
  webhook_configs:
  - url: {url}
    send_resolved: true
"""


@dataclass
class Delivery:
    am_url: str
    receiver: type[_Receiver]

    def notified(self, status: str, node_ip: str) -> list[dict]:
        """The webhook notifications Alertmanager sent with an alert of this status for that host."""
        return [n for n in self.receiver.got for a in n["alerts"]
                if a["status"] == status and a["labels"].get("alertname") == "RayNodeDown"
                and a["labels"].get("node_ip") == node_ip]


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivery]:
    """Debian's prometheus-alertmanager (./run setup installs it), routing everything to a webhook receiver
    served by this test."""
    receiver = type("Receiver", (_Receiver,), {"got": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    d = tmp_path_factory.mktemp("alertmanager")
    (d / "am.yml").write_text(AM_CONFIG.format(url=f"http://127.0.0.1:{server.server_address[1]}/"))
    [port] = free_ports(1)
    am = subprocess.Popen(["prometheus-alertmanager", f"--config.file={d / 'am.yml'}", f"--storage.path={d}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=open(d / "am.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("Alertmanager ready", lambda: am.poll() is None and _ok(url + "/-/ready"), 30,
                 context=lambda: (d / "am.log").read_text(errors="replace")[-2000:])
        yield Delivery(url, receiver)
    finally:
        am.terminate()
        wait_or_kill(am, 10)
        server.shutdown()


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


HOST_H, HOST_W = "10.8.0.1", "10.8.0.2"
H, W1, W2 = "11" * 28, "22" * 28, "33" * 28


@dataclass
class Live:
    head: Any
    workdir: Path
    args: list[str]


@pytest.fixture(scope="module")
def live(delivery: Delivery, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A head whose evaluator runs every second and posts to the real Alertmanager; its head node H and a
    worker node W1 on another host are alive."""
    workdir = tmp_path_factory.mktemp("live-head")
    args = ["--alertmanager-url", delivery.am_url, "--alert-eval-s", "1"]
    head = start_head(workdir=workdir, extra_args=args)
    try:
        _gcs(head, pb.NodeEvent(node_id=H, state="ALIVE", node_ip=HOST_H, is_head_node=True, event_time=time.time(),
                                start_time_ms=int((time.time() - 60) * 1000)),
             pb.NodeEvent(node_id=W1, state="ALIVE", node_ip=HOST_W, event_time=time.time(),
                          start_time_ms=int((time.time() - 50) * 1000)))
        yield Live(head, workdir, args)
    finally:
        head.stop()


def _gcs(head: Any, *nodes: pb.NodeEvent) -> None:
    """Node events as the head node's agent ships GCS's node table."""
    with IngestClient(head.grpc_address, head.token) as c:
        seq = c.hello("agent-h", H, node_ip=HOST_H)
        assert c.send(pb.Batch(seq=seq + 1, nodes=list(nodes), created_at=time.time())) == seq + 1


def _alerts(head: Any, state: str = "firing") -> list[dict]:
    return head.get("/alerts", state=state).json()["rows"]


def _node_down(head: Any, state: str = "firing") -> list[dict]:
    """RayNodeDown's alerts only: the test's nodes have no agents, so RayscopeAgentDown fires too if the
    module runs longer than its `for` (2 minutes)."""
    return [a for a in _alerts(head, state) if a["name"] == "RayNodeDown"]


def _cli_alerts(head: Any, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # not a terminal: the table is not cut
    return subprocess.run([*CLI, "alerts", "--address", head.http_url, "--token", head.token, *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_node_down_fires_everywhere(live: Live, delivery: Delivery) -> None:
    head = live.head
    assert _node_down(head) == []
    url = head.http_url.replace("http://", "ws://") + f"/api/v1/ws?token={head.token}"
    with ws_client.connect(url, open_timeout=10) as ws:
        wait_for("the hub to register the WebSocket client", lambda: re.search(
            r"^rayscope_head_websocket_clients 1\.0$", httpx.get(
                head.http_url + "/metrics", headers={"Authorization": f"Bearer {head.token}"}).text, re.M), 10)
        died = time.time()
        _gcs(head, pb.NodeEvent(node_id=W1, state="DEAD", node_ip=HOST_W, event_time=died,
                                death_reason="UNEXPECTED_TERMINATION", death_message="health check failed",
                                end_time_ms=int(died * 1000)))
        deltas: list[dict] = []

        def alert_delta() -> Optional[dict]:
            msg = json.loads(ws.recv(timeout=WAIT_S))
            deltas.append(msg)
            return msg if msg["kind"] == "alerts" else None

        msg = wait_for("a WebSocket delta of kind alerts", alert_delta, WAIT_S, every=0, context=lambda: str(deltas[-5:]))
    [pushed] = msg["rows"]
    [a] = _node_down(head)
    assert pushed == a
    assert (a["name"], a["state"], a["severity"], a["node_ip"], a["node_id"]) == (
        "RayNodeDown", "firing", "critical", HOST_W, W1)
    assert a["since"] >= died and a["resolved_at"] is None
    assert a["labels"] == {"alertname": "RayNodeDown", "severity": "critical", "node_id": W1, "node_ip": HOST_W}
    assert "no live node has joined from its host" in a["description"]

    res = _cli_alerts(head, "--json")
    assert res.returncode == 0, res.stderr
    [row] = [r for r in json.loads(res.stdout) if r["name"] == "RayNodeDown"]
    assert {k: row[k] for k in ("name", "state", "severity", "summary", "since", "node_ip", "node_id", "job_id")} == {
        k: a[k] for k in ("name", "state", "severity", "summary", "since", "node_ip", "node_id", "job_id")}
    table = _cli_alerts(head)
    assert table.returncode == 0 and "firing (1 critical" in table.stdout and "RayNodeDown" in table.stdout
    assert HOST_W in table.stdout, table.stdout

    # Alertmanager took it (its own API lists it) and routed it to the webhook receiver
    [notice] = wait_for("Alertmanager's webhook notification of RayNodeDown",
                        lambda: delivery.notified("firing", HOST_W)[:1], 30,
                        context=lambda: f"{delivery.receiver.got} {head.log_text()[-2000:]}")
    routed = next(x for x in notice["alerts"] if x["labels"]["alertname"] == "RayNodeDown")
    assert routed["labels"] == a["labels"] and routed["annotations"]["summary"] == a["summary"]
    am_alerts = httpx.get(delivery.am_url + "/api/v2/alerts", timeout=10).json()
    [held] = [x for x in am_alerts if x["labels"].get("alertname") == "RayNodeDown"]
    assert held["status"]["state"] == "active" and held["generatorURL"] == head.http_url + "/alerts"


def test_web_ui_banner_and_alerts_page(live: Live, browser: Browser) -> None:
    [a] = _node_down(live.head)
    n = len(_alerts(live.head))
    tab: Tab = browser.tab(f"{live.head.http_url}/#token={live.head.token}")
    banner = tab.page.wait_for_selector("[data-testid=alert-banner]")
    assert banner.get_attribute("data-count") == str(n) and banner.get_attribute("data-severity") == "critical"
    assert "RayNodeDown" in banner.inner_text() and a["summary"] in banner.inner_text()
    tab.open("/jobs", "page-jobs")  # every page carries it
    tab.page.wait_for_selector("[data-testid=alert-banner]")
    tab.page.click("[data-testid=alert-banner] a")
    tab.page.wait_for_selector("[data-testid=page-alerts]")
    row = tab.page.wait_for_selector("[data-testid=alerts-firing] tbody tr")  # the most severe first
    text = row.inner_text()
    assert "RayNodeDown" in text and "critical" in text and HOST_W in text and "firing" in text
    assert row.query_selector(f"a[href='/nodes/{W1}']") is not None
    assert tab.page.get_attribute("nav a[href='/alerts']", "class") == "nav active"
    tab.page.wait_for_selector(".live.on")  # the live feed is connected
    tab.shot("alerts")
    assert tab.take_errors() == []


def test_a_restarted_head_keeps_the_alert_and_a_returning_host_resolves_it(live: Live, delivery: Delivery) -> None:
    [before] = _alerts(live.head)
    live.head.stop()
    live.head = start_head(workdir=live.workdir, extra_args=live.args)
    assert _node_down(live.head) == [before]  # same episode: same id, same since
    # the restarted evaluator's rounds change nothing while the host stays down
    wait_for("a few rounds of the restarted evaluator", lambda: re.search(
        r"^rayscope_head_alert_evaluations_total ([3-9]|\d\d)", httpx.get(
            live.head.http_url + "/metrics", headers={"Authorization": f"Bearer {live.head.token}"}).text, re.M), 30)
    assert _node_down(live.head) == [before]

    back = time.time()
    _gcs(live.head, pb.NodeEvent(node_id=W2, state="ALIVE", node_ip=HOST_W, event_time=back,
                                 start_time_ms=int(back * 1000)))
    [done] = wait_for("RayNodeDown resolved", lambda: _node_down(live.head, "resolved"), WAIT_S)
    assert (done["alert_id"], done["state"], done["since"]) == (before["alert_id"], "resolved", before["since"])
    assert done["resolved_at"] >= back and _node_down(live.head) == []
    assert [x["alert_id"] for x in _node_down(live.head, "all")] == [before["alert_id"]]
    res = _cli_alerts(live.head, "--all", "--json")
    assert res.returncode == 0, res.stderr
    assert [(r["alert_id"], r["state"]) for r in json.loads(res.stdout) if r["name"] == "RayNodeDown"] == [
        (before["alert_id"], "resolved")]
    wait_for("Alertmanager's resolved notification", lambda: delivery.notified("resolved", HOST_W), 30,
             context=lambda: str(delivery.receiver.got))


def test_history_mode_shows_the_stored_alerts_and_evaluates_nothing(live: Live, tmp_path: Path) -> None:
    """A finished cluster's store (a copy of the live one) served with --history: the alerts as they were
    stored, and no evaluator (nothing is "now" in a gone cluster)."""
    copy = tmp_path / "history.db"
    with sqlite3.connect(live.head.db_path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    stored = _alerts(live.head, "all")
    assert stored
    with running_head(db_path=copy, history=True) as hist:
        assert _alerts(hist, "all") == stored
        metrics = httpx.get(hist.http_url + "/metrics", headers={"Authorization": f"Bearer {hist.token}"}).text
        assert "rayscope_head_alert_evaluations_total" not in metrics


def test_bad_alertmanager_url_is_one_line() -> None:
    for where in ([sys.executable, "-m", "rayscope.dashboard", "--db", "/nonexistent/x.db", "--token-file", "/tmp/t"],
                  [*CLI, "start", "--head"]):
        res = subprocess.run([*where, "--alertmanager-url", "alertmanager:9093"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "RAYSCOPE_HOME": "/nonexistent-rayscope-home"})
        assert res.returncode != 0
        assert "--alertmanager-url must be http://HOST:PORT" in res.stderr.strip().splitlines()[-1], res.stderr
