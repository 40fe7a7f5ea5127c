"""Shared fixtures: real Rayscope clusters started through the real ``rayscope`` CLI.

``rayscope_cluster`` (session scope) is a 2-node Ray cluster on this host (head + one
worker node, each with its own --temp-dir, so each has its own session dir and agent),
with the Rayscope head service, started by ``rayscope start --head`` and
``rayscope start --address``. Every port is free-picked, the token is per-cluster
(RAY_AUTH_TOKEN_PATH), and RAYSCOPE_HOME is a temp dir, so it never touches other
clusters on the host or the user's ~/.ray and ~/.rayscope. Teardown is ``rayscope stop``
plus a kill of any recorded pid that survived (never a bare ``ray stop``).

Fields of the yielded ``RayscopeCluster``:
    home              RAYSCOPE_HOME of this cluster (holds state.json)
    env               environment for anything that talks to the cluster: CLI calls,
                      drivers (``subprocess.run([sys.executable, script], env=c.env)``)
    gcs_address       Ray address for ``ray.init(address=...)`` / ``--address``
    http_url          head service REST base, e.g. http://127.0.0.1:PORT (API under /api/v1)
    grpc_address      head service ingest address
    token, token_file the bearer token (Authorization: Bearer <token>) and its file
    head_session_dir, worker_session_dir   each node's Ray session dir
    head_node_id, worker_node_id           Ray node ids (hex)
    state             the runtime.state.State recorded after start
    cli(*args)        run ``rayscope ARGS`` against this cluster -> CompletedProcess
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from rayscope.runtime import procs
from rayscope.runtime.ports import free_ports
from rayscope.runtime.state import ProcessRecord, State, load_state

CLI = [sys.executable, "-m", "rayscope.cli.main"]


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``rayscope ARGS`` as a real subprocess, output captured as text."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class RayscopeCluster:
    home: Path
    env: dict[str, str]
    gcs_address: str
    http_url: str
    grpc_address: str
    token: str
    token_file: Path
    head_session_dir: Path
    worker_session_dir: Path
    head_node_id: str
    worker_node_id: str
    state: State

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_cli(self.env, *args, timeout=timeout)


def _all_records(state: State) -> list[ProcessRecord]:
    out: list[ProcessRecord] = []
    for node in state.nodes:
        out += node.ray_processes
        out += procs.group_members(node.ray_pgid, node.started_at)
        out += procs.descendants(out)
        for svc in (node.agent, node.head_service):
            if svc is not None:
                out.append(ProcessRecord(pid=svc.pid, create_time=svc.create_time))
    return out


def _isolated_env(home: Path, token_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYSCOPE_"))}
    env.update(
        RAYSCOPE_HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file),
        RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def start_rayscope_cluster(num_cpus: int = 2) -> Iterator[RayscopeCluster]:
    """Start head + worker node through the CLI; always stop what was started."""
    home = Path(tempfile.mkdtemp(prefix="rs-home-", dir="/tmp"))
    head_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    worker_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    token_file = home / "ray_token"
    token_file.write_text(os.urandom(24).hex() + "\n")
    token_file.chmod(0o600)
    env = _isolated_env(home, token_file)
    gcs_port, dash_port, client_port = free_ports(3)
    snapshot = State()
    try:
        res = run_cli(
            env, "start", "--head", f"--port={gcs_port}", f"--temp-dir={head_tmp}",
            f"--dashboard-port={dash_port}", f"--ray-client-server-port={client_port}",
            f"--num-cpus={num_cpus}", "--include-dashboard=false",
        )
        snapshot = load_state(home)
        assert res.returncode == 0, f"rayscope start --head failed:\n{res.stdout}\n{res.stderr}"
        head = snapshot.nodes[0]
        res = run_cli(env, "start", "--address", head.gcs_address, f"--temp-dir={worker_tmp}", f"--num-cpus={num_cpus}")
        snapshot = load_state(home)
        assert res.returncode == 0, f"rayscope start --address failed:\n{res.stdout}\n{res.stderr}"
        worker = next(n for n in snapshot.nodes if n.role == "worker")
        assert head.head_service is not None
        yield RayscopeCluster(
            home=home, env=env, gcs_address=head.gcs_address, http_url=head.head_service.http_url,
            grpc_address=head.head_service.grpc_address, token=token_file.read_text().strip(),
            token_file=token_file, head_session_dir=Path(head.session_dir),
            worker_session_dir=Path(worker.session_dir), head_node_id=head.node_id,
            worker_node_id=worker.node_id, state=snapshot,
        )
    finally:
        try:
            records = _all_records(load_state(home)) + _all_records(snapshot)
        except Exception:  # a broken state file must not stop the cleanup
            records = _all_records(snapshot)
        run_cli(env, "stop", timeout=120)
        procs.terminate(records, grace_s=2)  # anything `stop` missed
        for path in (home, head_tmp, worker_tmp):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def rayscope_cluster() -> Iterator[RayscopeCluster]:
    """One 2-node Rayscope cluster shared by every test that asks for it (~30 s to start)."""
    with start_rayscope_cluster() as cluster:
        yield cluster
