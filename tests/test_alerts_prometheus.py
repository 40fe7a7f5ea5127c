"""Issue 15 end to end: a killed worker node reaches a webhook as RayNodeDown, through a real Prometheus
loaded with the exported rules and Debian's Alertmanager routing it.

Its own 2-node cluster (the test kills a node; the session cluster is shared). The worker node runs on
its own loopback address (127.0.0.2): RayNodeDown names a host by its node_ip and stays quiet while any
node of that host is alive, so on one shared address the live head node would cover the dead worker.
Prometheus (1 s scrapes and rule evaluations, the rules' `for` as shipped) scrapes the head and agents
through the configuration `rayscope metrics prometheus-config` writes; Alertmanager, on 127.0.0.1 with
a free port, its own storage and its HA cluster port off, routes critical RayNodeDown alerts to an "oncall"
webhook and everything else to a "default" one, both served by this test. GCS declares a node dead after
its health checks fail; the cluster runs them every 2 s with a threshold of 3, so that takes seconds,
not the default half minute (and a busy 2-core machine's stall of a few seconds is no false death).
Then a node joins on the same host again, and the alert resolves.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
import yaml

from polling import wait_for
from rayscope.alerts.rules import RULES, render_summary, rule
from rayscope.runtime import procs
from rayscope.runtime.local_cluster import LocalCluster, local_cluster
from rayscope.runtime.ports import free_ports
from rayscope.runtime.state import ProcessRecord, load_state

WORKER_IP = "127.0.0.2"
HEALTH_CHECKS = {"RAY_health_check_period_ms": "2000", "RAY_health_check_failure_threshold": "3",
                 "RAY_health_check_timeout_ms": "2000"}


@dataclass(frozen=True)
class Notification:
    path: str  # which receiver's URL: /oncall or /default
    body: dict[str, Any]  # Alertmanager's webhook payload (version 4)


class Webhook:
    """An HTTP server on 127.0.0.1 that queues each POSTed Alertmanager notification."""

    def __init__(self) -> None:
        self.received: "queue.Queue[Notification]" = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                received.put(Notification(self.path, json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next_alert(self, what: str, match: Any, timeout: float,
                   context: Callable[[], str] = lambda: "") -> tuple[Notification, dict[str, Any]]:
        """The first (notification, alert) with match(notification, alert) true; AssertionError after timeout,
        listing what did arrive (and what `context()` says)."""
        seen: list[str] = []

        def probe() -> Any:
            while True:
                try:
                    n = self.received.get_nowait()
                except queue.Empty:
                    return None
                for a in n.body.get("alerts", []):
                    seen.append(f"{n.path} {a['status']} {a['labels'].get('alertname')} {a['labels']}")
                    if match(n, a):
                        return n, a

        return wait_for(what, probe, timeout, context=lambda: "; received: " + " | ".join(seen[-10:]) + context())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Started:
    proc: subprocess.Popen
    log: Path


def _start(argv: list[str], work: Path, name: str) -> Started:
    log = work / f"{name}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Started(proc, log)


def _stop(s: Started) -> None:
    if s.proc.poll() is None:
        s.proc.terminate()
        try:
            s.proc.wait(15)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run ./run setup (it installs Debian's prometheus and "
                    "prometheus-alertmanager)")
    return path


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster(num_cpus=1, worker_args=[f"--node-ip-address={WORKER_IP}"], extra_env=HEALTH_CHECKS) as c:
        yield c


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    w = Webhook()
    try:
        yield w
    finally:
        w.close()


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """Critical RayNodeDown pages "oncall"; the rest goes to "default". Short waits: a test, not a pager."""
    def receiver(name: str) -> dict[str, Any]:
        return {"name": name, "webhook_configs": [{"url": f"{webhook_url}/{name}", "send_resolved": True}]}

    return {
        "route": {"receiver": "default", "group_by": ["alertname", "node_ip"], "group_wait": "1s",
                  "group_interval": "2s", "repeat_interval": "1h",
                  "routes": [{"receiver": "oncall", "matchers": ['alertname="RayNodeDown"', 'severity="critical"']}]},
        "receivers": [receiver("default"), receiver("oncall")],
    }


@dataclass(frozen=True)
class Stack:
    prometheus: str  # its URL
    logs: list[Path]  # Alertmanager's and Prometheus' logs

    def context(self) -> str:
        """What a failed wait reports: Prometheus' alerts now and the tail of each log."""
        try:
            alerts = httpx.get(self.prometheus + "/api/v1/alerts", timeout=5).text[-2000:]
        except httpx.HTTPError as exc:
            alerts = repr(exc)
        return f"; Prometheus' alerts: {alerts}" + "".join(
            f"; {p.name}: {p.read_text(errors='replace')[-1500:]}" for p in self.logs if p.exists())


@pytest.fixture(scope="module")
def stack(cluster: LocalCluster, webhook: Webhook) -> Iterator[Stack]:
    """Alertmanager and Prometheus, configured by the real CLI's files."""
    work = Path(tempfile.mkdtemp(prefix="rs-alerts-", dir="/tmp"))
    am_port, prom_port = free_ports(2)
    started: list[Started] = []
    try:
        (work / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook.url)))
        check = subprocess.run([_tool("amtool"), "check-config", str(work / "alertmanager.yml")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        am_url = f"http://127.0.0.1:{am_port}"
        started.append(_start([_tool("prometheus-alertmanager"), f"--config.file={work / 'alertmanager.yml'}",
                               f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                               "--cluster.listen-address=",  # no HA peers: no gossip port at all
                               "--log.level=warn"], work, "alertmanager"))
        rules = work / "alert_rules.yml"
        r = cluster.cli("metrics", "alert-rules", "--out", str(rules))
        assert r.returncode == 0, r.stderr
        r = cluster.cli("metrics", "prometheus-config", "--scrape-interval", "1s")
        assert r.returncode == 0, r.stderr
        cfg = yaml.safe_load(r.stdout)
        for job in cfg["scrape_configs"]:  # discovery refreshes faster than a user's 10 s, to keep the test short
            for sd in job["http_sd_configs"]:
                sd["refresh_interval"] = "1s"
        cfg["rule_files"] = [str(rules)]
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        prom_url = f"http://127.0.0.1:{prom_port}"
        started.append(_start([_tool("prometheus"), f"--config.file={work / 'prometheus.yml'}",
                               f"--storage.tsdb.path={work / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                               "--log.level=warn"], work, "prometheus"))
        for s, url in zip(started, (am_url, prom_url)):
            wait_for(f"{s.log.stem} ready", lambda: s.proc.poll() is not None or _ready(url), 60)
            assert s.proc.poll() is None, s.log.read_text()[-3000:]
        yield Stack(prom_url, [x.log for x in started])
    finally:
        for s in reversed(started):
            _stop(s)
        shutil.rmtree(work, ignore_errors=True)


def _query(prom: str, q: str) -> list[dict[str, Any]]:
    body = httpx.get(prom + "/api/v1/query", params={"query": q}, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def _kill_node(cluster: LocalCluster, node_id: str) -> None:
    """SIGKILL every process of the node (raylet, its workers, its agent): a crash, not a stop."""
    node = next(n for n in load_state(cluster.home).nodes if n.node_id == node_id)
    victims = node.ray_processes + procs.group_members(node.ray_pgid, node.started_at)
    if node.agent is not None:
        victims.append(ProcessRecord(pid=node.agent.pid, create_time=node.agent.create_time))
    victims += procs.descendants(victims)
    for rec in victims:
        if procs.is_running(rec):
            os.kill(rec.pid, signal.SIGKILL)


def test_killed_worker_node_pages_oncall_and_resolves_when_its_host_returns(
        cluster: LocalCluster, stack: Stack, webhook: Webhook) -> None:
    worker, prom = cluster.worker_node_id, stack.prometheus
    wait_for("Prometheus scraping the worker node's agent and the head's liveness series",
             lambda: _query(prom, f'rayscope_node_cpus{{node_id="{worker}", node_ip="{WORKER_IP}"}}')
             and _query(prom, f'rayscope_node_up{{node_id="{worker}", node_ip="{WORKER_IP}"}} == 1'), 90)
    assert not _query(prom, 'ALERTS{alertname="RayNodeDown"}')
    # every exported rule evaluates without error on the real series (a bad join or label shows here)
    def rules_evaluated() -> list[dict[str, Any]]:
        got = httpx.get(prom + "/api/v1/rules", timeout=10).json()["data"]["groups"][0]["rules"]
        return got if all(r.get("lastEvaluation", "").startswith("20") for r in got) else []
    evaluated = wait_for("every rule evaluated once", rules_evaluated, 30)
    assert [r["name"] for r in evaluated] == [r.name for r in RULES]
    assert [(r["name"], r["health"], r.get("lastError", "")) for r in evaluated] == [
        (r.name, "ok", "") for r in RULES]

    _kill_node(cluster, worker)
    killed = time.monotonic()
    n, alert = webhook.next_alert(
        "RayNodeDown for the killed worker at the oncall webhook",
        lambda n, a: a["labels"].get("alertname") == "RayNodeDown" and a["status"] == "firing", 120,
        stack.context)
    print(f"RayNodeDown at the webhook {time.monotonic() - killed:.1f} s after the kill")
    assert n.path == "/oncall" and n.body["receiver"] == "oncall"  # routed by the matchers, not the default
    labels = alert["labels"]
    assert (labels["node_id"], labels["node_ip"], labels["severity"]) == (worker, WORKER_IP, "critical")
    assert labels["job"] == "rayscope" and labels["component"] == "head"
    assert alert["annotations"]["summary"] == render_summary(rule("RayNodeDown"), labels, 0) == (
        f"Ray node {WORKER_IP} ({worker}) is down")
    assert alert["annotations"]["description"] == rule("RayNodeDown").description
    assert n.body["groupLabels"] == {"alertname": "RayNodeDown", "node_ip": WORKER_IP}
    # the head node is alive: nothing about it
    assert not _query(prom, f'ALERTS{{alertname="RayNodeDown", node_id="{cluster.head_node_id}"}}')

    # a node joins on the same host: the outage is over
    tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    try:
        for _attempt in range(2):  # Ray's own node start-up times out on a loaded 2-core machine: one retry
            r = cluster.cli("start", "--address", cluster.gcs_address, f"--temp-dir={tmp}", "--num-cpus=1",
                            f"--node-ip-address={WORKER_IP}")
            if r.returncode == 0 or "timed out during startup" not in r.stderr + r.stdout:
                break
        assert r.returncode == 0, r.stderr[-3000:]
        joined = time.monotonic()
        n, alert = webhook.next_alert(
            "RayNodeDown resolved at the oncall webhook once a node of its host is back",
            lambda n, a: a["labels"].get("alertname") == "RayNodeDown" and a["status"] == "resolved", 90,
            stack.context)
        print(f"resolved at the webhook {time.monotonic() - joined:.1f} s after the new node's start returned")
        assert n.path == "/oncall" and alert["labels"]["node_id"] == worker
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
