"""Agent cost: Rayscope's node agent vs Ray's own dashboard agent, same node, same load, one run.

Starts a 2-node cluster with `rayscope start`, keeps 20 CPU-busy Ray workers (actors) on the
head node, then measures over the same window the CPU (percent of one core, from cumulative
CPU time) and memory (USS, RSS) of our agent and of Ray's DashboardAgent on that node.
Targets: our agent < 50 MB USS and < 2% of one core.

    .venv/bin/python bench/bench_agent.py [--workers 20] [--window 30]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import psutil

sys.path.insert(0, os.path.dirname(__file__))
from procstat import ProcessUsage, measure  # noqa: E402
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402

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
    args = parser.parse_args()
    with local_cluster(num_cpus=2) as cluster:
        driver = subprocess.Popen([sys.executable, "-c", BUSY_DRIVER, cluster.gcs_address, cluster.head_node_id,
                                   str(args.workers)], env=cluster.env, stdout=subprocess.PIPE, text=True)
        try:
            assert driver.stdout.readline().startswith("READY")
            time.sleep(args.settle)
            ours_pid, ray_pid = our_agent_pid(cluster), ray_dashboard_agent_pid(str(cluster.head_session_dir))
            with ThreadPoolExecutor(2) as pool:
                ours_f = pool.submit(measure, ours_pid, args.window)
                ray_f = pool.submit(measure, ray_pid, args.window)
                report(ours_f.result(), ray_f.result(), args.workers, args.window)
        finally:
            driver.kill()
            driver.wait()


if __name__ == "__main__":
    main()
