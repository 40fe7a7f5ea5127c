"""A workload the browser tests steer: many tiny tasks (to page through), a crowd of CROWD other
functions with two tasks each (so that the held task's function ranks past the Tasks page's 50 busiest
in the summary), then one task that runs until the test creates a release file (so it finishes while a
page is open).

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


CROWD = 55


def crowd_function(k: int):
    """A remote function of its own name, crowd_<k>."""
    def run() -> int:
        return k
    run.__name__ = run.__qualname__ = f"crowd_{k:02d}"
    return ray.remote(run)


@ray.remote
def held_task(release: str) -> str:
    print(json.dumps({"message": "held task waiting", "level": "INFO", "release": release}), flush=True)
    while not os.path.exists(release):
        time.sleep(0.1)
    return "released"


def main(address: str, n: int, release: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    ray.get([tiny.remote(i) for i in range(n)])
    crowd = [crowd_function(k) for k in range(CROWD)]
    ray.get([f.remote() for f in crowd for _ in range(2)])
    ref = held_task.remote(release)
    print(f"HELD {ref.task_id().hex()}", flush=True)
    assert ray.get(ref, timeout=300) == "released"
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
