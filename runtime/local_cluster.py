"""A throwaway multi-node Ray cluster on this host, started through the real ``rayscope`` CLI.

Used by the tests and the benchmarks: a head node and worker nodes, each with its own
--temp-dir (so each has its own session dir and agent), the Rayscope head service, free
ports everywhere, a per-cluster Ray token (RAY_AUTH_TOKEN_PATH) and a private
RAYSCOPE_HOME, so it never touches other clusters on the host or the user's ~/.ray and
~/.rayscope. Teardown is ``rayscope stop`` plus a kill of any recorded pid that survived
(never a bare ``ray stop``).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import psutil

from rayscope.runtime import procs
from rayscope.runtime.auth_token import read_token_file, write_token_file
from rayscope.runtime.ports import free_ports
from rayscope.runtime.state import ProcessRecord, State, load_state

__all__ = ["LocalCluster", "local_cluster", "run_cli"]

CLI = [sys.executable, "-m", "rayscope.cli.main"]


def run_cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``rayscope ARGS`` as a real subprocess, output captured as text."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class LocalCluster:
    """Fields:
    home              RAYSCOPE_HOME of this cluster (holds state.json)
    env               environment for anything that talks to the cluster: CLI calls,
                      drivers (``subprocess.run([sys.executable, script], env=c.env)``)
    gcs_address       Ray address for ``ray.init(address=...)`` / ``--address``
    http_url          head service REST base, e.g. http://127.0.0.1:PORT (API under /api/v1)
    grpc_address      head service ingest address
    token, token_file the bearer token (Authorization: Bearer <token>) and its file
    head_session_dir, worker_session_dir   each node's Ray session dir
    head_node_id, worker_node_id           Ray node ids (hex)
    ray_dashboard_url Ray's own dashboard (State API), when started with ray_dashboard=True
    state             the runtime.state.State recorded after start
    """

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
    ray_dashboard_url: str | None
    state: State

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_cli(self.env, *args, timeout=timeout)


def _all_records(state: State) -> list[ProcessRecord]:
    out: list[ProcessRecord] = []
    for node in state.nodes:
        out += node.ray_processes
        out += procs.group_members(node.ray_pgid, node.started_at)
        out += procs.descendants(out)  # Ray workers run in process groups of their own
        for svc in (node.agent, node.head_service):
            if svc is not None:
                out.append(ProcessRecord(pid=svc.pid, create_time=svc.create_time))
    return out


RAY_NODE_START_TIMEOUT = "The current node timed out during startup"


def _kill_processes_under(temp_dir: Path) -> None:
    """What a failed `ray start --temp-dir=temp_dir` left running (its raylet, agents): only
    processes whose command line names that directory, which this cluster alone uses."""
    needle = str(temp_dir)
    mine = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(needle in arg for arg in proc.info["cmdline"] or ()):
            mine.append(proc)
    for proc in mine:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(mine, timeout=10)


def _isolated_env(home: Path, token_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYSCOPE_"))}
    env.update(
        RAYSCOPE_HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file),
        RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def local_cluster(num_cpus: int = 2, ray_dashboard: bool = False,
                  head_args: Sequence[str] = (), worker_args: Sequence[str] = (),
                  extra_env: Mapping[str, str] | None = None) -> Iterator[LocalCluster]:
    """Start head + worker node through the CLI; always stop what was started. `extra_env` is
    added to the cluster's environment (e.g. RAYSCOPE_OTLP_ENDPOINT for the head service)."""
    home = Path(tempfile.mkdtemp(prefix="rs-home-", dir="/tmp"))
    head_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))  # short: Ray's socket paths max 107 chars
    worker_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    token_file = home / "ray_token"
    write_token_file(token_file, os.urandom(24).hex())
    env = {**_isolated_env(home, token_file), **(extra_env or {})}
    gcs_port, dash_port, client_port = free_ports(3)
    snapshot = State()
    try:
        res = run_cli(
            env, "start", "--head", f"--port={gcs_port}", f"--temp-dir={head_tmp}",
            f"--dashboard-port={dash_port}", f"--ray-client-server-port={client_port}",
            f"--num-cpus={num_cpus}", f"--include-dashboard={'true' if ray_dashboard else 'false'}",
            "--rayscope-port=0", "--rayscope-grpc-port=0",  # free ones, fixed for the cluster's life
            *head_args,
        )
        snapshot = load_state(home)
        if res.returncode != 0:
            raise RuntimeError(f"rayscope start --head failed:\n{res.stdout}\n{res.stderr}")
        head = snapshot.nodes[0]
        res = run_cli(env, "start", "--address", head.gcs_address, f"--temp-dir={worker_tmp}",
                      f"--num-cpus={num_cpus}", *worker_args)
        if res.returncode != 0 and RAY_NODE_START_TIMEOUT in res.stderr:
            # Ray's own `ray start` gave up waiting 30 s for its raylet to register (seen about once in
            # eight suite runs on a 2-core CI machine). Say so, clear that attempt, and try once more.
            print(f"local_cluster: {RAY_NODE_START_TIMEOUT!r} on the worker node; retrying once:\n"
                  f"{res.stderr[-1500:]}", file=sys.stderr, flush=True)
            _kill_processes_under(worker_tmp)
            shutil.rmtree(worker_tmp, ignore_errors=True)
            worker_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
            res = run_cli(env, "start", "--address", head.gcs_address, f"--temp-dir={worker_tmp}",
                          f"--num-cpus={num_cpus}", *worker_args)
        snapshot = load_state(home)
        if res.returncode != 0:
            raise RuntimeError(f"rayscope start --address failed:\n{res.stdout}\n{res.stderr}")
        worker = next(n for n in snapshot.nodes if n.role == "worker")
        assert head.head_service is not None
        yield LocalCluster(
            home=home, env=env, gcs_address=head.gcs_address, http_url=head.head_service.http_url,
            grpc_address=head.head_service.grpc_address, token=read_token_file(token_file),
            token_file=token_file, head_session_dir=Path(head.session_dir),
            worker_session_dir=Path(worker.session_dir), head_node_id=head.node_id,
            worker_node_id=worker.node_id,
            ray_dashboard_url=f"http://127.0.0.1:{dash_port}" if ray_dashboard else None, state=snapshot,
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
