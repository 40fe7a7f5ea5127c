"""``rayscope demo``: a throwaway local 2-node cluster with a sample workload.

Uses the same start/stop code as ``rayscope start`` but its own state directory, temp
dirs, token and free ports, so it never touches the user's ``$RAYSCOPE_HOME`` or other
clusters on the host. Runs until Ctrl-C / SIGTERM (or ``--duration``), then stops
everything it started and removes its temp dirs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rayscope.runtime import node as nodes
from rayscope.runtime import procs
from rayscope.runtime.auth_token import read_token_file, write_token_file
from rayscope.runtime.ports import free_ports
from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV, ray_start_env
from rayscope.runtime.state import NodeRecord

__all__ = ["DemoCluster", "run_demo"]


class _Stop(Exception):
    """Raised by the SIGTERM handler to unwind into cleanup."""


@dataclass
class DemoCluster:
    home: Path
    head: NodeRecord
    worker: NodeRecord
    driver: subprocess.Popen
    driver_log: Path
    serve_port: int


def _isolated_env(home: Path) -> dict[str, str]:
    """The user's environment with a demo-only Ray token (token auth on)."""
    token = home / "ray_token"
    write_token_file(token, secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_TOKEN"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token), RAYSCOPE_HOME=str(home))
    return env


def start_demo(home: Path, head_tmp: Path, worker_tmp: Path, python: str) -> DemoCluster:
    env = _isolated_env(home)
    opts = nodes.StartOptions(home=home, env=env, python=python)
    gcs_port, dash_port, client_port, serve_port = free_ports(4)
    head = nodes.start_head(
        [
            f"--port={gcs_port}", f"--temp-dir={head_tmp}", f"--dashboard-port={dash_port}",
            f"--ray-client-server-port={client_port}", "--num-cpus=2", "--include-dashboard=false",
        ],
        opts,
    )
    worker = nodes.start_worker(head.gcs_address, [f"--temp-dir={worker_tmp}", "--num-cpus=2"], opts)
    driver_log = home / "demo-driver.log"
    with open(driver_log, "ab") as log:
        driver = subprocess.Popen(
            [python, "-m", "rayscope.runtime.demo_workload", "--address", head.gcs_address,
             f"--serve-port={serve_port}", f"--train-storage={home / 'train'}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**ray_start_env(env, joining=True), **DATA_PROGRESS_ENV}, start_new_session=True,
        )
    return DemoCluster(home, head, worker, driver, driver_log, serve_port)


def _stop_demo(dirs: list[Path], cluster: DemoCluster | None) -> None:
    """Driver, then every node recorded in the demo's own state, then its dirs."""
    if cluster is not None and cluster.driver.poll() is None:
        procs.terminate([procs.record(cluster.driver.pid)], 5)
        cluster.driver.wait(timeout=10)
    nodes.stop_all(dirs[0])
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def run_demo(duration_s: float | None, python: str = sys.executable) -> int:
    """Start, print where to look, wait for Ctrl-C/SIGTERM/duration, clean up."""
    # Ray's socket paths must stay under 107 characters: short dirs under /tmp.
    home = Path(tempfile.mkdtemp(prefix="rs-demo-", dir="/tmp"))
    head_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    worker_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    cluster = None
    try:
        print("starting a local 2-node Ray cluster with Rayscope (this takes ~30 s)...", flush=True)
        cluster = start_demo(home, head_tmp, worker_tmp, python)
        svc = cluster.head.head_service
        assert svc is not None
        print(f"dashboard:   {svc.http_url}", flush=True)
        print(f"token:       $(cat {cluster.head.token_file})  (Authorization: Bearer <token>)", flush=True)
        print(f"web UI:      {svc.http_url}/#token={read_token_file(cluster.head.token_file)}", flush=True)
        print(f"state CLI:   RAYSCOPE_HOME={home} rayscope list tasks", flush=True)
        print(f"driver log:  {cluster.driver_log}", flush=True)
        print(f"serve app:   http://127.0.0.1:{cluster.serve_port}/qa?x=1  (Ray Serve, when its extras are installed)",
              flush=True)
        print("press Ctrl-C to stop and clean up", flush=True)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while deadline is None or time.monotonic() < deadline:
            if cluster.driver.poll() is not None:
                tail = "\n".join(cluster.driver_log.read_text(errors="replace").splitlines()[-15:])
                print(f"the demo driver exited with code {cluster.driver.returncode}:\n{tail}", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        print("stopping the demo cluster...", flush=True)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _stop_demo([home, head_tmp, worker_tmp], cluster)
        finally:
            signal.signal(signal.SIGTERM, previous)
        print("demo stopped", flush=True)
