"""Issue 15 end to end: a killed worker host raises RayNodeDown at the head's own evaluator (API and
`rayscope alerts --json`, within the issue's 60 s) and, through a real Prometheus loaded with the exported
rules, at Debian's Alertmanager, which routes it to a webhook; when a node joins from that host again,
both resolve. One cluster, one kill, one return serve both paths (the slow part is Ray's own: starting
nodes and waiting out GCS's health checks).

The cluster is two "hosts" (network namespaces joined by one link, tests/netns_hosts.py): the head on
host 1, a worker node on host 2. Killing host 2 SIGKILLs every process in its namespace, as a machine
that loses power. RayNodeDown names a host by its node_ip and stays quiet while any node of that host
is alive. Ray's health-check settings are its defaults, so the 60 s is what a user gets.

Prometheus (1 s scrapes and rule evaluations, the rules' `for` as shipped; configured by
`rayscope metrics prometheus-config` and `metrics alert-rules`), Alertmanager and the webhook all run
inside host 1, on its own 127.0.0.1: Prometheus scrapes the head there and host 2's agent over the link,
and nothing the test starts listens in the root namespace. Alertmanager (its own storage, HA cluster
port off) routes critical RayNodeDown alerts to an "oncall" webhook and everything else to "default".
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
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from netns_hosts import Host, hosts_for_test
from polling import wait_for
from rayscope.alerts.rules import RULES, render_summary, rule
from rayscope.runtime.ports import free_ports
from rayscope.runtime.state import load_state, local_head

WAIT_S = 60.0  # the bound for the head's RayNodeDown after a node dies
GCS_PORT = 6379  # each host is a fresh namespace: Ray's default port is free there


@dataclass(frozen=True)
class Notification:
    path: str  # which receiver's URL: /oncall or /default
    body: dict[str, Any]  # Alertmanager's webhook payload (version 4)


class Webhook:
    """An HTTP server on `host`'s own 127.0.0.1 that queues each POSTed Alertmanager notification."""

    def __init__(self, host: Host) -> None:
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

        self.server = host.inside(lambda: ThreadingHTTPServer(("127.0.0.1", 0), Handler))
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


def _start(host: Host, argv: list[str], work: Path, name: str) -> Started:
    log = work / f"{name}.log"
    with open(log, "w") as out:  # `ip netns exec` execs the program: proc.pid is its pid
        proc = host.popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Started(proc, log)


def _stop(s: Started) -> None:
    if s.proc.poll() is None:
        s.proc.terminate()
        try:
            s.proc.wait(15)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run ./run setup (it installs Debian's prometheus and "
                    "prometheus-alertmanager)")
    return path


@dataclass(frozen=True)
class Cluster:
    head: Host  # host 1: the head node, its head service and agent (and the test's Prometheus stack)
    worker: Host  # host 2: one worker node and its agent
    head_node_id: str
    worker_node_id: str
    join: list[str]  # `rayscope start` arguments that join a node from host 2

    def start_worker(self, temp_dir: str) -> None:
        for _attempt in range(2):  # Ray's own node start-up times out on a loaded 2-core machine: one retry
            res = self.worker.cli(*self.join, f"--temp-dir={temp_dir}")
            if res.returncode == 0 or "timed out during startup" not in res.stderr + res.stdout:
                break
        assert res.returncode == 0, f"rayscope start --address on host 2:\n{res.stdout}\n{res.stderr[-3000:]}"


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[list[Host]]:
    with hosts_for_test(2) as made:
        yield made


@pytest.fixture(scope="module")
def cluster(two_hosts: list[Host]) -> Cluster:
    """A head on host 1 and a worker node on host 2, both through the real CLI (stopped by hosts()' teardown)."""
    h1, h2 = two_hosts
    res = h1.cli("start", "--head", f"--port={GCS_PORT}", f"--node-ip-address={h1.ip}", "--num-cpus=1",
                 f"--temp-dir={h1.tmp}", "--include-dashboard=false")
    assert res.returncode == 0, f"rayscope start --head on host 1:\n{res.stdout}\n{res.stderr}"
    [head_node] = load_state(h1.home).nodes
    c = Cluster(h1, h2, head_node.node_id, "",
                ["start", f"--address={h1.ip}:{GCS_PORT}", f"--node-ip-address={h2.ip}", "--num-cpus=1"])
    c.start_worker(str(h2.tmp))
    [worker] = load_state(h2.home).nodes
    return replace(c, worker_node_id=worker.node_id)


@pytest.fixture(scope="module")
def webhook(cluster: Cluster) -> Iterator[Webhook]:
    w = Webhook(cluster.head)
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
    host: Host  # where Prometheus and Alertmanager run (host 1)
    prometheus: str  # its URL, on that host's 127.0.0.1
    logs: list[Path]  # Alertmanager's and Prometheus' logs

    def query(self, q: str) -> list[dict[str, Any]]:
        """An instant PromQL query's result vector."""
        body = self.host.http_get(self.prometheus + "/api/v1/query", params={"query": q}, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def context(self) -> str:
        """What a failed wait reports: Prometheus' alerts now and the tail of each log."""
        try:
            alerts = self.host.http_get(self.prometheus + "/api/v1/alerts", timeout=5).text[-2000:]
        except Exception as exc:  # noqa: BLE001 - a failure report must not fail itself
            alerts = repr(exc)
        return f"; Prometheus' alerts: {alerts}" + "".join(
            f"; {p.name}: {p.read_text(errors='replace')[-1500:]}" for p in self.logs if p.exists())


def _ready(host: Host, url: str) -> bool:
    try:
        return host.http_get(url + "/-/ready", timeout=2).status == 200
    except Exception:  # noqa: BLE001 - not listening yet (httpx' connect error, raised on the namespace's thread)
        return False


@pytest.fixture(scope="module")
def stack(cluster: Cluster, webhook: Webhook) -> Iterator[Stack]:
    """Alertmanager and Prometheus inside host 1, configured by the real CLI's files."""
    h1 = cluster.head
    work = Path(tempfile.mkdtemp(prefix="rs-alerts-", dir="/tmp"))
    am_port, prom_port = free_ports(2)  # host 1's namespace has only the cluster's ports taken; these are random
    started: list[Started] = []
    try:
        (work / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(webhook.url)))
        check = subprocess.run([_tool("amtool"), "check-config", str(work / "alertmanager.yml")],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        am_url = f"http://127.0.0.1:{am_port}"
        started.append(_start(h1, [_tool("prometheus-alertmanager"), f"--config.file={work / 'alertmanager.yml'}",
                                   f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                   "--cluster.listen-address=",  # no HA peers: no gossip port at all
                                   "--log.level=warn"], work, "alertmanager"))
        rules = work / "alert_rules.yml"
        r = h1.cli("metrics", "alert-rules", "--out", str(rules), timeout=60)
        assert r.returncode == 0, r.stderr
        r = h1.cli("metrics", "prometheus-config", "--scrape-interval", "1s", timeout=60)
        assert r.returncode == 0, r.stderr
        cfg = yaml.safe_load(r.stdout)
        for job in cfg["scrape_configs"]:  # discovery refreshes faster than a user's 10 s, to keep the test short
            for sd in job["http_sd_configs"]:
                sd["refresh_interval"] = "1s"
        cfg["rule_files"] = [str(rules)]
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]}
        (work / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        prom_url = f"http://127.0.0.1:{prom_port}"
        started.append(_start(h1, [_tool("prometheus"), f"--config.file={work / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={work / 'prom-data'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                              work, "prometheus"))
        for s, url in zip(started, (am_url, prom_url)):
            wait_for(f"{s.log.stem} ready", lambda: s.proc.poll() is not None or _ready(h1, url), 60)
            assert s.proc.poll() is None, s.log.read_text()[-3000:]
        yield Stack(h1, prom_url, [x.log for x in started])
    finally:
        for s in reversed(started):
            _stop(s)
        shutil.rmtree(work, ignore_errors=True)


def _kill_host(host: Host) -> None:
    """The host goes down: SIGKILL to every process in its namespace (its raylet, workers and agent)."""
    def gone() -> bool:
        for pid in host.pids():
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return not [p for p in host.pids() if p != os.getpid()]

    wait_for(f"every process of {host.name} killed", gone, 20)


def _cli_node_down(h1: Host, *args: str) -> list[dict]:
    """RayNodeDown's rows of `rayscope alerts --json` run on host 1 (its local head)."""
    res = h1.cli("alerts", "--json", *args, timeout=60)
    assert res.returncode == 0, res.stderr
    return [a for a in json.loads(res.stdout) if a["name"] == "RayNodeDown"]


def _api_node_down(h1: Host, state: str) -> list[dict]:
    """RayNodeDown's rows of the head's GET /api/v1/alerts, asked from host 1."""
    head = local_head(h1.home)
    assert head is not None
    res = h1.http_get(head.http_url + "/api/v1/alerts", params={"state": state},
                      headers={"Authorization": f"Bearer {head.token_file.read_text().strip()}"})
    assert res.status == 200, res.text
    return [a for a in res.json()["rows"] if a["name"] == "RayNodeDown"]


def test_a_killed_worker_host_fires_node_down_at_the_head_and_pages_oncall_and_both_resolve_when_it_returns(
        cluster: Cluster, stack: Stack, webhook: Webhook) -> None:
    h1, h2, worker = cluster.head, cluster.worker, cluster.worker_node_id

    def alive_at_head() -> bool:
        nodes = json.loads(h1.cli("list", "nodes", "--json", timeout=60).stdout or "[]")
        return any(n["node_id"] == worker and n["state"] == "ALIVE" for n in nodes)

    wait_for("host 2's node ALIVE at the head", alive_at_head, 60)
    wait_for("Prometheus scraping host 2's agent and the head's liveness series",
             lambda: stack.query(f'rayscope_node_cpus{{node_id="{worker}", node_ip="{h2.ip}"}}')
             and stack.query(f'rayscope_node_up{{node_id="{worker}", node_ip="{h2.ip}"}} == 1'), 90,
             context=stack.context)
    assert not stack.query('ALERTS{alertname="RayNodeDown"}')
    assert _cli_node_down(h1) == [] and _api_node_down(h1, "firing") == []

    # every exported rule evaluates without error on the real series (a bad join or label shows here)
    def rules_evaluated() -> list[dict[str, Any]]:
        got = stack.host.http_get(stack.prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"][0]["rules"]
        return got if all(r.get("lastEvaluation", "").startswith("20") for r in got) else []
    evaluated = wait_for("every rule evaluated once", rules_evaluated, 30)
    assert [r["name"] for r in evaluated] == [r.name for r in RULES]
    assert [(r["name"], r["health"], r.get("lastError", "")) for r in evaluated] == [
        (r.name, "ok", "") for r in RULES]

    _kill_host(h2)
    killed = time.monotonic()
    # the head's own evaluator: `rayscope alerts --json` within the 60 s, and its API says the same
    [down] = wait_for("RayNodeDown for host 2 in `rayscope alerts --json` (the issue's 60 s)",
                      lambda: [a for a in _cli_node_down(h1) if a["node_ip"] == h2.ip], WAIT_S, every=1)
    print(f"RayNodeDown in `rayscope alerts` {time.monotonic() - killed:.1f} s after host 2 was killed")
    assert (down["state"], down["severity"], down["node_id"]) == ("firing", "critical", worker)
    assert down["summary"] == f"Ray node {h2.ip} ({worker}) is down"
    [api] = _api_node_down(h1, "firing")
    assert {k: api[k] for k in ("alert_id", "state", "severity", "summary", "since", "node_ip", "node_id")} == {
        k: down[k] for k in ("alert_id", "state", "severity", "summary", "since", "node_ip", "node_id")}

    # Prometheus with the exported rules, routed by Alertmanager to the oncall webhook
    n, alert = webhook.next_alert(
        "RayNodeDown for the killed worker at the oncall webhook",
        lambda n, a: a["labels"].get("alertname") == "RayNodeDown" and a["status"] == "firing", 120,
        stack.context)
    print(f"RayNodeDown at the webhook {time.monotonic() - killed:.1f} s after the kill")
    assert n.path == "/oncall" and n.body["receiver"] == "oncall"  # routed by the matchers, not the default
    labels = alert["labels"]
    assert (labels["node_id"], labels["node_ip"], labels["severity"]) == (worker, h2.ip, "critical")
    assert labels["job"] == "rayscope" and labels["component"] == "head"
    assert alert["annotations"]["summary"] == render_summary(rule("RayNodeDown"), labels, 0) == down["summary"]
    assert alert["annotations"]["description"] == rule("RayNodeDown").description
    assert n.body["groupLabels"] == {"alertname": "RayNodeDown", "node_ip": h2.ip}
    # the head node is alive: nothing about it
    assert not stack.query(f'ALERTS{{alertname="RayNodeDown", node_id="{cluster.head_node_id}"}}')

    # a node joins from the same host: the outage is over, at the head and at the webhook
    h2.cli("stop", timeout=120)  # forgets the killed node's records (its processes are gone)
    cluster.start_worker(f"{h2.tmp}/again")
    joined = time.monotonic()
    [done] = wait_for("RayNodeDown for host 2 resolved at the head", lambda: [
        a for a in _cli_node_down(h1, "--all") if a["alert_id"] == down["alert_id"] and a["state"] == "resolved"],
        WAIT_S, every=1)
    print(f"resolved at the head {time.monotonic() - joined:.1f} s after host 2's node joined again")
    assert done["resolved_at"] > down["since"] and _cli_node_down(h1) == [] and _api_node_down(h1, "firing") == []
    n, alert = webhook.next_alert(
        "RayNodeDown resolved at the oncall webhook once a node of its host is back",
        lambda n, a: a["labels"].get("alertname") == "RayNodeDown" and a["status"] == "resolved", 90,
        stack.context)
    print(f"resolved at the webhook {time.monotonic() - joined:.1f} s after the new node's start returned")
    assert n.path == "/oncall" and alert["labels"]["node_id"] == worker
