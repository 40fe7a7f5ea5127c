"""A workload the browser tests steer: many tiny tasks (to page through), then one task that runs
until the test creates a release file (so it finishes while a page is open).

`python held_workload.py GCS_ADDRESS N_TINY RELEASE_FILE`; prints `HELD <task_id>` once the held
task was submitted, and `DONE` at the end.
"""
from __future__ import annotations

import json
import os
import sys
import time

import ray


@ray.remote
def tiny(i: int) -> int:
    return i


@ray.remote
def held_task(release: str) -> str:
    print(json.dumps({"message": "held task waiting", "level": "INFO", "release": release}), flush=True)
    while not os.path.exists(release):
        time.sleep(0.1)
    return "released"


def main(address: str, n: int, release: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    ray.get([tiny.remote(i) for i in range(n)])
    ref = held_task.remote(release)
    print(f"HELD {ref.task_id().hex()}", flush=True)
    assert ray.get(ref, timeout=300) == "released"
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
