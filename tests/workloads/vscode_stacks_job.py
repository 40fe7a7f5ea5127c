"""A job whose tasks sleep on a known line (for the VS Code e2e test of "Show Stacks of Job").

`python vscode_stacks_job.py GCS_ADDRESS NODE_ID N` starts N `doze` tasks pinned to NODE_ID, waits
until every one has started (each checks in with a `Gate` actor), prints `JOB <job_id>`, and keeps
the job running until its stdin closes. The test copies it into the editor's workspace, so the
tasks' frames name a file the editor has.
"""
from __future__ import annotations

import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
class Gate:
    def __init__(self) -> None:
        self.arrived = 0

    def arrive(self) -> None:
        self.arrived += 1

    def count(self) -> int:
        return self.arrived


@ray.remote(num_cpus=0)
def doze(gate) -> None:
    ray.get(gate.arrive.remote())
    while True:
        time.sleep(0.5)  # SLEEP


def main(address: str, node_id: str, n: int) -> None:
    ray.init(address=address, logging_level="ERROR")
    gate = Gate.remote()
    pinned = doze.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
    refs = [pinned.remote(gate) for _ in range(n)]
    while ray.get(gate.count.remote()) < n:
        time.sleep(0.2)
    print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
    sys.stdin.read()  # the tasks never end: the job ends with this driver
    del refs


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
