"""What one round of the head's alert evaluator costs on a big cluster's store (dashboard/alerting/).

The REAL head process is fed over gRPC as agents feed it: N alive nodes (GCS's node table from the head
node's agent), each with its own agent streaming a minute of per-second node and object-store samples;
running tasks on every node, pending ones, dead workers. Then every rule's condition is timed over a
reader connection of that store, as the evaluator runs them each round (the SQL and the Python; the
head runs them on a worker thread of its own process).

    .venv/bin/python bench/bench_alerts.py [--nodes 1000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from head_process import IngestClient, running_head, task_event  # noqa: E402
from rayscope.alerts.rules import RULES  # noqa: E402
from rayscope.dashboard.alerting.conditions import CONDITIONS, Memory  # noqa: E402
from rayscope.dashboard.store.connection import open_reader  # noqa: E402
from rayscope.runtime.ray_enums import AWAITING_NODE  # noqa: E402
from rayscope.wire import rayscope_ingest_pb2 as pb  # noqa: E402

GIB = 1 << 30
RUNNING_PER_NODE = 8
PENDING = 2000
DEAD_WORKERS = 5000
JOBS = 20


def node_id(i: int) -> str:
    return f"{i:056x}"


def feed(head, nodes: int) -> None:
    now = time.time()
    head_node = node_id(0)
    with IngestClient(head.grpc_address, head.token) as c:
        seq = c.hello("agent-0", head_node, node_ip="10.0.0.1")
        events = [pb.NodeEvent(node_id=node_id(i), state="ALIVE", node_ip=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                               resources_total={"CPU": 16, "GPU": 1}, event_time=now,
                               start_time_ms=int((now - 3600) * 1000)) for i in range(nodes)]
        tasks = [task_event(f"{i:048x}", f"{i % JOBS + 1:08x}", name=f"f{i % 7}", node_id=node_id(i % nodes),
                            required_resources={"CPU": 1.0}, states={AWAITING_NODE: now - 30, "RUNNING": now - 20})
                 for i in range(nodes * RUNNING_PER_NODE)]
        tasks += [task_event(f"{10**9 + i:048x}", f"{i % JOBS + 1:08x}", name="wait",
                             required_resources={"CPU": 1.0} if i % 10 else {"TPU": 4.0},
                             states={AWAITING_NODE: now - i % 900}) for i in range(PENDING)]
        workers = [pb.WorkerEvent(worker_id=f"{i:056x}", node_id=node_id(i % nodes), pid=1000 + i, worker_type="WORKER",
                                  is_alive=False, exit_type="INTENDED_USER_EXIT", end_time=now - 60, event_time=now)
                   for i in range(DEAD_WORKERS)]
        jobs = [pb.JobEvent(job_id=f"{j + 1:08x}", is_dead=False, event_time=now) for j in range(JOBS)]
        for k in range(0, max(len(tasks), len(events)), 5000):
            seq += 1
            c.send(pb.Batch(seq=seq, created_at=time.time(), nodes=events[k:k + 5000], tasks=tasks[k:k + 5000],
                            workers=workers[k:k + 5000] if k < len(workers) else [], jobs=jobs if k == 0 else []))
    # Two passes: a minute of history per node, then one fresh sample each (a condition judges only
    # samples under a minute old, and the first pass takes a while at 1,000 nodes).
    for fresh in (False, True):
        for i in range(nodes):
            t = time.time()
            ts = [t] if fresh else [t - 120 + s for s in range(60)]
            samples = [pb.NodeSample(ts=x, cpu_percent=50, mem_total=64 * GIB, mem_used=(20 + i % 40) * GIB,
                                     disk_total=100 * GIB, disk_used=50 * GIB,
                                     gpus=[pb.GpuSample(index=0, utilization_ratio=0.5, memory_total=GIB)]) for x in ts]
            stores = [pb.ObjectStoreSample(ts=x, used_bytes=GIB // 2, capacity_bytes=GIB,
                                           spilled_bytes_total=int(x - now) * 1000 + 10**6) for x in ts]
            with IngestClient(head.grpc_address, head.token) as c:
                seq = c.hello(f"agent-{i}", node_id(i), node_ip=events[i].node_ip)
                c.send(pb.Batch(seq=seq + 1, created_at=time.time(), node_samples=samples, object_store=stores))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with running_head(extra_args=["--alert-eval-s", "3600"]) as head:  # its own evaluator stays out of the way
        t0 = time.monotonic()
        feed(head, args.nodes)
        print(f"fed {args.nodes} nodes ({args.nodes * RUNNING_PER_NODE} running tasks, {PENDING} pending, "
              f"{DEAD_WORKERS} dead workers, 60 s of samples each) in {time.monotonic() - t0:.1f} s")
        conn = open_reader(head.db_path)
        times: dict[str, list[float]] = {r.name: [] for r in RULES}
        found: dict[str, int] = {}
        memories = {r.name: Memory() for r in RULES}
        for _ in range(args.rounds):
            for r in RULES:
                t = time.perf_counter()
                obs = CONDITIONS[r.name].find(conn, r, time.time(), memories[r.name])
                times[r.name].append((time.perf_counter() - t) * 1000)
                found[r.name] = len(obs)
        conn.close()
    print(f"{'rule':28} {'median ms':>10} {'max ms':>8} {'found':>6}")
    for r in RULES:
        print(f"{r.name:28} {statistics.median(times[r.name]):10.1f} {max(times[r.name]):8.1f} {found[r.name]:6d}")
    total = [sum(times[r.name][k] for r in RULES) for k in range(args.rounds)]
    print(f"{'one round (all rules)':28} {statistics.median(total):10.1f} {max(total):8.1f}")


if __name__ == "__main__":
    main()
