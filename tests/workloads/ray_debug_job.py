"""A job whose one task pauses at `breakpoint()` on a chosen node (for the `ray-debug` tests).

`python ray_debug_job.py GCS_ADDRESS NODE_ID` prints `JOB <job_id>`, waits for a line on stdin
(so a test can start waiting first), runs the task and prints `RESULT <value>`.
"""
from __future__ import annotations

import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
def compute(n: int) -> int:
    total = n * 2
    breakpoint()  # BREAKPOINT
    total += 1  # AFTER
    return total


def main(address: str, node_id: str) -> None:
    ray.init(address=address, logging_level="ERROR")  # DRIVER
    print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
    sys.stdin.readline()
    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    print("RESULT", ray.get(compute.options(scheduling_strategy=strategy).remote(20)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
