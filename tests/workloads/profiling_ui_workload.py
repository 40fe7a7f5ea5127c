"""A task for the profiling web-UI test: `weave_the_pattern` spins on the CPU and allocates a fresh
list every turn (so both a CPU and a memory profile name it), on a chosen node, until the test
creates a release file.

`python profiling_ui_workload.py GCS_ADDRESS NODE_ID RELEASE_FILE` prints `SPINNING <job_id> <task_id>`
once the task was submitted, and `DONE` at the end.
"""
from __future__ import annotations

import os
import sys

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
def weave_the_pattern(release: str) -> int:
    turns = 0
    # the release file is looked at once every 256 turns (~0.1 s), so a stack dump almost never lands in
    # `os.path.exists` (whose headline would rightly be "exists at ...", not this function)
    while turns % 256 or not os.path.exists(release):
        threads = [str(i * 7919 % 1021) for i in range(2000)]  # ALLOCATES: a new list of new strings
        turns += len("".join(threads)) > 0
    return turns


def main(address: str, node_id: str, release: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    pinned = weave_the_pattern.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    ref = pinned.remote(release)
    print("SPINNING", ray.get_runtime_context().get_job_id(), ref.task_id().hex(), flush=True)
    assert ray.get(ref, timeout=600) > 0
    print("DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
