"""Agent collectors and the agent process against a real one-node Ray cluster.

The cluster gets its own temp dir, free ports and token file, and only the processes it
started are stopped. The ingest side of the end-to-end test is a minimal in-test gRPC
server speaking the wire schema (the real head is tested in test_agent_shipper.py).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
import pytest

from polling import read_line, wait_for
from rayscope.agent.collectors.object_store import ObjectStoreCollector
from rayscope.agent.collectors.processes import ProcessCollector, parse_title
from rayscope.runtime.node_identity import NodeIdentity, discover
from rayscope.runtime.ports import free_ports
from rayscope.wire.grpc_service import SERVICE, STREAM
from rayscope.wire.rayscope_ingest_pb2 import AgentMessage, Batch, HeadMessage, LogKind

PY = sys.executable
RAY = str(Path(PY).parent / "ray")


@dataclass
class RayNode:
    temp_dir: str
    token_file: str
    gcs_address: str
    session_dir: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)

    def ray_pids(self) -> list[int]:
        """Every process this cluster consists of (matched by its temp dir or GCS address)."""
        pids: set[int] = set()
        for p in psutil.process_iter(["pid"]):
            try:
                cmd = " ".join(p.cmdline())
            except psutil.Error:
                continue
            if self.temp_dir in cmd or f"--address={self.gcs_address}" in cmd:
                pids.add(p.pid)
                if "raylet" in cmd:
                    try:
                        pids.update(c.pid for c in p.children(recursive=True))
                    except psutil.Error:
                        pass
        return sorted(pids - {os.getpid()})

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        victims = []
        for pid in self.ray_pids():
            try:
                p = psutil.Process(pid)
                p.terminate()
                victims.append(p)
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(victims, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        if not os.environ.get("RAYSCOPE_TEST_KEEP_TMP"):
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_ray_node() -> RayNode:
    temp = tempfile.mkdtemp(prefix="rs-", dir="/tmp")
    token_file = os.path.join(temp, "token")
    with open(token_file, "w") as f:
        f.write("rayscopeagenttest" + os.urandom(16).hex())
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=token_file, RAY_enable_export_api_write="1",
               RAY_USAGE_STATS_ENABLED="0")
    gcs_port, dash, agent_http, agent_grpc, metrics, node_mgr, obj_mgr, env_agent, client = free_ports(9)
    low = _worker_port_range_start(avoid=(gcs_port, dash, agent_http, agent_grpc, metrics, node_mgr, obj_mgr,
                                          env_agent, client), width=WORKER_PORTS)
    cmd = [
        RAY, "start", "--head", f"--temp-dir={temp}", f"--port={gcs_port}", "--num-cpus=2",
        "--object-store-memory=100000000", "--include-dashboard=false", "--disable-usage-stats",
        f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent_http}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
        f"--node-manager-port={node_mgr}", f"--object-manager-port={obj_mgr}",
        f"--runtime-env-agent-port={env_agent}", f"--ray-client-server-port={client}",
        f"--min-worker-port={low}", f"--max-worker-port={low + WORKER_PORTS - 1}",
    ]
    node = RayNode(temp, token_file, "", "", env)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=temp)
    sessions = [d for d in os.listdir(temp) if d.startswith("session_2")]
    if sessions:
        node.session_dir = os.path.join(temp, sessions[0])
        ports = [n for n in os.listdir(node.session_dir) if n.startswith("gcs_server_port_")]
        ip = _raylet_ip(node.session_dir)
        node.gcs_address = f"{ip}:{gcs_port}"
        node.env = dict(env)
        if ports and r.returncode == 0:
            return node
    node.gcs_address = node.gcs_address or f"127.0.0.1:{gcs_port}"
    node.stop()
    raise RuntimeError(f"ray start failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")


WORKER_PORTS = 41


def _worker_port_range_start(avoid: tuple[int, ...], width: int) -> int:
    """A free port starting a ``width``-port worker range that overlaps none of ``avoid``.

    Ray refuses to start when a worker port equals another component's port (CI once drew
    the runtime-env agent's port inside the range), so the range is re-drawn until clear.
    """
    for _ in range(100):
        low = free_ports(1)[0]
        if low + width <= 65535 and not any(low <= port < low + width for port in avoid):
            return low
    raise RuntimeError(f"no {width}-port worker range clear of {avoid}")


def _raylet_ip(session_dir: str) -> str:
    try:
        return discover(session_dir, timeout=20).node_ip
    except Exception:
        return "127.0.0.1"


DRIVER = r"""
import os, sys, time, ray
ray.init(address=sys.argv[1])

@ray.remote
def sleepy_task():
    print("hello from the task", flush=True)
    time.sleep(600)

@ray.remote
class Holder:
    def hold(self):
        time.sleep(600)

h = Holder.remote()
h.hold.remote()
t = sleepy_task.remote()
big = ray.put(b"x" * 5_000_000)
print("hello from the driver", flush=True)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(600)
"""


@pytest.fixture(scope="module")
def ray_node() -> Iterator[RayNode]:
    node = start_ray_node()
    try:
        script = os.path.join(node.temp_dir, "driver.py")
        Path(script).write_text(DRIVER)
        ready = os.path.join(node.temp_dir, "driver.ready")
        drv = subprocess.Popen([PY, script, node.gcs_address, ready], env=node.env, cwd=node.temp_dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node.procs.append(drv)
        def driver_ready() -> bool:
            assert drv.poll() is None, "driver died"
            return os.path.exists(ready)

        def titles() -> set[str]:
            out = set()
            for p in node.ray_pids():
                try:
                    out.add(psutil.Process(p).name())
                except psutil.NoSuchProcess:
                    pass
            return out

        wait_for("the driver's ready file", driver_ready, 90)
        # the task and actor method must be running (their proctitles set)
        wait_for("the task's and the actor method's proctitles",
                 lambda: {"ray::sleepy_task", "ray::Holder.hold"} <= titles(), 90, context=lambda: str(titles()))
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def ident(ray_node: RayNode) -> NodeIdentity:
    return discover(ray_node.session_dir, timeout=30)


def token(node: RayNode) -> str:
    return Path(node.token_file).read_text().strip()


# ---------------------------------------------------------------------- collectors


def test_node_identity(ray_node: RayNode, ident: NodeIdentity) -> None:
    assert len(ident.node_id) == 56 and all(c in "0123456789abcdef" for c in ident.node_id)
    assert os.path.exists(os.path.join(ray_node.session_dir, f"gcs_server_port_{ident.node_id}"))
    assert ident.is_head
    assert "raylet" in psutil.Process(ident.raylet_pid).name()
    assert f"--node_manager_port={ident.raylet_port}" in psutil.Process(ident.raylet_pid).cmdline()
    # via the session_latest symlink too
    assert discover(os.path.join(ray_node.temp_dir, "session_latest")).node_id == ident.node_id


def test_processes_roles_and_ids(ray_node: RayNode, ident: NodeIdentity) -> None:
    pc = ProcessCollector(ident)
    # Pre-started workers' log names carry the nil job id; the raylet's stats know the job (as main wires it).
    stats = ObjectStoreCollector(ident.raylet_address, ident.node_ip, token(ray_node)).sample()
    assert stats is not None
    pc.extra_info = stats.workers
    pc.snapshot()
    time.sleep(0.5)
    snap = pc.snapshot()
    by_role: dict[str, list] = {}
    for p in snap.processes:
        by_role.setdefault(p.role, []).append(p)
    assert [p.pid for p in by_role["raylet"]] == [ident.raylet_pid]
    assert len(by_role["gcs_server"]) == 1
    drivers = by_role["driver"]
    assert [p.pid for p in drivers] == [ray_node.procs[0].pid]
    assert drivers[0].job_id and drivers[0].worker_id.startswith(drivers[0].job_id)
    task = [p for p in by_role["worker"] if p.title == "ray::sleepy_task"]
    actor = [p for p in by_role["worker"] if p.title == "ray::Holder.hold"]
    assert len(task) == 1 and task[0].task_name == "sleepy_task" and len(task[0].worker_id) == 56
    assert task[0].job_id == drivers[0].job_id
    assert len(actor) == 1 and actor[0].actor_class == "Holder" and actor[0].task_name == "Holder.hold"
    assert {p.title for p in by_role["agent"]} >= {"ray::DashboardAgent", "ray::RuntimeEnvAgent"}
    for p in snap.processes:
        assert p.rss > 0 and p.uss > 0 and p.num_threads > 0 and p.num_fds > 0


def _proc_fds_of(pid: int) -> list[str]:
    """Our own descriptors that point into /proc/<pid>/."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"/proc/{pid}/"):
            out.append(target)
    return out


FAKE_RAYLET = r"""
import subprocess, sys
kids = {}
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "spawn":
        p = subprocess.Popen(["sleep", "300"])
        kids[p.pid] = p
        print(p.pid, flush=True)
    elif cmd == "kill":
        kid = kids.pop(int(arg))
        kid.kill()
        kid.wait()
        print("ok", flush=True)
"""


def test_process_collector_follows_children_and_closes_kept_files(tmp_path: Path) -> None:
    """A small process plays the raylet: its children are the "workers"."""
    raylet = subprocess.Popen([PY, "-c", FAKE_RAYLET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(line: str) -> str:
        raylet.stdin.write(line + "\n")
        raylet.stdin.flush()
        return read_line(raylet.stdout, 30, "the fake raylet's answer").strip()

    def workers() -> list[int]:
        return sorted(p.pid for p in pc.snapshot().processes if p.role == "worker")

    ident = NodeIdentity("ab" * 28, "127.0.0.1", raylet.pid, 1, str(tmp_path), tmp_path.name, True)
    pc = ProcessCollector(ident)
    try:
        first = int(ask("spawn"))
        assert workers() == [first]
        assert sorted(_proc_fds_of(first)) == [f"/proc/{first}/cmdline", f"/proc/{first}/stat"]
        second = int(ask("spawn"))  # between rescans: found by re-reading only the spawning thread
        assert workers() == sorted([first, second])
        assert [t for t in _proc_fds_of(raylet.pid) if t.endswith("/children")] == [
            f"/proc/{raylet.pid}/task/{raylet.pid}/children"]
        assert ask(f"kill {first}") == "ok"  # killed and reaped
        assert workers() == [second] and _proc_fds_of(first) == []
        row = next(p for p in pc.snapshot().processes if p.pid == second)
        assert (row.title, row.cmdline, row.ppid) == ("sleep", "sleep 300", raylet.pid)
        pc.close()
        assert _proc_fds_of(second) == [] and _proc_fds_of(raylet.pid) == []
    finally:
        raylet.kill()
        raylet.wait()


def test_parse_title() -> None:
    assert parse_title("ray::IDLE").task_name is None
    assert parse_title("ray::f").task_name == "f"
    t = parse_title("ray::A.m")
    assert (t.task_name, t.actor_class) == ("A.m", "A")
    assert parse_title("ray::A", is_actor=True).actor_class == "A"
    assert parse_title("python3 x.py").task_name is None


def test_object_store_and_refs(ray_node: RayNode, ident: NodeIdentity) -> None:
    oc = ObjectStoreCollector(ident.raylet_address, ident.node_ip, token(ray_node))
    stats = oc.sample(force_refs=True)
    assert stats is not None
    assert stats.store.used_bytes >= 5_000_000 and stats.store.capacity_bytes == 100_000_000
    assert stats.store.num_objects >= 1
    assert stats.objects is not None
    big = [r for r in stats.objects.refs if r.object_size == 5_000_003]
    assert len(big) == 1 and big[0].reference_type == "LOCAL_REFERENCE" and big[0].worker_type == "Driver"
    assert big[0].pid == ray_node.procs[0].pid
    assert any(r.reference_type == "ACTOR_HANDLE" for r in stats.objects.refs)
    assert oc.sample(force_refs=False).objects is None
    actors = [pid for pid, w in stats.workers.items() if w.is_actor]
    assert len(actors) == 1


def test_raylet_rejects_wrong_token(ray_node: RayNode, ident: NodeIdentity) -> None:
    oc = ObjectStoreCollector(ident.raylet_address, ident.node_ip, "wrong-token")
    assert oc.sample() is None and oc.errors == 1


# ---------------------------------------------------------------------- the agent process


@dataclass
class FakeHead:
    """Minimal Ingest server: remembers what it got and its committed seq per agent."""

    token: str
    committed: dict[str, int] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)
    hellos: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream(self, requests, context):
        md = dict(context.invocation_metadata())
        if md.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        first = next(requests)
        agent = first.hello.agent_id
        with self.lock:
            self.hellos.append(first.hello)
        yield HeadMessage(hello_ack={"last_committed_seq": self.committed.get(agent, 0)})
        for msg in requests:
            b = msg.batch
            with self.lock:
                if b.seq > self.committed.get(agent, 0):
                    self.batches.append(b)
                    self.committed[agent] = b.seq
            yield HeadMessage(ack={"seq": b.seq})


def serve_fake_head(head: FakeHead) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(4), options=[("grpc.max_receive_message_length", 64 << 20)])
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {STREAM: grpc.stream_stream_rpc_method_handler(
            head.stream, request_deserializer=AgentMessage.FromString, response_serializer=HeadMessage.SerializeToString)},
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def start_agent(node: RayNode, head_addr: str, state_dir: str, ready: str) -> subprocess.Popen:
    log = open(os.path.join(state_dir, "agent.log"), "ab")
    return subprocess.Popen(
        [PY, "-m", "rayscope.agent", "--session-dir", node.session_dir, "--head", head_addr,
         "--token-file", node.token_file, "--state-dir", state_dir, "--ready-file", ready, "--interval", "0.5"],
        stdout=log, stderr=subprocess.STDOUT, cwd=node.temp_dir,
    )


def stop_agent(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return -9
    return proc.returncode


def test_agent_end_to_end_and_restart(ray_node: RayNode, ident: NodeIdentity) -> None:
    head = FakeHead(token(ray_node))
    server, addr = serve_fake_head(head)
    state = tempfile.mkdtemp(prefix="agent-state-", dir=ray_node.temp_dir)
    ready = os.path.join(state, "ready.json")
    agent = start_agent(ray_node, addr, state, ready)
    try:
        wait_for("ready file", lambda: os.path.exists(ready) or agent.poll() is not None, 60)
        assert agent.poll() is None, Path(state, "agent.log").read_text()[-3000:]
        info = json.loads(Path(ready).read_text())
        assert info["pid"] == agent.pid and info["node_id"] == ident.node_id

        def got(pred) -> bool:
            with head.lock:
                return any(pred(b) for b in head.batches)

        wait_for("worker log line",
                 lambda: got(lambda b: any(b"hello from the task" in ln.text for ln in b.log_lines)), 60)
        wait_for("task event",
                 lambda: got(lambda b: any(t.name == "sleepy_task" for t in b.tasks if t.HasField("name"))), 60)
        wait_for("samples", lambda: got(lambda b: len(b.node_samples) > 0 and len(b.processes.processes) > 0), 30)
        wait_for("object store sample", lambda: got(lambda b: len(b.object_store) > 0), 30)
        hello = head.hellos[0]
        assert hello.node_id == ident.node_id and hello.is_head_node and hello.metrics_url == info["metrics_url"]
        with head.lock:
            files = {f.path: f for b in head.batches for f in b.log_files}
            seqs = [b.seq for b in head.batches]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        workers = [f for f in files.values() if f.kind == LogKind.LOG_WORKER_STDOUT]
        assert workers and all(f.worker_id and f.pid for f in workers)
        assert "raylet.out" in files and files["raylet.out"].file_id == f"{ident.node_id}:raylet.out"
        assert not any(p.startswith("export_events") for p in files)
        body = urllib.request.urlopen(info["metrics_url"], timeout=10).read().decode()
        assert "rayscope_node_cpu_utilization_ratio{" in body and "rayscope_node_memory_used_bytes{" in body
        assert "rayscope_object_store_used_bytes{" in body and 'rayscope_ray_processes{node_id="' in body
        # the agent stays cheap (generous bound: a shared 2-core machine)
        me = psutil.Process(agent.pid)
        assert me.memory_full_info().uss < 80 * 1024 * 1024
        assert stop_agent(agent) == 0

        # restart: resumes after the committed seq, and no line is missing or shipped twice harmfully
        with open(os.path.join(ray_node.session_dir, "logs", "raylet.out"), "rb") as f:
            f.seek(0, 2)
        before = len(head.batches)
        marker = os.path.join(ray_node.session_dir, "logs", "worker-ffff-01000000-1.out")
        Path(marker).write_bytes(b"".join(b"line %d\n" % i for i in range(500)))
        agent = start_agent(ray_node, addr, state, ready)
        wait_for("lines after restart", lambda: got(lambda b: any(ln.text == b"line 499" for ln in b.log_lines)), 60)
        with head.lock:
            assert len(head.hellos) == 2 and head.batches[before].seq > head.batches[before - 1].seq
            marker_lines = [ln for b in head.batches for ln in b.log_lines if ln.file_id.endswith("worker-ffff-01000000-1.out")]
            # every raylet.out line offset seen at most once (dedupe key is unique, nothing resent after a clean stop)
            keys = [(ln.file_id, ln.generation, ln.offset) for b in head.batches for ln in b.log_lines]
        assert sorted(int(ln.text.split()[1]) for ln in marker_lines) == list(range(500))
        assert len(keys) == len(set(keys))
    finally:
        stop_agent(agent)
        server.stop(0)
