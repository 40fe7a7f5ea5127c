"""Issue 11: Rayscope on a real multi-host Ray cluster, started exactly as the README says.

The hosts are Linux network namespaces (tests/netns_hosts.py): host 1 runs the head, host 2 a
worker node, host 3 nothing but the joins that must fail. Nothing is shared between them but the
network link (and the filesystem, which the tests use only to read host 2's files directly, as
an oracle the head cannot influence). Host 1 runs

    rayscope start --head --port=6379 --node-ip-address=H1 ...
and host 2
    rayscope start --address=H1:6379 --node-ip-address=H2 --resources='{"host2": 1}' ...

with no Rayscope-specific option. The driver runs on host 1; its tasks, actor and prints run on
host 2 (tests/workloads/multihost_workload.py). The head's HTTP API listens on host 1's loopback
only, so every API call and CLI command runs inside host 1 (`Host.http_get`, `Host.cli`).

One two-host cluster serves the whole module; the link-down fault test runs last.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pexpect
import pytest
import yaml

from netns_hosts import Host, hosts_for_test
from polling import read_line, wait_for, wait_or_kill
from rayscope.runtime.state import NodeRecord, load_state

WORKLOADS = Path(__file__).parent / "workloads"
WORKLOAD = WORKLOADS / "multihost_workload.py"
DEBUG_JOB = WORKLOADS / "ray_debug_job.py"
RAY_DEBUG = [sys.executable, "-m", "rayscope.cli.ray_debug.main"]
RAY_MEMORY = [sys.executable, "-m", "rayscope.cli.ray_memory"]
PROMPT = r"\(ray-debug\) "
GCS_PORT = 6379  # each host is a fresh namespace: Ray's default port is free there
PROM_PORT = 9090  # likewise, on host 1's loopback
WAIT_S = 90.0
CUT_S = 35.0  # the link-down fault's length
CHATTER_S = 70.0  # how long the fault test's task prints
MIB = 1024 * 1024
# Ray marks a node dead after health_check_failure_threshold missed checks (default 5, every 3 s:
# 15 s), which a 35 s cut would exceed: the raylet on host 2 would be told to exit and its
# workers killed. 60 missed checks (~180 s) let the node ride out the cut, as a cluster on a
# flaky network would be configured. `rayscope start` merges its own keys into this JSON.
SYSTEM_CONFIG = '--system-config={"health_check_failure_threshold": 60}'


# ------------------------------------------------------------------ cluster


@dataclass
class Cluster:
    """The module's cluster: h1 runs the head, h2 a worker node, h3 is a spare host."""

    h1: Host
    h2: Host
    h3: Host
    gcs_address: str
    head: NodeRecord
    worker: NodeRecord

    @property
    def token(self) -> str:
        return Path(self.head.token_file).read_text().strip()

    @property
    def api_url(self) -> str:
        assert self.head.head_service is not None
        return self.head.head_service.http_url + "/api/v1"

    def api(self, path: str, params: Any = None) -> Any:
        """GET the head's REST API from inside host 1; anything but 200 fails the test."""
        answer = self.h1.http_get(self.api_url + path, params=params,
                                  headers={"Authorization": f"Bearer {self.token}"})
        assert answer.status == 200, f"GET {path} {params}: {answer.status} {answer.text[:500]}"
        return answer.json()

    def api_or_none(self, path: str) -> Any:
        """GET an item that may not be stored yet: None on 404."""
        answer = self.h1.http_get(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})
        if answer.status == 404:
            return None
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.text[:500]}"
        return answer.json()

    def all_rows(self, path: str, params: list[tuple[str, Any]]) -> list[dict]:
        """Every row of a listing, following next_cursor."""
        rows: list[dict] = []
        cursor = None
        while True:
            page = self.api(path, params + [("limit", 10000)] + ([("cursor", cursor)] if cursor else []))
            rows += page["rows"]
            cursor = page["next_cursor"]
            if not cursor:
                return rows

    def cli_json(self, host: Host, *args: str) -> Any:
        res = host.cli(*args, timeout=120)
        assert res.returncode == 0, f"rayscope {' '.join(args)} on {host.name}: {res.stderr}"
        return json.loads(res.stdout)

    def nodes(self) -> dict[str, dict]:
        """`rayscope list nodes --json` on host 1, by node id."""
        return {n["node_id"]: n for n in self.cli_json(self.h1, "list", "nodes", "--json")}

    def logs(self) -> str:
        """The tails of both hosts' Rayscope logs, for failure messages."""
        parts = []
        for rec in (self.head, self.worker):
            paths = [Path(rec.session_dir) / "logs" / name for name in ("rayscope-head.log", "rayscope-agent.log")]
            for path in paths:
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-15:]
                    parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts)


def eventually(cluster: Cluster, what: str, probe: Callable[[], Any], timeout: float = WAIT_S,
               every: float = 0.5, what_else: Callable[[], str] = lambda: "") -> Any:
    """wait_for, failing with what_else() and both hosts' Rayscope logs."""
    return wait_for(what, probe, timeout, every, context=lambda: f"{what_else()}\n{cluster.logs()}")


def _start_failure(what: str, res: subprocess.CompletedProcess, *homes: Path) -> str:
    """A start's output plus every session's Rayscope logs, to say why a start failed."""
    text = f"{what} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}"
    for home in homes:
        for rec in load_state(home).nodes:
            for name in ("rayscope-head.log", "rayscope-agent.log"):
                path = Path(rec.session_dir) / "logs" / name
                if path.exists():
                    text += f"\n--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-20:])
    return text


@pytest.fixture(scope="module")
def net() -> Iterator[list[Host]]:
    with hosts_for_test(3) as made:
        yield made


@pytest.fixture(scope="module")
def cluster(net: list[Host]) -> Cluster:
    """The README's two commands, one per host (the options in brackets are a test's own: a
    private temp dir, 2 CPUs, no Ray dashboard, the health-check threshold of the fault test)."""
    h1, h2, h3 = net
    res = h1.cli("start", "--head", f"--port={GCS_PORT}", f"--node-ip-address={h1.ip}",
                 "--num-cpus=2", f"--temp-dir={h1.tmp}", "--include-dashboard=false", SYSTEM_CONFIG)
    if res.returncode != 0:
        pytest.fail(_start_failure("rayscope start --head on host 1", res, h1.home))
    res = h2.cli("start", f"--address={h1.ip}:{GCS_PORT}", f"--node-ip-address={h2.ip}",
                 "--num-cpus=2", f"--temp-dir={h2.tmp}", '--resources={"host2": 1}')
    if res.returncode != 0:
        pytest.fail(_start_failure("rayscope start --address on host 2", res, h1.home, h2.home))
    [head], [worker] = load_state(h1.home).nodes, load_state(h2.home).nodes
    assert head.role == "head" and worker.role == "worker"
    assert head.node_id and worker.node_id and head.node_id != worker.node_id
    return Cluster(h1=h1, h2=h2, h3=h3, gcs_address=f"{h1.ip}:{GCS_PORT}", head=head, worker=worker)


@dataclass
class Basic:
    """The basic workload's ground truth, while its driver keeps the host-2 actor alive."""

    truth: dict
    driver: subprocess.Popen


@pytest.fixture(scope="module")
def basic(cluster: Cluster) -> Iterator[Basic]:
    run = uuid.uuid4().hex[:8]
    driver = cluster.h1.popen([sys.executable, str(WORKLOAD), cluster.gcs_address, "basic", run],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(driver.stdout, 120, "the workload's TRUTH line")
        if not line.startswith("TRUTH "):
            driver.kill()
            pytest.fail(f"the workload did not start: {line!r}\n{driver.stderr.read()[-3000:]}")
        yield Basic(json.loads(line[len("TRUTH "):]), driver)
    finally:
        if driver.poll() is None:
            driver.stdin.close()
            try:
                driver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                driver.kill()
                driver.wait()


# ------------------------------------------------------------------ both hosts, as the README starts them


def test_both_agents_connected(cluster: Cluster) -> None:
    """The head lists both nodes with their agents connected, host 2 at its own address."""
    def both() -> dict | None:
        nodes = cluster.nodes()
        ok = [n for n in nodes.values() if n["state"] == "ALIVE" and n["agent_connected"]]
        return nodes if len(ok) == 2 else None

    nodes = eventually(cluster, "both nodes ALIVE with their agents connected", both)
    assert set(nodes) == {cluster.head.node_id, cluster.worker.node_id}
    assert nodes[cluster.worker.node_id]["node_ip"] == cluster.h2.ip
    assert nodes[cluster.worker.node_id]["is_head_node"] is False
    assert nodes[cluster.head.node_id]["node_ip"] == cluster.h1.ip


def test_status_on_host2_names_the_head_it_ships_to(cluster: Cluster) -> None:
    """`rayscope status` on host 2 says its agent is connected to the head on host 1."""
    def connected() -> str | None:
        res = cluster.h2.cli("status", timeout=60)
        return res.stdout if res.returncode == 0 and "agent connected to" in res.stdout else None

    out = eventually(cluster, "`rayscope status` on host 2 to say the agent is connected", connected)
    assert re.search(rf"agent connected to {re.escape(cluster.h1.ip)}:\d+ \(last ack \d+(\.\d+)? s ago\)", out), out
    link = json.loads((Path(cluster.worker.session_dir) / "rayscope" / "agent" / "link.json").read_text())
    assert link["connected"] is True and link["head"].startswith(f"{cluster.h1.ip}:"), link


def test_host2_tasks_and_actor_ran_there_and_are_stored(cluster: Cluster, basic: Basic) -> None:
    truth = basic.truth
    for task in truth["tasks"]:
        assert task["node_id"] == cluster.worker.node_id, "the workload's tasks must run on host 2"

        def finished(task_id: str = task["task_id"]) -> dict | None:
            attempts = cluster.api_or_none(f"/tasks/{task_id}") or []
            done = [a for a in attempts if a["state"] == "FINISHED" and a.get("worker_pid")]
            return done[0] if done else None

        stored = eventually(cluster, f"task {task['task_id']} FINISHED with its worker", finished)
        assert stored["node_id"] == cluster.worker.node_id and stored["worker_id"] == task["worker_id"]
    actor = truth["actor"]
    assert actor["node_id"] == cluster.worker.node_id

    def alive() -> dict | None:
        stored = cluster.api_or_none(f"/actors/{actor['actor_id']}")
        return stored if stored and stored["state"] == "ALIVE" else None

    stored_actor = eventually(cluster, "the Keeper actor ALIVE on host 2", alive)
    assert stored_actor["node_id"] == cluster.worker.node_id and stored_actor["pid"] == actor["pid"]


def test_host2_processes_metrics_and_object_store_arrive(cluster: Cluster, basic: Basic) -> None:
    node = cluster.worker.node_id
    actor = basic.truth["actor"]

    def processes() -> dict | None:
        rows = cluster.all_rows("/processes", [("filter", f"node_id={node}")])
        by_pid = {p["pid"]: p for p in rows}
        keeper = by_pid.get(actor["pid"], {})
        has_raylet = any(p["role"] == "raylet" for p in rows)
        # the actor's class and its worker id are joined from different samples: wait for both
        joined = keeper.get("actor_class") == "Keeper" and keeper.get("worker_id") == actor["worker_id"]
        return by_pid if has_raylet and joined else None

    by_pid = eventually(cluster, "host 2's raylet and the Keeper actor's worker", processes)
    keeper = by_pid[actor["pid"]]
    assert keeper["role"] == "worker" and keeper["rss"] > 0
    assert all(p["node_id"] == node for p in by_pid.values())

    def metrics() -> dict | None:
        series = cluster.api("/metrics/nodes", {"node_id": node})
        points = [p for s in series if s["node_id"] == node for p in s["points"]]
        held = [p for p in points if (p["object_store_used"] or 0) >= basic.truth["object_bytes"]]
        return held[-1] if held else None

    point = eventually(cluster, "host 2's node metrics with the Keeper's object in its store", metrics)
    assert point["mem_total"] > point["mem_used"] > 0 and point["disk_total"] > 0
    assert point["object_store_capacity"] and point["object_store_capacity"] > point["object_store_used"]

    def held_object() -> dict | None:
        rows = cluster.all_rows("/objects", [("filter", f"node_id={node}")])
        return next((r for r in rows if r["object_id"] == actor["object_id"]), None)

    ref = eventually(cluster, "the Keeper's object among host 2's object refs", held_object)
    assert ref["pid"] == actor["pid"] and ref["object_size"] >= basic.truth["object_bytes"]
    assert ref["node_ip"] == cluster.h2.ip
    store = cluster.api("/objects/store")
    assert store["nodes"] == 2 and store["used_bytes"] >= basic.truth["object_bytes"], store

    res = cluster.h1.run([*RAY_MEMORY, "--units", "MB", "--no-history"], timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"--- Object references for node address: {cluster.h2.ip} ---" in res.stdout, res.stdout
    assert actor["object_id"] in res.stdout


def test_host2_lines_found_by_cluster_search_and_attributed(cluster: Cluster, basic: Basic) -> None:
    """`rayscope logs --grep` on host 1 finds what host 2's tasks and actor printed, once each,
    attributed to the task that printed it (an actor method's line: to the actor, which is what
    the head attributes actor output to on one host too)."""
    truth = basic.truth
    expected = [(f"mh-{truth['run']}-task-{i}", t, "task_id") for i, t in enumerate(truth["tasks"])]
    expected.append((f"mh-{truth['run']}-actor-hello", truth["actor"], "actor_id"))
    for marker, where, key in expected:
        seen: list[list[dict]] = [[]]

        def hits(marker: str = marker, key: str = key, want: str = where[key]) -> list[dict] | None:
            res = cluster.h1.cli("logs", "--grep", marker, "--json", timeout=60)
            if res.returncode != 0:
                return None
            seen[0] = [json.loads(ln)["line"] for ln in res.stdout.splitlines() if ln.strip()]
            return seen[0] if seen[0] and all(h[key] == want for h in seen[0]) else None

        found = eventually(cluster, f"{marker!r} found and attributed ({key} {where[key]})", hits,
                           what_else=lambda: f"search found {seen[0]}")
        assert [h["text"] for h in found] == [marker], found
        line = found[0]
        assert line["node_id"] == cluster.worker.node_id
        assert line["worker_id"] == where["worker_id"]
        assert line["job_id"] == truth["job_id"]


# ------------------------------------------------------------------ the debugger across hosts


def _line_of(marker: str) -> int:
    return next(i for i, text in enumerate(DEBUG_JOB.read_text().splitlines(), 1) if f"# {marker}" in text)


def _debug_sessions(cluster: Cluster, job_id: str) -> list[dict]:
    res = cluster.h1.run([*RAY_DEBUG, "list", "--json", "--job", job_id], timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_breakpoint_on_host2_is_listed_and_attached_from_host1(cluster: Cluster) -> None:
    """A task pinned to host 2 pauses at breakpoint(); `ray-debug list` on host 1 shows it,
    `ray-debug attach` (in a pseudo-terminal) stops at the line after it, prints, steps, continues."""
    job = cluster.h1.popen([sys.executable, str(DEBUG_JOB), cluster.gcs_address, cluster.worker.node_id],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = None
    try:
        first = read_line(job.stdout, 120, "the debug job's first line").split()
        assert first[:1] == ["JOB"], first
        job_id = first[1]
        job.stdin.write("go\n")
        job.stdin.flush()
        [session] = eventually(cluster, "the paused session on host 2", lambda: _debug_sessions(cluster, job_id))
        assert session["state"] == "paused" and session["node_id"] == cluster.worker.node_id
        assert (session["file"], session["line"]) == (str(DEBUG_JOB), _line_of("BREAKPOINT"))
        path = re.escape(str(DEBUG_JOB))
        argv = cluster.h1.argv([*RAY_DEBUG, "attach", session["session_id"]])
        child = pexpect.spawn(argv[0], argv[1:], env=cluster.h1.env, encoding="utf-8", timeout=60,
                              dimensions=(40, 200))
        child.expect(rf"> {path}\({_line_of('AFTER')}\)compute\(\)\r\n-> total \+= 1  # AFTER\r\n{PROMPT}")
        child.sendline("p total")
        child.expect(rf"40\r\n{PROMPT}")
        [attached] = _debug_sessions(cluster, job_id)
        assert attached["state"] == "attached" and attached["node_id"] == cluster.worker.node_id
        child.sendline("next")
        child.expect(rf"> {path}\({_line_of('AFTER') + 1}\)compute\(\)\r\n-> return total\r\n{PROMPT}")
        child.sendline("p total")
        child.expect(rf"41\r\n{PROMPT}")
        child.sendline("continue")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        out, _ = job.communicate(timeout=60)
        assert "RESULT 41" in out
    finally:
        if child is not None and child.isalive():
            child.close(force=True)
        if job.poll() is None:
            job.kill()
            job.wait()


# ------------------------------------------------------------------ Prometheus on host 1


def _promql(cluster: Cluster, query: str) -> list[dict]:
    answer = cluster.h1.http_get(f"http://127.0.0.1:{PROM_PORT}/api/v1/query", params={"query": query})
    body = answer.json()
    assert body["status"] == "success", f"{query}: {body}"
    return body["data"]["result"]


def _prom_ready(cluster: Cluster) -> bool:
    try:
        return cluster.h1.http_get(f"http://127.0.0.1:{PROM_PORT}/-/ready", timeout=2).status == 200
    except Exception:  # noqa: BLE001 - not listening yet
        return False


def test_prometheus_on_host1_discovers_and_scrapes_host2_agent(cluster: Cluster) -> None:
    """Debian's Prometheus in host 1, configured by `rayscope metrics prometheus-config --sd file`
    (the head's file_sd file): host 2's agent is listed at an address host 1 can reach, is up, and
    its rayscope_ series carry host 2's node id."""
    if shutil.which("prometheus") is None:
        pytest.fail("Debian's prometheus is not installed (./run setup installs it)")
    res = cluster.h1.cli("metrics", "prometheus-config", "--sd", "file", "--scrape-interval", "1s", timeout=60)
    assert res.returncode == 0, res.stderr
    config = yaml.safe_load(res.stdout)
    sd_file = Path(cluster.head.session_dir) / "rayscope" / "prometheus_file_sd.json"
    file_sds = [sd for job in config["scrape_configs"] for sd in job.get("file_sd_configs", [])]
    assert file_sds and all(sd["files"] == [str(sd_file)] for sd in file_sds), config
    for sd in file_sds:
        sd["refresh_interval"] = "2s"  # a user's 10 s, shortened to keep the test short

    def h2_target() -> str | None:
        try:
            groups = json.loads(sd_file.read_text())
        except (OSError, ValueError):
            return None
        agents = [t for g in groups if g["labels"]["component"] == "agent" for t in g["targets"]]
        return next((t for t in agents if t.startswith(f"{cluster.h2.ip}:")), None)

    target = eventually(cluster, "host 2's agent in the head's file_sd file at host 2's address", h2_target)
    groups = json.loads(sd_file.read_text())
    agents = [t for g in groups if g["labels"]["component"] == "agent" for t in g["targets"]]
    assert sorted(t.split(":")[0] for t in agents) == sorted([cluster.h1.ip, cluster.h2.ip]), groups

    work = Path(tempfile.mkdtemp(prefix="rs-prom-", dir=str(cluster.h1.home)))
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    with open(work / "prometheus.log", "w") as log:
        prom = cluster.h1.popen(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={work / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{PROM_PORT}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        eventually(cluster, "Prometheus ready", lambda: prom.poll() is not None or _prom_ready(cluster), 60)
        assert prom.poll() is None, (work / "prometheus.log").read_text()[-3000:]

        def up() -> list[dict] | None:
            found = _promql(cluster, f'up{{component="agent", instance="{target}"}} == 1')
            return found or None

        eventually(cluster, f"Prometheus to scrape host 2's agent at {target}", up)
        series = eventually(cluster, "a rayscope_ series with host 2's node id", lambda: _promql(
            cluster, f'rayscope_node_cpus{{node_id="{cluster.worker.node_id}"}}'))
        assert {s["metric"]["instance"] for s in series} == {target}
    finally:
        prom.terminate()
        wait_or_kill(prom, 15)


# ------------------------------------------------------------------ joins that must fail


def _no_process_left(host: Host) -> bool:
    """Processes get 10 s to finish exiting; True when none is left in the host's namespace."""
    wait_for(f"no process left on {host.name}", lambda: not host.pids(), 10, every=0.5,
             context=lambda: f"pids: {host.pids()}; ps: {host.run(['ps', '-ef']).stdout}")
    return True


@pytest.mark.parametrize("case", ["refused", "no-such-host", "wrong-token"])
def test_join_that_cannot_work_fails_fast_with_one_line(cluster: Cluster, case: str) -> None:
    """`rayscope start --address` on host 3 against a head it cannot use exits non-zero within
    30 s (the contract says ~20 s), with one `rayscope: error:` line naming the head address it
    tried, and leaves no process behind on host 3."""
    h3 = cluster.h3
    address = {
        "refused": f"{cluster.h1.ip}:{GCS_PORT + 1}",  # host 1 is up; nothing listens on that port
        "no-such-host": f"{cluster.h1.ip.rsplit('.', 1)[0]}.250:{GCS_PORT}",  # nobody has that address
        "wrong-token": cluster.gcs_address,
    }[case]
    assert h3.pids() == [], "host 3 must start empty"
    good_token = h3.token_file.read_text()
    if case == "wrong-token":
        h3.token_file.write_text(uuid.uuid4().hex + "\n")
    try:
        try:
            res = h3.cli("start", f"--address={address}", f"--node-ip-address={h3.ip}", "--num-cpus=1",
                         f"--temp-dir={h3.tmp}", timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"rayscope start --address={address} ({case}) still ran after 30 s")
    finally:
        h3.token_file.write_text(good_token)
    assert res.returncode != 0, res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rayscope: error: "), res.stderr
    assert address in lines[0], lines[0]
    assert _no_process_left(h3)
    assert load_state(h3.home).nodes == []
    alive = [n for n in cluster.nodes().values() if n["state"] == "ALIVE"]
    assert {n["node_id"] for n in alive} == {cluster.head.node_id, cluster.worker.node_id}


# ------------------------------------------------------------------ the link goes down (last: it disturbs the cluster)


def _fault_lines_on_disk(cluster: Cluster, run: str, worker_id: str) -> list[int]:
    """The numbers of the lines the long task printed, read from its worker's file on host 2."""
    logs = Path(cluster.worker.session_dir) / "logs"
    files = list(logs.glob(f"worker-{worker_id}-*.out"))
    assert files, f"no stdout file of worker {worker_id} in {logs}"
    prefix = f"fault-{run}-line-"
    return [int(ln[len(prefix):]) for f in files for ln in f.read_text().splitlines() if ln.startswith(prefix)]


def _fault_lines_at_head(cluster: Cluster, run: str) -> list[int]:
    prefix = f"fault-{run}-line-"
    hits = cluster.all_rows("/logs/search", [("q", prefix), ("filter", f"node_id={cluster.worker.node_id}")])
    return [int(h["line"]["text"][len(prefix):]) for h in hits if h["line"]["text"].startswith(prefix)]


def _nodes_page_shows(cluster: Cluster, node_ip: str, want: str) -> None:
    """The web UI's Nodes page, in real Chromium inside host 1 (where the UI listens), marks the node."""
    assert cluster.head.head_service is not None
    res = cluster.h1.run([sys.executable, str(WORKLOADS / "nodes_page_probe.py"), cluster.head.head_service.http_url,
                          cluster.token, node_ip, want], timeout=90)
    assert res.returncode == 0, f"the Nodes page does not show {node_ip}'s agent {want}:\n{res.stderr[-2000:]}"


def test_link_down_for_35s_loses_nothing(cluster: Cluster) -> None:
    """While a task on host 2 prints a numbered line every 0.2 s for 70 s and the driver keeps
    sending it short tasks, host 2's link goes down for 35 s. The head shows host 2's agent as
    disconnected during the cut; afterwards it has exactly the lines in the task's file on host
    2's disk, attributed to the task, and every task the driver ran. The web UI's Nodes page (real
    Chromium) marks host 2's agent disconnected during the cut and connected after it."""
    run = uuid.uuid4().hex[:8]
    node = cluster.worker.node_id
    driver = cluster.h1.popen([sys.executable, str(WORKLOAD), cluster.gcs_address, "fault", run, str(CHATTER_S)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = read_line(driver.stdout, 120, "the fault workload's LONG line")
        assert first.startswith("LONG "), (first, driver.stderr.read() if driver.poll() is not None else "")
        long_task = first.split()[1]
        eventually(cluster, "the long task's first line at the head before the cut",
                   lambda: _fault_lines_at_head(cluster, run), 60)

        cluster.h2.link_down()
        cut_at = time.monotonic()
        try:
            eventually(cluster, "the head to show host 2's agent disconnected during the cut",
                       lambda: cluster.nodes()[node]["agent_connected"] is False, timeout=CUT_S - 5, every=1)
            assert cluster.nodes()[node]["state"] == "ALIVE", "Ray must not declare host 2 dead in 35 s"
            _nodes_page_shows(cluster, cluster.h2.ip, "disconnected")
            time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
        finally:
            cluster.h2.link_up()

        out, err = driver.communicate(timeout=300)
        assert driver.returncode == 0, err[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    truth = json.loads(next(ln for ln in out.splitlines() if ln.startswith("TRUTH "))[len("TRUTH "):])
    long = truth["long"]
    assert long["task_id"] == long_task and long["node_id"] == node

    on_disk = _fault_lines_on_disk(cluster, run, long["worker_id"])
    assert on_disk == list(range(long["lines"])), "the task's own count and its file on host 2 disagree"
    eventually(cluster, "host 2's agent connected again", lambda: cluster.nodes()[node]["agent_connected"], 120)
    _nodes_page_shows(cluster, cluster.h2.ip, "connected")

    def same_lines() -> bool:
        return sorted(_fault_lines_at_head(cluster, run)) == on_disk

    try:
        eventually(cluster, f"the head to have the {len(on_disk)} lines of host 2's file", same_lines, 120, every=2)
    except AssertionError:
        at_head = _fault_lines_at_head(cluster, run)
        missing = sorted(set(on_disk) - set(at_head))
        dup = len(at_head) - len(set(at_head))
        raise AssertionError(f"head has {len(at_head)} lines, disk {len(on_disk)}; missing {missing[:20]}... "
                             f"({len(missing)}), duplicates {dup}\n{cluster.logs()}") from None
    by_task = [r for r in cluster.all_rows("/logs/lines", [("task_id", long_task)])
               if r["text"].startswith(f"fault-{run}-line-")]
    assert len(by_task) == len(on_disk) and all(r["task_id"] == long_task for r in by_task)

    tick_ids = {t["task_id"] for t in truth["ticks"]}
    assert all(t["node_id"] == node for t in truth["ticks"])

    def latest_attempts() -> list[dict]:
        """One row per task, its last attempt: a tick whose first attempt Ray failed during the cut
        (and retried) is judged by the attempt that ran to the end, as the driver saw it."""
        rows = cluster.all_rows("/tasks", [("filter", f"job_id={truth['job_id']}")])
        latest: dict[str, dict] = {}
        for r in sorted(rows, key=lambda r: r["attempt"]):
            latest[r["task_id"]] = r
        return list(latest.values())

    def ticks_stored() -> dict | None:
        rows = latest_attempts()
        ticks = {r["task_id"]: r for r in rows if (r["name"] or "").endswith("tick")}
        done = {k for k, r in ticks.items() if r["state"] == "FINISHED" and r["node_id"] == node and r["worker_pid"]}
        return ticks if done == tick_ids else None

    def not_done() -> str:
        rows = latest_attempts()
        bad = [(r["task_id"], r["attempt"], r["state"], r["node_id"], r["worker_pid"]) for r in rows
               if r["task_id"] in tick_ids and not (r["state"] == "FINISHED" and r["node_id"] == node and r["worker_pid"])]
        missing = tick_ids - {r["task_id"] for r in rows}
        return f"ticks not FINISHED on host 2 with a pid: {bad[:10]}; never stored: {sorted(missing)[:10]}"

    ticks = eventually(cluster, f"all {len(tick_ids)} tick tasks FINISHED on host 2 at the head", ticks_stored, 120,
                       every=2, what_else=not_done)
    assert set(ticks) == tick_ids, "the head has tick tasks the driver never ran"
