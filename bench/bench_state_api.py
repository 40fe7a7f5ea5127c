"""Task listing and summary: Rayscope's head vs Ray's State API, on the same cluster, in one run.

Starts a 2-node cluster with `rayscope start` (Ray's own dashboard on too), runs N no-op
tasks, waits until the head holds all of them, then times
  - a filtered page of 100 (state=FINISHED): GET /api/v1/tasks  vs  ray.util.state.list_tasks
  - the per-function summary:                GET /api/v1/tasks/summary  vs  summarize_tasks
and prints p50/p95 with the ratio (Ray p50 / Rayscope p50), plus how many tasks each side
can see at all (Ray's State API caps at 10,000 rows).

    .venv/bin/python bench/bench_state_api.py [--tasks 20000]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402
from timing import print_comparison, sample  # noqa: E402

DRIVER = textwrap.dedent("""
    import sys, ray
    ray.init(address=sys.argv[1], logging_level="ERROR")
    @ray.remote
    def noop(i):
        return i
    n = int(sys.argv[2])
    for start in range(0, n, 2000):
        ray.get([noop.remote(i) for i in range(start, min(n, start + 2000))])
    print("JOB", ray.get_runtime_context().get_job_id())
""")


def run_tasks(cluster: LocalCluster, n: int) -> str:
    out = subprocess.run([sys.executable, "-c", DRIVER, cluster.gcs_address, str(n)], env=cluster.env,
                         capture_output=True, text=True, timeout=1800, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("JOB "))


def wait_until_stored(api: httpx.Client, job_id: str, n: int, timeout_s: float = 600) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        summary = api.get("/tasks/summary", params={"filter": f"job_id={job_id}"}).json()
        done = sum(r["states"].get("FINISHED", 0) for r in summary["rows"] if r["name"].endswith("noop"))
        if done >= n:
            return time.monotonic() - start
        time.sleep(0.5)
    raise SystemExit(f"the head did not store {n} finished tasks within {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5, help="timed calls of Ray's (slow) API")
    args = parser.parse_args()

    with local_cluster(num_cpus=2, ray_dashboard=True) as cluster:
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("RAY_")})
        from ray.util.state import list_tasks, summarize_tasks

        api = httpx.Client(base_url=cluster.http_url + "/api/v1", timeout=120,
                           headers={"Authorization": f"Bearer {cluster.token}"})
        t0 = time.monotonic()
        job_id = run_tasks(cluster, args.tasks)
        ran_s = time.monotonic() - t0
        lag_s = wait_until_stored(api, job_id, args.tasks)
        print(f"{args.tasks} tasks ran in {ran_s:.1f} s; all stored at the head {lag_s:.1f} s after the driver ended")

        ray_addr = cluster.ray_dashboard_url
        filters = [("state", "=", "FINISHED")]
        ours_page = sample(lambda: api.get("/tasks", params={"filter": "state=FINISHED", "limit": 100}).raise_for_status(), 50)
        ray_page = sample(lambda: list_tasks(address=ray_addr, filters=filters, limit=100,
                                             raise_on_missing_output=False), args.repeat)
        ours_sum = sample(lambda: api.get("/tasks/summary").raise_for_status(), 50)
        ray_sum = sample(lambda: summarize_tasks(address=ray_addr, raise_on_missing_output=False), args.repeat)
        print_comparison(f"{args.tasks} finished tasks, 2 nodes", [
            ("list 100 tasks, state=FINISHED", ours_page, ray_page),
            ("summarize tasks", ours_sum, ray_sum),
        ])

        ray_seen = len(list_tasks(address=ray_addr, filters=filters, limit=10000, raise_on_missing_output=False))
        summary = api.get("/tasks/summary", params={"filter": f"job_id={job_id}"}).json()
        ours_seen = sum(r["states"].get("FINISHED", 0) for r in summary["rows"] if r["name"].endswith("noop"))
        ray_counted = sum(
            v.get("state_counts", {}).get("FINISHED", 0)
            for v in summarize_tasks(address=ray_addr, raise_on_missing_output=False)["cluster"]["summary"].values())
        print(f"\ntasks visible: rayscope {ours_seen} of {args.tasks}; Ray list_tasks {ray_seen}, "
              f"Ray summarize_tasks counts {ray_counted}")


if __name__ == "__main__":
    main()
