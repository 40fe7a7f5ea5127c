"""A steady workload for fault tests: N tasks, each printing M marked lines over ~2 s.

`python chatty_workload.py GCS_ADDRESS RUN_ID N M` prints `DONE <job_id>` at the end.
"""
from __future__ import annotations

import sys
import time

import ray


@ray.remote
def chatter(run: str, i: int, lines: int) -> int:
    for k in range(lines):
        print(f"chatty-{run} task={i} line={k}", flush=True)
        time.sleep(2.0 / lines)
    return i


def main(address: str, run: str, tasks: int, lines: int) -> None:
    ray.init(address=address, logging_level="ERROR")
    assert sorted(ray.get([chatter.remote(run, i, lines) for i in range(tasks)])) == list(range(tasks))
    print("DONE " + ray.get_runtime_context().get_job_id(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
