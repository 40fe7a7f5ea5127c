"""A job whose tasks pause at `breakpoint()` on a chosen node (for the VS Code e2e test).

`python vscode_job.py GCS_ADDRESS NODE_ID` prints `JOB <job_id>`; then for every stdin line of numbers
it runs one task per number, all at once, and prints `RESULTS <values>`. The test copies it into the
editor's workspace.
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
    return scaled + 1  # AFTER


def main(address: str, node_id: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
    pinned = scale_reading.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    for line in sys.stdin:
        print("RESULTS", *ray.get([pinned.remote(int(n)) for n in line.split()]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
