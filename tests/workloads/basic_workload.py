"""A workload whose ground truth the end-to-end tests compare the head against.

Run as a plain driver (`python basic_workload.py GCS_ADDRESS`); it prints one JSON line
`TRUTH {...}` describing every task, actor and printed marker it produced.
"""
from __future__ import annotations

import json
import sys
import time
import uuid

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

RUN = uuid.uuid4().hex[:8]


def where() -> dict:
    ctx = ray.get_runtime_context()
    return {"task_id": ctx.get_task_id(), "node_id": ctx.get_node_id(), "worker_id": ctx.get_worker_id()}


@ray.remote
def square(x: int) -> dict:
    print(f"marker-{RUN}-square-{x}", flush=True)
    return {**where(), "value": x * x}


@ray.remote
def child(i: int) -> dict:
    return where()


@ray.remote
def parent(n: int) -> dict:
    kids = ray.get([child.remote(i) for i in range(n)])
    return {**where(), "children": kids}


@ray.remote(max_retries=0)
def explode() -> None:
    raise ValueError(f"boom-{RUN}")


@ray.remote
def big_object() -> bytes:
    return b"x" * (20 * 1024 * 1024)


@ray.remote
class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> dict:
        self.n += 1
        print(f"marker-{RUN}-actor-{self.n}", flush=True)
        return {**where(), "n": self.n}


def main(address: str) -> None:
    ray.init(address=address, logging_level="ERROR")
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    squares = []
    for i, node in enumerate(nodes):  # pin tasks on every node so each agent has something
        pinned = square.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        squares += [pinned.remote(10 * i + k) for k in range(3)]
    square_results = ray.get(squares)
    nested = ray.get(parent.remote(3))
    failed_ref = explode.remote()
    try:
        ray.get(failed_ref)
        raise AssertionError("explode() did not fail")
    except ray.exceptions.RayTaskError:
        pass
    big = big_object.remote()
    assert len(ray.get(big)) == 20 * 1024 * 1024
    counter = Counter.remote()
    actor_results = [ray.get(counter.incr.remote()) for _ in range(3)]
    truth = {
        "run": RUN,
        "job_id": ray.get_runtime_context().get_job_id(),
        "nodes": nodes,
        "squares": square_results,
        "parent": nested,
        "failed_task_id": failed_ref.task_id().hex(),
        "big_task_id": big.task_id().hex(),
        "actor_id": counter._actor_id.hex(),
        "actor_calls": actor_results,
    }
    print("TRUTH " + json.dumps(truth), flush=True)
    ray.kill(counter)
    # Ray 2.60 workers buffer their task events for task_events_report_interval_ms (1 s) and do not
    # flush them when they are killed; when this driver exits its job's workers are killed at once,
    # so the executor's half of the last tasks (explode's RUNNING and start time) was lost in CI (the
    # kept export-event files: the line is in no file). Stay up past two report intervals.
    time.sleep(2.5)


if __name__ == "__main__":
    main(sys.argv[1])
