"""The agent's Serve parts without Ray: the poller subprocess started when Serve's controller is seen
alive and stopped when it dies (a stand-in poller: a script given as the collector's Python), its
lines turned into documents and DropReports, the liveness kept across an agent restart; and the
Serve request families kept from a node's exposition, nothing for a node without Serve."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import psutil

from polling import wait_for
from rayscope.agent.collectors.app_metrics import AppMetricsCollector, serve_request_text
from rayscope.agent.collectors.serve_status import ERROR_REASON, ServeStatusCollector
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent

# Stands in for `python -m rayscope.runtime.serve_poller`: prints what a poller prints, then waits
# for its stdin to close, as the real one does.
FAKE_POLLER = """#!/bin/sh
echo "$$" > "$(dirname "$0")/pid"
echo '{"ts":1.5,"document":{"applications":[],"proxies":{}}}'
echo '{"ts":2.5,"error":"Serve controller did not answer within 5 s"}'
echo 'not json'
cat > /dev/null
"""


def controller(state: str) -> ActorEvent:
    return ActorEvent(actor_id="cc" * 16, job_id="01000000", state=state, name="SERVE_CONTROLLER_ACTOR",
                      ray_namespace="serve", class_name="ServeController")


def _fake(tmp_path: Path) -> Path:
    script = tmp_path / "fakepy"
    script.write_text(FAKE_POLLER)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_poller_runs_only_while_the_controller_lives(tmp_path: Path) -> None:
    c = ServeStatusCollector("127.0.0.1:1", str(tmp_path), python=str(_fake(tmp_path)))
    assert c.poll().docs == [] and c.proc is None  # Ray Core only: no process
    c.observe([ActorEvent(actor_id="dd" * 16, state="ALIVE", name="other", ray_namespace="serve")])
    assert c.poll().docs == [] and c.proc is None

    c.observe([controller("ALIVE")])
    docs, drops = [], []

    def lines() -> bool:
        p = c.poll()
        docs.extend(p.docs)
        drops.extend(p.drops)
        return len(drops) >= 2

    wait_for("the stand-in poller's lines", lines, timeout=30)
    assert [(d.ts, json.loads(d.document)) for d in docs] == [(1.5, {"applications": [], "proxies": {}})]
    assert [(d.source, d.reason) for d in drops] == [("serve", ERROR_REASON), ("serve", "Serve poller line unreadable")]
    pid = int((tmp_path / "pid").read_text())
    assert psutil.pid_exists(pid)

    # an agent restarted now knows the controller is alive (its ALIVE event is behind the checkpoint)
    assert ServeStatusCollector("127.0.0.1:1", str(tmp_path)).controller_alive

    c.observe([controller("DEAD")])
    gone = c.poll()
    assert [d.controller_gone for d in gone.docs] == [True]
    assert c.proc is None
    wait_for("the stand-in poller gone", lambda: not psutil.pid_exists(pid) or
             psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=10)
    assert c.poll().docs == []  # the end is shipped once
    assert not ServeStatusCollector("127.0.0.1:1", str(tmp_path)).controller_alive


EXPOSITION = """# HELP ray_tasks Current number of tasks.
# TYPE ray_tasks gauge
ray_tasks{State="RUNNING",SessionName="s"} 3.0
# HELP ray_serve_num_http_requests_total The number of HTTP requests processed.
# TYPE ray_serve_num_http_requests_total counter
ray_serve_num_http_requests_total{application="shop",method="GET",route="/shop",status_code="200",WorkerId="w1",SessionName="s"} 17.0
ray_serve_num_http_requests_total{application="shop",method="GET",route="/shop",status_code="500",WorkerId="w1",SessionName="s"} 3.0
# HELP ray_serve_replica_processing_queries The current number of queries being processed.
# TYPE ray_serve_replica_processing_queries gauge
ray_serve_replica_processing_queries{deployment="Adder"} 0.0
# HELP ray_failed_withdrawals Withdrawals refused.
# TYPE ray_failed_withdrawals counter
ray_failed_withdrawals_total{bank="north"} 3.0
"""


def test_serve_families_kept_apart_from_the_users_metrics() -> None:
    kept = serve_request_text(EXPOSITION)
    assert "ray_serve_num_http_requests_total" in kept
    assert "ray_serve_replica_processing_queries" not in kept and "ray_tasks" not in kept
    assert serve_request_text(EXPOSITION.replace("serve_", "x_")) == ""  # a node without Serve: nothing

    c = AppMetricsCollector("http://unused")
    c._fetch = lambda: EXPOSITION  # type: ignore[method-assign]  # the endpoint's answer, without Ray
    app = c.sample(now=100.0)
    assert app is not None and [f.name for f in app.families] == ["ray_failed_withdrawals"]
    serve = c.take_serve()
    assert serve is not None and serve.ts == 100.0
    (fam,) = serve.families
    assert fam.name == "ray_serve_num_http_requests" and fam.type == "counter"
    assert sorted((s.tags["status_code"], s.value) for s in fam.series) == [("200", 17.0), ("500", 3.0)]
    assert all("WorkerId" not in s.tags for s in fam.series)
    assert c.take_serve() is None  # taken once

    core_only = AppMetricsCollector("http://unused")
    core_only._fetch = lambda: EXPOSITION.split("# HELP ray_serve_num")[0]  # type: ignore[method-assign]
    core_only.sample(now=100.0)
    assert core_only.take_serve() is None


def test_a_poller_that_cannot_start_is_reported_not_retried_every_tick(tmp_path: Path) -> None:
    c = ServeStatusCollector("127.0.0.1:1", str(tmp_path), python=str(tmp_path / "no-such-python"))
    c.observe([controller("ALIVE")])
    first = c.poll()
    assert [(d.source, d.reason) for d in first.drops] == [("serve", "Serve poller not started")]
    assert c.proc is None and c.poll().drops == []  # the next try waits RESTART_AFTER_S
