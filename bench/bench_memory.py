"""`ray-memory` vs Ray's `ray memory`, end to end on the same cluster; and /metrics scrape cost.

Starts a 2-node cluster with `rayscope start`, a driver that holds N object refs (default
10,000, the issue's target), waits until the head has them all, then times both CLIs as a user
runs them (a fresh process each time, output to a pipe) and prints the ratio; target: ray-memory
under half of `ray memory`'s time. Then scrapes our agent's /metrics and Ray's own per-node
metrics endpoint (the same node) and prints bytes, families and time per scrape.

    .venv/bin/python bench/bench_memory.py [--objects 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402
from timing import Latency, print_comparison, sample  # noqa: E402

HOLDER = textwrap.dedent("""
    import json, sys, ray
    ray.init(address=sys.argv[1], logging_level="ERROR")
    refs = [ray.put(i) for i in range(int(sys.argv[2]))]
    node = [n for n in ray.nodes() if n["Alive"] and n["NodeID"] == ray.get_runtime_context().get_node_id()][0]
    print("READY " + json.dumps({"metrics_port": node["MetricsExportPort"], "ip": node["NodeManagerAddress"]}),
          flush=True)
    sys.stdin.read()
""")

BIN = Path(sys.executable).parent


def run(cmd: list[str], env: dict[str, str]) -> str:
    r = subprocess.run(cmd, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr[-2000:]}")
    return r.stdout


def head_object_count(c: LocalCluster) -> int:
    out = run([str(BIN / "ray-memory"), "--address", c.http_url, "--token", c.token, "--json", "--no-history"], c.env)
    return sum(len(g["entries"]) for g in json.loads(out)["groups"])


def scrape(url: str, headers: dict[str, str]) -> tuple[Latency, int, int]:
    body = httpx.get(url, headers=headers, timeout=30).text
    families = sum(1 for line in body.splitlines() if line.startswith("# TYPE "))
    return sample(lambda: httpx.get(url, headers=headers, timeout=30).raise_for_status(), 20), len(body), families


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with local_cluster() as c:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, c.gcs_address, str(a.objects)], env=c.env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = holder.stdout.readline()
            info = json.loads(line.split(" ", 1)[1])
            deadline = time.time() + 120
            while head_object_count(c) < a.objects:
                if time.time() > deadline:
                    raise SystemExit("the head did not get every object ref in 120 s")
                time.sleep(2)
            ours = sample(lambda: run([str(BIN / "ray-memory"), "--address", c.http_url, "--token", c.token,
                                       "--no-history"], c.env), a.repeat)
            ray = sample(lambda: run([str(BIN / "ray"), "memory", "--address", c.gcs_address], c.env), a.repeat)
            print_comparison(f"`ray-memory` vs `ray memory`, {a.objects} object refs, end to end (CLI process)",
                             [("memory table", ours, ray)])
            print(f"ray-memory takes {ours.p50_ms / ray.p50_ms:.2f} of `ray memory`'s time (target < 0.5)")

            head = next(n for n in c.state.nodes if n.role == "head")
            our_lat, our_bytes, our_fams = scrape(head.agent.metrics_url, {})
            ray_url = f"http://{info['ip']}:{info['metrics_port']}/metrics"
            ray_lat, ray_bytes, ray_fams = scrape(ray_url, {})
            print_comparison("node /metrics scrape: our agent vs Ray's metrics agent (same node)",
                             [("scrape", our_lat, ray_lat)])
            print(f"{'':<34} {'bytes':>12} {'families':>9}")
            print(f"{'rayscope agent':<34} {our_bytes:>12} {our_fams:>9}")
            print(f"{'ray metrics agent':<34} {ray_bytes:>12} {ray_fams:>9}")
            print(f"size ratio (ray / ours): {ray_bytes / max(1, our_bytes):.1f}x")
        finally:
            holder.stdin.close()
            holder.wait(30)


if __name__ == "__main__":
    main()
