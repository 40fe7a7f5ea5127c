"""Ground truth for the Prometheus, OTLP and ray-memory tests.

`python metrics_workload.py GCS_ADDRESS nested N` runs N parent tasks that each run 2 child
tasks, one task that fails, then exits; prints `TRUTH {...}`.
`python metrics_workload.py GCS_ADDRESS hold` puts objects of known sizes, prints `TRUTH {...}`
with their ids and sizes, and keeps them referenced until its stdin closes.
"""
from __future__ import annotations

import json
import sys
import time

import ray


@ray.remote
def child(i: int) -> int:
    return i * i


@ray.remote
def parent(i: int) -> int:
    return sum(ray.get([child.remote(i), child.remote(i + 1)]))


@ray.remote(max_retries=0)
def broken() -> None:
    raise ValueError("broken on purpose")


def nested(n: int) -> dict:
    results = ray.get([parent.remote(i) for i in range(n)])
    try:
        ray.get(broken.remote())
    except ray.exceptions.RayTaskError:
        pass
    return {"parents": n, "children": 2 * n, "failed": 1, "results": results,
            "job_id": ray.get_runtime_context().get_job_id()}


def hold() -> tuple[dict, list]:
    big = ray.put(b"x" * (24 * 1024 * 1024))  # plasma, pinned
    small = [ray.put(i) for i in range(3)]  # inlined in the driver
    refs = [big, *small]
    return {"objects": [r.hex() for r in refs], "big": big.hex(), "big_bytes": 24 * 1024 * 1024}, refs


if __name__ == "__main__":
    ray.init(address=sys.argv[1], log_to_driver=False)
    if sys.argv[2] == "nested":
        print("TRUTH " + json.dumps(nested(int(sys.argv[3]))), flush=True)
        # Ray force-exits a job's workers when the driver exits, dropping task events buffered since
        # their last 1 s flush (docs/ray-integration.md); staying two flushes keeps them.
        time.sleep(2.5)
    else:
        truth, keep = hold()
        print("TRUTH " + json.dumps(truth), flush=True)
        sys.stdin.read()  # hold the references until the test closes our stdin
    ray.shutdown()
