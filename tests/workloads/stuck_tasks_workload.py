"""Two stuck tasks for tests/test_stuck_tasks.py: `weave_the_pattern` runs quickly SAMPLES times and
then once for good (running far longer than its earlier runs); `needs_unobtainium` asks for a
custom resource no node has (infeasible: waits forever in PENDING_NODE_ASSIGNMENT).

`python stuck_tasks_workload.py GCS_ADDRESS`; prints `STUCK {"job_id", "running", "infeasible"}` (task
ids) once both were submitted, then waits until it is killed (its tasks die with it).
"""
from __future__ import annotations

import json
import sys
import time

import ray

SAMPLES = 8


@ray.remote(num_cpus=0.5)
def weave_the_pattern(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@ray.remote(num_cpus=0, resources={"unobtainium": 1})
def needs_unobtainium() -> int:
    return 1


def main() -> None:
    ray.init(address=sys.argv[1], logging_level="ERROR")
    ray.get([weave_the_pattern.remote(0.01) for _ in range(SAMPLES)])
    running = weave_the_pattern.remote(3600)
    infeasible = needs_unobtainium.remote()
    print("STUCK " + json.dumps({"job_id": ray.get_runtime_context().get_job_id(),
                                 "running": running.task_id().hex(),
                                 "infeasible": infeasible.task_id().hex()}), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
