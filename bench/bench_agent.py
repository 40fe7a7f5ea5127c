"""Agent cost: Rayscope's node agent vs Ray's own dashboard agent, same node, same load, one run.

Starts a 2-node cluster with `rayscope start`, keeps 20 CPU-busy Ray workers (actors) on the
head node, then measures over the same window the CPU (percent of one core, from cumulative
CPU time) and memory (USS, RSS) of our agent and of Ray's DashboardAgent on that node.
Targets: our agent < 50 MB USS and < 2% of one core.

With --libraries, `rayscope demo`'s workload runs too for the whole window (a Ray Data pipeline each
round with Rayscope's progress callback on, a Serve app answering a query every 0.5 s, so the head
node's agent runs its Serve poller, and one Train run): the agent's cost with every source of issue 13
on (the Serve poller, a separate process, is measured and printed apart).

    .venv/bin/python bench/bench_agent.py [--workers 20] [--window 30] [--libraries]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil

sys.path.insert(0, os.path.dirname(__file__))
from procstat import ProcessUsage, measure  # noqa: E402
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402
from rayscope.runtime.ports import free_ports  # noqa: E402
from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV  # noqa: E402

BUSY_DRIVER = textwrap.dedent("""
    import sys, time, ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    ray.init(address=sys.argv[1], logging_level="ERROR")
    node, n = sys.argv[2], int(sys.argv[3])
    @ray.remote(num_cpus=0)
    class Spinner:
        def spin(self):
            while True:
                sum(i * i for i in range(10000))
    pin = NodeAffinitySchedulingStrategy(node, soft=False)
    spinners = [Spinner.options(scheduling_strategy=pin).remote() for _ in range(n)]
    refs = [s.spin.remote() for s in spinners]
    print("READY", flush=True)
    while True:
        time.sleep(1)
""")


def ray_dashboard_agent_pid(session_dir: str) -> int:
    """Ray's per-node DashboardAgent is a child of that node's raylet."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "raylet" in cmd.split(" ")[0] and session_dir in cmd:
            for child in proc.children():
                if "DashboardAgent" in " ".join(child.cmdline()) or "dashboard/agent.py" in " ".join(child.cmdline()):
                    return child.pid
    raise SystemExit(f"no Ray DashboardAgent found for {session_dir}")


def our_agent_pid(cluster: LocalCluster) -> int:
    head = next(n for n in cluster.state.nodes if n.role == "head")
    assert head.agent is not None
    return head.agent.pid


def report(ours: ProcessUsage, ray: ProcessUsage, workers: int, window: float) -> None:
    mb = 1024 * 1024
    print(f"\n== agent cost with {workers} busy workers on the node, {window:.0f} s window")
    print(f"{'':<22} {'CPU % of one core':>18} {'USS MB':>8} {'RSS MB':>8}")
    print(f"{'rayscope agent':<22} {ours.cpu_percent_of_one_core:>18.2f} {ours.uss_bytes / mb:>8.1f} {ours.rss_bytes / mb:>8.1f}")
    print(f"{'Ray DashboardAgent':<22} {ray.cpu_percent_of_one_core:>18.2f} {ray.uss_bytes / mb:>8.1f} {ray.rss_bytes / mb:>8.1f}")
    cpu_ratio = ray.cpu_percent_of_one_core / max(ours.cpu_percent_of_one_core, 1e-9)
    print(f"{'ratio (Ray / ours)':<22} {cpu_ratio:>17.1f}x {ray.uss_bytes / ours.uss_bytes:>7.1f}x "
          f"{ray.rss_bytes / ours.rss_bytes:>7.1f}x")
    ok_mem = ours.uss_bytes < 50 * mb
    ok_cpu = ours.cpu_percent_of_one_core < 2.0
    print(f"targets: USS < 50 MB {'met' if ok_mem else 'MISSED'}; CPU < 2% of one core {'met' if ok_cpu else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after the workers start")
    parser.add_argument("--libraries", action="store_true",
                        help="also run the demo's Data pipeline, Serve app and Train run (issue 13's sources)")
    args = parser.parse_args()
    with local_cluster(num_cpus=2) as cluster:
        driver = subprocess.Popen([sys.executable, "-c", BUSY_DRIVER, cluster.gcs_address, cluster.head_node_id,
                                   str(args.workers)], env=cluster.env, stdout=subprocess.PIPE, text=True)
        libs = None
        try:
            assert driver.stdout.readline().startswith("READY")
            if args.libraries:
                libs = subprocess.Popen(
                    [sys.executable, "-m", "rayscope.runtime.demo_workload", "--address", cluster.gcs_address,
                     f"--serve-port={free_ports(1)[0]}", "--pause=1"],
                    env={**cluster.env, **DATA_PROGRESS_ENV}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True)
                wait_for_line(libs, "pipeline rows kept:", 300)
            time.sleep(args.settle)
            ours_pid, ray_pid = our_agent_pid(cluster), ray_dashboard_agent_pid(str(cluster.head_session_dir))
            poller = serve_poller_pid(ours_pid) if args.libraries else None
            with ThreadPoolExecutor(3) as pool:
                ours_f = pool.submit(measure, ours_pid, args.window)
                ray_f = pool.submit(measure, ray_pid, args.window)
                poller_f = pool.submit(measure, poller, args.window) if poller else None
                report(ours_f.result(), ray_f.result(), args.workers, args.window)
                if poller_f is not None:
                    p = poller_f.result()
                    print(f"Serve poller (a Ray driver, only while Serve runs): {p.cpu_percent_of_one_core:.2f} % "
                          f"of one core, USS {p.uss_bytes / 2**20:.1f} MB, RSS {p.rss_bytes / 2**20:.1f} MB")
        finally:
            for proc in (libs, driver):
                if proc is not None:
                    proc.kill()
                    proc.wait()


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout_s: float) -> None:
    """Reads `proc`'s output until a line starts with `prefix` (the workload is in full swing)."""
    end = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the library workload exited before printing {prefix!r}")
        if line.startswith(prefix):
            print(f"library workload: {line.strip()}", flush=True)
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
            return
    raise SystemExit(f"no {prefix!r} from the library workload within {timeout_s:.0f} s")


def serve_poller_pid(agent_pid: int) -> int | None:
    """The agent's Serve poller child (runtime/serve_poller.py), if it runs."""
    for child in psutil.Process(agent_pid).children():
        if "serve_poller" in " ".join(child.cmdline()):
            return child.pid
    print("no Serve poller under the agent", flush=True)
    return None


if __name__ == "__main__":
    main()
