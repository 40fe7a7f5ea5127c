"""Remote breakpoints: Rayscope's debugger vs Ray's own debugger path, on one cluster, in one run.

Starts a 2-node cluster with `rayscope start` (Ray's dashboard on too, for the State API). Two
drivers run tasks pinned to the *worker* node (so our path crosses the relay), each calling
`breakpoint()` right after writing the wall-clock time to a stamp file:
  - Rayscope: the job as is (the cluster's hook pauses it in Rayscope's debugger);
  - Ray:      the same job with `runtime_env={"env_vars": {"RAYSCOPE_DEBUGGER": "0",
              "RAY_DEBUG": "1"}}`, i.e. Ray's normal debugpy breakpoint, no Rayscope hook.
For every breakpoint it times
  - listed: stamp -> the session in GET /api/v1/debug/sessions  vs  stamp -> the worker with
    num_paused_threads > 0 in `ray.util.state.list_workers(detail=True)` (what Ray's tools use);
  - one listing call: what a poll costs on each side (it bounds how soon a pause is seen);
  - attach: attach request -> first stackTrace answer: ticket + WebSocket tunnel + DAP through
    head and agent  vs  DAP straight to the worker's debugpy port (Ray's path: no auth, the port
    must be reachable).
Both sides poll as fast as they answer (10 ms sleep between calls). Prints p50/p95 and the ratio.

    .venv/bin/python bench/bench_debugger.py [--breakpoints 10]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TypeVar

sys.path.insert(0, os.path.dirname(__file__))
from rayscope.cli.client import HeadClient, HeadTarget  # noqa: E402
from rayscope.cli.ray_debug.sessions import connect_dap, list_sessions  # noqa: E402
from rayscope.debugger.dap import DapClient  # noqa: E402
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402
from timing import Latency, print_comparison, sample  # noqa: E402

POLL_S = 0.01
T = TypeVar("T")

DRIVER = textwrap.dedent("""
    import os, sys, time, ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    address, node_id, stamps, n, side = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    env = {"RAYSCOPE_DEBUGGER": "0", "RAY_DEBUG": "1"} if side == "ray" else {"RAYSCOPE_BENCH": "1"}
    ray.init(address=address, logging_level="ERROR", runtime_env={"env_vars": env})

    @ray.remote(num_cpus=0, max_calls=1)  # a fresh worker per breakpoint (the first in a process)
    def paused(i):
        x = i * 2
        with open(os.path.join(stamps, str(i)), "w") as f:
            f.write(repr(time.time()))
        breakpoint()
        return x

    print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    for i in range(n):
        sys.stdin.readline()  # the bench says when to go, so it is polling before the pause
        assert ray.get(paused.options(scheduling_strategy=strategy).remote(i)) == i * 2
        print("DONE", i, flush=True)
""")


@dataclass
class Driver:
    proc: subprocess.Popen
    job_id: str
    stamps: Path

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait_done(self, i: int) -> None:
        for line in self.proc.stdout:
            if line.strip() == f"DONE {i}":
                return
        raise SystemExit(f"the driver ended before task {i} finished (exit {self.proc.wait()})")

    def stamp(self, i: int) -> float:
        return float((self.stamps / str(i)).read_text())


def start_driver(cluster: LocalCluster, side: str, n: int) -> Driver:
    stamps = Path(tempfile.mkdtemp(prefix=f"rs-bench-{side}-"))
    script = stamps / "bench_debugger_job.py"  # a real file: debuggers skip code from `python -c`
    script.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), cluster.gcs_address, cluster.worker_node_id, str(stamps), str(n), side],
        env=cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    first = proc.stdout.readline().split()
    if first[:1] != ["JOB"]:
        raise SystemExit(f"the {side} driver did not start (exit {proc.wait()})")
    return Driver(proc, first[1], stamps)


def poll(what: str, probe: Callable[[], Optional[T]], timeout_s: float = 120) -> tuple[T, float]:
    """Call `probe` until it returns something; that and the wall-clock time it was seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found, time.time()
        time.sleep(POLL_S)
    raise SystemExit(f"{what}: nothing within {timeout_s} s")


def first_stack(dap: DapClient) -> None:
    """The attach handshake up to the first stackTrace answer (what an IDE needs to show code)."""
    dap.attach(client_id="bench")
    stopped = dap.wait_stopped(30)
    frames = dap.stack_trace(stopped.thread_id, levels=20)
    if not frames or frames[0].name != "paused":
        raise SystemExit(f"unexpected first frame: {frames[:1]}")


def time_side(
    driver: Driver, n: int, find: Callable[[], Optional[T]], open_dap: Callable[[T], DapClient]
) -> tuple[Latency, Latency]:
    """For each breakpoint: stamp -> `find` sees it; `open_dap` + handshake -> first stackTrace."""
    listed, attach = [], []
    try:
        for i in range(n):
            driver.go()
            target, seen = poll("the paused task", find)
            listed.append(seen - driver.stamp(i))
            start = time.perf_counter()
            dap = open_dap(target)
            first_stack(dap)
            attach.append(time.perf_counter() - start)
            dap.disconnect()
            dap.close()
            driver.wait_done(i)
    finally:
        driver.proc.kill()
    return Latency(listed), Latency(attach)


def run_rayscope(cluster: LocalCluster, n: int) -> tuple[Latency, Latency]:
    """Listed by our REST API; attached through ticket + tunnel."""
    driver = start_driver(cluster, "rayscope", n)
    with HeadClient(HeadTarget(cluster.http_url, cluster.token)) as client:

        def find() -> Optional[str]:
            rows = [s for s in list_sessions(client, driver.job_id) if s.state == "paused"]
            return rows[0].session_id if rows else None

        return time_side(driver, n, find, lambda sid: connect_dap(client, sid, "bench@localhost", 30))


def run_ray(cluster: LocalCluster, n: int) -> tuple[Latency, Latency]:
    """Listed by Ray's State API (a worker with paused threads); attached straight to its debugpy port."""
    from ray.util.state import list_workers

    driver = start_driver(cluster, "ray", n)

    def find() -> Optional[tuple[str, int]]:
        for w in list_workers(address=cluster.ray_dashboard_url, detail=True, limit=10000,
                              raise_on_missing_output=False):
            if w.is_alive and (w.num_paused_threads or 0) > 0 and w.debugger_port:
                return w.ip, int(w.debugger_port)
        return None

    return time_side(driver, n, find, lambda where: DapClient.tcp(where[0], where[1], 30))


def listing_calls(cluster: LocalCluster) -> tuple[Latency, Latency]:
    """What one poll costs on each side: it bounds how soon a pause can be seen."""
    from ray.util.state import list_workers

    with HeadClient(HeadTarget(cluster.http_url, cluster.token)) as client:
        ours = sample(lambda: list_sessions(client), 20)
    ray = sample(lambda: list_workers(address=cluster.ray_dashboard_url, detail=True, limit=10000,
                                      raise_on_missing_output=False), 5)
    return ours, ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--breakpoints", type=int, default=10, help="breakpoints timed per side")
    parser.add_argument("--only", choices=("rayscope", "ray"), help="time one side only (for debugging the bench)")
    args = parser.parse_args()
    with local_cluster(num_cpus=2, ray_dashboard=True) as cluster:
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("RAY_")})
        if args.only != "ray":
            ours_listed, ours_attach = run_rayscope(cluster, args.breakpoints)
        if args.only != "rayscope":
            ray_listed, ray_attach = run_ray(cluster, args.breakpoints)
        ours_call, ray_call = listing_calls(cluster)
    if args.only:
        listed, attach = (ours_listed, ours_attach) if args.only == "rayscope" else (ray_listed, ray_attach)
        print(f"{args.only}: listed p50 {listed.p50_ms:.1f} ms, attach -> first stackTrace p50 {attach.p50_ms:.1f} ms")
        return
    print_comparison(f"{args.breakpoints} breakpoints per side, task on the worker node of 2", [
        ("breakpoint() -> listed", ours_listed, ray_listed),
        ("attach -> first stackTrace", ours_attach, ray_attach),
        ("one listing call (poll resolution)", ours_call, ray_call),
    ])


if __name__ == "__main__":
    main()
