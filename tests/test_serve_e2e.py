"""Ray Serve on the shared 2-node cluster (issue 13): an app with two deployments (Ingress, autoscaling
1..2, calls Adder through a handle) receives 20 requests of which 3 fail on purpose. Rayscope's API,
`rayscope list serve-apps --json` / `get serve-app --json` and the web UI's Serve page show the
statuses and replica lists Ray itself reports (serve.status() and the controller's details, read in
the workload: the oracle), the request and error counts the workload counted, latency percentiles,
and a replica killed on purpose as a replica death in the history. At the end the workload runs
serve.shutdown() and the head node's Serve poller is gone.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import httpx
import psutil
import pytest

from browser import Browser
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.local_cluster import LocalCluster
from rayscope.runtime.ports import free_ports

WORKLOAD = Path(__file__).parent / "workloads" / "serve_workload.py"
APP = "shop"


class Workload:
    def __init__(self, proc: subprocess.Popen, truth: dict[str, Any]) -> None:
        self.proc, self.truth = proc, truth

    def ask(self, command: str, prefix: str, timeout: float = 240) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = read_line(self.proc.stdout, timeout, f"the workload's {prefix} line")
        assert line.startswith(prefix + " "), line
        return json.loads(line[len(prefix) + 1:])


@pytest.fixture(scope="module")
def workload(rayscope_cluster: LocalCluster) -> Iterator[Workload]:
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), rayscope_cluster.gcs_address, str(port)],
                            env=rayscope_cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = read_line(proc.stdout, 300, "the workload's TRUTH line")
        assert line.startswith("TRUTH "), line + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        yield Workload(proc, json.loads(line[6:]))
    finally:
        if proc.poll() is None:  # the last test closes stdin (serve.shutdown()); a failure before it ends here
            assert proc.stdin is not None
            proc.stdin.close()
            wait_or_kill(proc, 120)


def _api(cluster: LocalCluster, path: str, **params: Any) -> Any:
    r = httpx.get(f"{cluster.http_url}/api/v1{path}", params=params,
                  headers={"Authorization": f"Bearer {cluster.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _shown(app: dict[str, Any]) -> dict[str, Any]:
    """What Rayscope shows, in the shape of the workload's view of Ray."""
    return {"app_status": app["status"],
            "deployments": {d["name"]: d["status"] for d in app["deployments"]},
            "replicas": {d["name"]: sorted(r["replica_id"] for r in d["replicas"]) for d in app["deployments"]},
            "target": {d["name"]: d["target_replicas"] for d in app["deployments"]}}


def _expected(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view[k] for k in ("app_status", "deployments", "replicas", "target")}


def _counts(app: dict[str, Any]) -> dict[str, Any]:
    figs = {d["name"]: d["requests"] for d in app["deployments"]}
    return {"app": (app["requests"] or {}).get("requests_total"), "app_errors": (app["requests"] or {}).get("errors_total"),
            **{f"{n}": (f or {}).get("requests_total") for n, f in figs.items()},
            **{f"{n}_errors": (f or {}).get("errors_total") for n, f in figs.items()}}


# The Serve families Rayscope reads and their tags (Ray's own labels aside), as a 2.60 node serves them
SERVE_TAGS = {
    "ray_serve_num_http_requests": {"application", "route", "method", "status_code"},
    "ray_serve_num_http_error_requests": {"application", "route", "method", "error_code"},
    "ray_serve_http_request_latency_ms": {"application", "route", "method", "status_code"},
    "ray_serve_deployment_request_counter": {"application", "deployment", "replica", "route"},
    "ray_serve_deployment_error_counter": {"application", "deployment", "replica", "route", "exception_type"},
    "ray_serve_deployment_processing_latency_ms": {"application", "deployment", "replica", "route"},
}


def _ray_serve_tags(truth: dict[str, Any]) -> dict[str, set[str]]:
    """The tag keys of the Serve families on every node's own Ray metrics endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    from rayscope.runtime.ray_metric_names import RAY_LABELS
    tags: dict[str, set[str]] = {}
    for addr in truth["endpoints"]:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
        for fam in text_string_to_metric_families(text):
            if fam.name in SERVE_TAGS:
                for s in fam.samples:
                    tags.setdefault(fam.name, set()).update(set(s.labels) - RAY_LABELS - {"le"})
    return tags


def _poller_pids(cluster: LocalCluster) -> list[int]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "rayscope.runtime.serve_poller" in cmd and cluster.gcs_address in cmd:
            out.append(p.pid)
    return out


def test_statuses_replicas_and_request_counts_match_rays_view(rayscope_cluster: LocalCluster,
                                                              workload: Workload) -> None:
    truth = workload.truth
    assert truth["ok"] + truth["failed"] == truth["requests"] and truth["failed"] == truth["failing"]
    assert _poller_pids(rayscope_cluster), "the head node's agent runs the Serve poller while Serve lives"
    want = _expected(truth)
    app = wait_for("the app as Ray reports it", lambda: (lambda a: a if _shown(a) == want else None)(
        _api(rayscope_cluster, f"/serve/applications/{APP}")), timeout=60, ignore=(httpx.HTTPStatusError,),
        context=lambda: repr(_api(rayscope_cluster, "/serve/applications")))
    assert app["present"] and app["route_prefix"] == "/shop" and app["ingress_deployment"] == "Ingress"
    deps = {d["name"]: d for d in app["deployments"]}
    assert (deps["Ingress"]["autoscaling_min"], deps["Ingress"]["autoscaling_max"]) == (1, 2)
    assert deps["Adder"]["autoscaling_max"] is None and deps["Adder"]["num_replicas"] == 1
    for d in deps.values():
        assert d["running_replicas"] == len(truth["replicas"][d["name"]])
        for r in d["replicas"]:
            assert r["state"] == "RUNNING" and r["pid"] and r["actor_id"] and r["node_id"]
            assert r["log_file_id"] == f"{r['node_id']}:{r['log_file_path'].lstrip('/')}"

    # the workload's own counts, once Ray's 10 s metric push and the agents' 10 s scrape have them
    n, k = truth["requests"], truth["failed"]
    want_counts = {"app": n, "app_errors": k, "Ingress": n, "Ingress_errors": k, "Adder": n, "Adder_errors": k}
    app = wait_for("request counts as the workload counted them", lambda: (lambda a: a if _counts(a) == want_counts
                   else None)(_api(rayscope_cluster, f"/serve/applications/{APP}")), timeout=120, every=1.0,
                   context=lambda: repr(_counts(_api(rayscope_cluster, f"/serve/applications/{APP}"))))
    for figs in [app["requests"]] + [d["requests"] for d in app["deployments"]]:
        assert figs["p50_ms"] is not None, figs
        assert 0 <= figs["p50_ms"] <= figs["p95_ms"] <= figs["p99_ms"], figs
        assert figs["request_rate"] > 0 and figs["error_rate"] > 0

    # the names and tags the head relies on are those Ray's own endpoints serve
    assert _ray_serve_tags(truth) == SERVE_TAGS

    listed = _api(rayscope_cluster, "/serve/applications", filter=f"name={APP}")["rows"]
    assert [_shown(a) for a in listed] == [want]
    res = rayscope_cluster.cli("list", "serve-apps", "--json", "--address", rayscope_cluster.http_url, timeout=60)
    assert res.returncode == 0, res.stderr
    cli_apps = [a for a in json.loads(res.stdout) if a["name"] == APP]
    assert [_shown(a) for a in cli_apps] == [want] and _counts(cli_apps[0]) == want_counts
    res = rayscope_cluster.cli("get", "serve-app", APP, "--json", "--address", rayscope_cluster.http_url, timeout=60)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert _shown(got) == want and _counts(got) == want_counts
    assert {("app_status", None), ("deployment_status", "Adder"), ("deployment_status", "Ingress")} <= {
        (e["kind"], e["deployment"]) for e in got["history"]}
    text = rayscope_cluster.cli("get", "serve-app", APP, "--address", rayscope_cluster.http_url, timeout=60)
    assert text.returncode == 0 and "Ingress" in text.stdout and "History:" in text.stdout, text.stderr
    # the poller's driver is hidden from the jobs listing, as Ray's UI hides _ray_internal namespaces
    assert not [j for j in _api(rayscope_cluster, "/jobs", limit=1000)["rows"]
                if (j["ray_namespace"] or "").startswith("_ray_internal")]


def test_a_killed_replica_shows_in_the_history(rayscope_cluster: LocalCluster, workload: Workload) -> None:
    killed = workload.ask("kill", "KILLED")
    view = workload.ask("state", "STATE")

    def recorded() -> Any:
        app = _api(rayscope_cluster, f"/serve/applications/{APP}")
        died = [e for e in app["history"] if e["replica_id"] == killed["old"] and e["kind"] == "replica_died"]
        started = [e for e in app["history"] if e["replica_id"] in killed["new"] and e["kind"] == "replica_started"]
        return app if died and started and _shown(app)["replicas"] == view["replicas"] else None

    app = wait_for("the killed replica's death and its replacement", recorded, timeout=60,
                   context=lambda: repr(_api(rayscope_cluster, f"/serve/applications/{APP}")["history"]))
    adder = next(d for d in app["deployments"] if d["name"] == "Adder")
    assert adder["replica_restarts"] >= 1


def test_serve_page_in_the_browser(rayscope_cluster: LocalCluster, workload: Workload, browser: Browser) -> None:
    tab = browser.tab(f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}")
    tab.open("/", "page-overview")
    tab.page.locator("nav a", has_text="Serve").click()  # the nav links the page
    tab.page.wait_for_selector("[data-testid=page-serve]")
    apps = tab.page.locator("[data-testid=serve-apps-table]")
    apps.get_by_text(APP).first.wait_for()
    n, k = workload.truth["requests"], workload.truth["failed"]
    assert f"{n} req" in apps.inner_text() and f"{k} err" in apps.inner_text()  # the proxies' HTTP counts
    tab.shot("serve_apps")
    apps.locator("a", has_text=APP).click()
    tab.page.wait_for_selector("[data-testid=page-serve-app]")
    deps = tab.page.locator("[data-testid=serve-deployments]")
    deps.get_by_text("Ingress").first.wait_for()
    ingress = deps.locator("tr", has_text="Ingress").first.inner_text()
    assert "1–2" in ingress  # the autoscaling range beside target vs running
    replicas = tab.page.locator("[data-testid=serve-replicas]")
    assert replicas.locator("a[href^='/actors/']").count() >= 2  # each replica links its actor
    assert replicas.locator("a[href^='/logs?']").count() >= 2  # and its log file
    history = tab.page.locator("[data-testid=serve-history]")
    history.get_by_text("replica_died").first.wait_for()
    tab.shot("serve_app")
    assert tab.take_errors() == []


def test_shutdown_leaves_no_poller_and_the_app_removed(rayscope_cluster: LocalCluster, workload: Workload) -> None:
    assert workload.proc.stdin is not None
    workload.proc.stdin.close()  # the workload runs serve.shutdown() and exits
    wait_or_kill(workload.proc, 120)
    assert workload.proc.returncode == 0, workload.proc.stderr.read() if workload.proc.stderr else ""
    wait_for("the Serve poller gone", lambda: not _poller_pids(rayscope_cluster), timeout=60)
    app = wait_for("the app marked removed", lambda: (lambda a: a if not a["present"] else None)(
        _api(rayscope_cluster, f"/serve/applications/{APP}")), timeout=60)
    assert app["running_replicas"] == 0 and app["history"][-1]["kind"] == "app_removed"
