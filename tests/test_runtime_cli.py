"""``rayscope start --head`` / ``start --address`` / ``status`` / ``stop`` on real processes.

One 2-node cluster on this host (own temp dirs, free ports, own token and
RAYSCOPE_HOME), driven only through the real CLI. Also checks, on that real cluster,
the Ray facts the runtime relies on: each node has its own session dir, a driver
started *without* RAY_enable_export_api_write still writes its task events (the
flag travels in the cluster's system config), and the head is published in Ray's KV.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from conftest import RayscopeCluster, _all_records, run_cli, start_rayscope_cluster
from polling import wait_for
from rayscope.runtime import procs, session
from rayscope.runtime.ray_kv import read_head
from rayscope.runtime.state import load_state

DRIVER = """
import os, sys, ray
ray.init(address=sys.argv[1])

@ray.remote
def child(x):
    print("child", x)
    return x + 1

@ray.remote
def boom():
    raise ValueError("driver-test failure")

assert ray.get([child.remote(i) for i in range(3)]) == [1, 2, 3]
try:
    ray.get(boom.remote())
except ray.exceptions.RayTaskError:
    pass
print("PID", os.getpid())
"""


DETACHED = """
import os, sys, ray
ray.init(address=sys.argv[1], namespace="stop-test")

@ray.remote
class Keeper:
    def pid(self):
        return os.getpid()

k = Keeper.options(name="keeper", lifetime="detached").remote()
print("PID", ray.get(k.pid.remote()))
"""


def _driver_events(session_dir: Path, pid: int) -> list[dict]:
    """The `event_data` of the task events the driver process itself wrote (its own export file), read
    with json here rather than Rayscope's decoder, so the decoder is not its own oracle."""
    path = session.export_events_dir(session_dir) / f"event_EXPORT_TASK_{pid}.log"
    wait_for(f"the driver's export file {path}", lambda: path.exists() and path.stat().st_size > 0, 60, every=0.5)
    records = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return [r["event_data"] for r in records if r.get("source_type") == "EXPORT_TASK"]


@pytest.fixture(scope="module")
def cluster():
    with start_rayscope_cluster(num_cpus=1) as c:
        yield c


def test_status_without_anything_started_exits_1(tmp_path: Path) -> None:
    res = run_cli({**os.environ, "RAYSCOPE_HOME": str(tmp_path)}, "status")
    assert res.returncode == 1
    assert "no node" in res.stderr


def test_start_needs_head_or_address(tmp_path: Path) -> None:
    res = run_cli({**os.environ, "RAYSCOPE_HOME": str(tmp_path)}, "start")
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0 and "--head" in res.stderr


def test_each_node_has_its_own_session_dir(cluster: RayscopeCluster) -> None:
    assert cluster.head_session_dir != cluster.worker_session_dir
    # Same cluster, so the same session name, under different temp dirs.
    assert cluster.head_session_dir.name == cluster.worker_session_dir.name
    assert session.node_ids(cluster.head_session_dir) == [cluster.head_node_id]
    assert session.node_ids(cluster.worker_session_dir) == [cluster.worker_node_id]
    assert cluster.head_node_id != cluster.worker_node_id
    for sess in (cluster.head_session_dir, cluster.worker_session_dir):
        assert (session.logs_dir(sess) / "rayscope-agent.log").exists()
        assert (session.logs_dir(sess) / "raylet.out").exists()


def test_state_records_services_with_urls(cluster: RayscopeCluster) -> None:
    roles = sorted(n.role for n in cluster.state.nodes)
    assert roles == ["head", "worker"]
    for node in cluster.state.nodes:
        assert node.agent is not None and node.agent.pid > 0
        assert node.ray_processes, "the Ray daemons of the node were recorded"
        assert Path(node.token_file) == cluster.token_file
    # The API stays on loopback; the ingest listens on the head node's Ray IP (GCS's own host),
    # which other hosts' agents can dial.
    assert cluster.http_url.startswith("http://127.0.0.1:")
    assert cluster.grpc_address.rsplit(":", 1)[0] == cluster.gcs_address.rsplit(":", 1)[0]


def test_head_is_published_in_ray_kv(cluster: RayscopeCluster) -> None:
    head = read_head(cluster.gcs_address, cluster.env)
    assert head is not None
    assert (head.http_url, head.grpc_address) == (cluster.http_url, cluster.grpc_address)


def test_head_service_answers_with_the_token(cluster: RayscopeCluster) -> None:
    url = f"{cluster.http_url}/api/v1/cluster"
    assert httpx.get(url, timeout=10).status_code == 401
    res = httpx.get(url, headers={"Authorization": f"Bearer {cluster.token}"}, timeout=10)
    assert res.status_code == 200, res.text


def test_status_lists_both_nodes(cluster: RayscopeCluster) -> None:
    res = cluster.cli("status")
    assert res.returncode == 0, res.stderr
    assert cluster.http_url in res.stdout
    assert "head node" in res.stdout and "worker node" in res.stdout
    assert "DOWN" not in res.stdout
    # each node's profiling tools (the same lines `rayscope start` prints): this machine has them all
    profile = [ln for ln in res.stdout.splitlines() if ln.startswith("  profile  ")]
    assert len(profile) == 2 and all("py-spy 0." in ln and "memray + gdb" in ln and "ptrace: root" in ln
                                     for ln in profile), res.stdout


def test_plain_driver_writes_its_own_task_events(cluster: RayscopeCluster) -> None:
    """A driver with no export env var still reports task_info + PENDING states."""
    env = {k: v for k, v in cluster.env.items() if k != "RAY_enable_export_api_write"}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(DRIVER)
    res = subprocess.run(
        [sys.executable, fh.name, cluster.gcs_address], env=env, capture_output=True, text=True, timeout=180
    )
    assert res.returncode == 0, res.stderr[-2000:]
    pid = int(res.stdout.split("PID")[-1].split()[0])
    events = _driver_events(cluster.head_session_dir, pid)
    named = {e.get("task_info", {}).get("func_or_class_name") for e in events}
    assert {"child", "boom"} <= named
    # Ray writes state_ts_ns keys as TaskStatus numbers; 1 is PENDING_ARGS_AVAIL
    updates = [e.get("state_updates", {}) for e in events]
    assert any("1" in u.get("state_ts_ns", {}) for u in updates), "PENDING_ARGS_AVAIL comes from the owner (driver)"
    failed = [u["error_info"] for u in updates if u.get("error_info", {}).get("error_type")]
    assert failed and "driver-test failure" in failed[0].get("error_message", "")


def test_stop_stops_exactly_what_was_started(cluster: RayscopeCluster) -> None:
    """Runs last: stop, then every recorded pid is gone and a bystander lives."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # A detached actor outlives its driver; Ray runs workers in their own process group.
        res = subprocess.run(
            [sys.executable, "-c", DETACHED, cluster.gcs_address], env=cluster.env,
            capture_output=True, text=True, timeout=180,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        actor_pid = int(res.stdout.split("PID")[-1].split()[0])
        records = _all_records(load_state(cluster.home))
        assert actor_pid in {r.pid for r in records}
        assert records and all(procs.is_running(r) for r in records[:3])
        res = cluster.cli("stop", timeout=120)
        assert res.returncode == 0, res.stderr
        assert "stopped head node" in res.stdout and "stopped worker node" in res.stdout
        alive = [r for r in records if procs.is_running(r)]
        assert alive == [], f"still running after stop: {alive}"
        assert load_state(cluster.home).nodes == []
        assert cluster.cli("status").returncode == 1
        assert "nothing to stop" in cluster.cli("stop").stdout
        assert bystander.poll() is None, "stop touched an unrelated process"
    finally:
        bystander.kill()
        bystander.wait()


def test_block_runs_until_terminated_then_stops_the_node(tmp_path: Path) -> None:
    """`rayscope start --head ... --block` (KubeRay appends --block to its generated `ray start`):
    it starts everything, says so, stays in the foreground, and SIGTERM stops all it started."""
    from rayscope.runtime.local_cluster import CLI, _isolated_env
    from rayscope.runtime.ports import free_ports

    token = tmp_path / "token"
    token.write_text(os.urandom(24).hex())
    home, temp = tmp_path / "home", Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    env = _isolated_env(home, token)
    gcs, dash, client = free_ports(3)
    proc = subprocess.Popen(
        [*CLI, "start", "--head", f"--port={gcs}", f"--temp-dir={temp}", f"--dashboard-port={dash}",
         f"--ray-client-server-port={client}", "--num-cpus=1", "--include-dashboard=false",
         "--rayscope-port=0", "--rayscope-grpc-port=0", "--block"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    records = []
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("--block:"):
                break
        assert lines and lines[-1].startswith("--block:"), "".join(lines)
        assert proc.poll() is None, "--block returned instead of staying in the foreground"
        records = _all_records(load_state(home))
        assert records and all(procs.is_running(r) for r in records)
        proc.terminate()
        rest = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, rest
        assert "stopped: interrupted" in rest
        assert [r for r in records if procs.is_running(r)] == []
        assert load_state(home).nodes == []
    finally:
        if proc.poll() is None:
            proc.kill()
        procs.terminate(records, grace_s=2)
        import shutil
        shutil.rmtree(temp, ignore_errors=True)
