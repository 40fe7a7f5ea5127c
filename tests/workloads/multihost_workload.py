"""The multi-host tests' workload: everything it does runs on host 2, the driver on host 1.

Tasks and actors ask for the custom resource `host2` that only host 2's `rayscope start` offers
(`--resources='{"host2": 1}'`), which is how a user pins work to a machine group.

`python multihost_workload.py GCS_ADDRESS basic RUN`: a few tasks and an actor on host 2, each
printing a marker; the actor keeps a 20 MiB object in host 2's object store. Prints `TRUTH {...}`,
then keeps the actor (its worker process, its object) alive until stdin closes.

`python multihost_workload.py GCS_ADDRESS fault RUN SECONDS`: one task on host 2 prints
`fault-RUN-line-<i>` every 0.2 s for SECONDS, while the driver submits a short task (`tick`) to
host 2 every 0.5 s. Prints `LONG <task_id>` as soon as the long task was submitted, and
`TRUTH {...}` (what the long task says it printed, every tick's task id) once all finished.
"""
from __future__ import annotations

import json
import sys
import time

import ray

HOST2 = {"host2": 0.01}
OBJECT_BYTES = 20 * 1024 * 1024


def where() -> dict:
    ctx = ray.get_runtime_context()
    return {"task_id": ctx.get_task_id(), "node_id": ctx.get_node_id(), "worker_id": ctx.get_worker_id()}


@ray.remote(num_cpus=0, resources=HOST2)
def shout(run: str, i: int) -> dict:
    print(f"mh-{run}-task-{i}", flush=True)
    return where()


@ray.remote(num_cpus=0, resources=HOST2)
class Keeper:
    """Lives on host 2 with an object in host 2's object store; prints from its methods."""

    def __init__(self) -> None:
        self.ref = ray.put(b"k" * OBJECT_BYTES)

    def hello(self, run: str) -> dict:
        import os

        print(f"mh-{run}-actor-hello", flush=True)
        return {**where(), "pid": os.getpid(), "object_id": self.ref.hex(),
                "actor_id": ray.get_runtime_context().get_actor_id()}


def basic(run: str) -> None:
    job_id = ray.get_runtime_context().get_job_id()
    tasks = ray.get([shout.remote(run, i) for i in range(3)])
    keeper = Keeper.remote()
    actor = ray.get(keeper.hello.remote(run))
    truth = {"job_id": job_id, "run": run, "tasks": tasks, "actor": actor, "object_bytes": OBJECT_BYTES}
    print("TRUTH " + json.dumps(truth), flush=True)
    sys.stdin.read()  # the test closes stdin when done looking at the live actor
    del keeper


@ray.remote(num_cpus=0, resources=HOST2)
def chatter(run: str, seconds: float) -> dict:
    """Prints one numbered line every 0.2 s; returns how many it printed and where it ran."""
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        print(f"fault-{run}-line-{n}", flush=True)
        n += 1
        time.sleep(0.2)
    return {**where(), "lines": n}


@ray.remote(num_cpus=0, resources=HOST2)
def tick(i: int) -> dict:
    return where()


def fault(run: str, seconds: float) -> None:
    job_id = ray.get_runtime_context().get_job_id()
    long_ref = chatter.remote(run, seconds)
    print(f"LONG {long_ref.task_id().hex()}", flush=True)
    ticks = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ticks.append(tick.remote(len(ticks)))
        time.sleep(0.5)
    long = ray.get(long_ref)
    done = ray.get(ticks)
    truth = {"job_id": job_id, "run": run, "long": long, "ticks": done}
    print("TRUTH " + json.dumps(truth), flush=True)
    # Workers write task events every 1 s, and Ray drops what they had not written when the job ends
    # and the raylet force-exits them (docs/ray-integration.md, "Job end loses the last second"): the
    # last ticks' worker-side events (node, pid) would never reach the files this test compares with.
    # Nothing the driver can observe says the flush happened, so outlive two flush intervals.
    time.sleep(3.0)


def main(address: str, mode: str, run: str, *rest: str) -> None:
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)  # stdout: our lines only
    if mode == "basic":
        basic(run)
    elif mode == "fault":
        fault(run, float(rest[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
