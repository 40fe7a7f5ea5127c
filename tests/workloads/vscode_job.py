"""A job whose one task pauses at `breakpoint()` on a chosen node (for the VS Code e2e test).

`python vscode_job.py GCS_ADDRESS NODE_ID` prints `JOB <job_id>`, waits for a line on stdin,
runs the task and prints `RESULT <value>`; then, after another line, runs three such tasks at once
and prints `RESULTS <values>`. The test copies it into the editor's workspace.
"""
from __future__ import annotations

import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
def scale_reading(reading: int) -> int:
    factor = 3
    scaled = reading * factor
    breakpoint()  # BREAKPOINT
    scaled += 1  # AFTER
    return scaled


def main(address: str, node_id: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
    sys.stdin.readline()
    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    print("RESULT", ray.get(scale_reading.options(scheduling_strategy=strategy).remote(14)), flush=True)
    sys.stdin.readline()
    refs = [scale_reading.options(scheduling_strategy=strategy).remote(n) for n in (1, 2, 3)]
    print("RESULTS", *ray.get(refs), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
