"""Keeps one actor busy on every node until killed, so live processes can be checked.

`python resident_actors.py GCS_ADDRESS` prints `READY {"<node_id>": pid, ...}` once the
actors run.
"""
from __future__ import annotations

import json
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
class Resident:
    def pid(self) -> int:
        import os

        return os.getpid()


def main(address: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    actors = {node: Resident.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
              for node in nodes}
    pids = {node: ray.get(a.pid.remote()) for node, a in actors.items()}
    print("READY " + json.dumps(pids), flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
