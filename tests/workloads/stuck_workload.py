"""A task that looks stuck: it prints a line, then runs until the test creates a release file.
A few quick tasks run first, so its worker may already hold other tasks' ranges. Names and text
are its own (the cluster is shared with the web UI tests, which count theirs).

`python stuck_workload.py GCS_ADDRESS RELEASE_FILE`; prints `STUCK <task_id>` once it is submitted.
"""
from __future__ import annotations

import os
import sys
import time

import ray


@ray.remote
def warm_up(i: int) -> int:
    print(f"warm-up {i}", flush=True)
    return i


@ray.remote
def stuck_task(release: str) -> str:
    print(f"stuck task waiting for {release}", flush=True)
    while not os.path.exists(release):
        time.sleep(0.1)
    return "released"


def main(address: str, release: str) -> None:
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)  # stdout: only STUCK
    ray.get([warm_up.remote(i) for i in range(6)])
    ref = stuck_task.remote(release)
    print(f"STUCK {ref.task_id().hex()}", flush=True)
    assert ray.get(ref, timeout=300) == "released"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
