"""Ground truth for the profiling tests (issue 14): processes doing known things on known lines.

`python profiling_workload.py GCS_ADDRESS WORKER_NODE_ID N_LINE` starts, in one job:
- `weave_the_pattern`: a task pinned to WORKER_NODE_ID spinning in pure Python on the line marked SPIN;
- `Keeper.wait_for`: an actor method blocked in `ray.get` (line GET) on a task that never ends;
- `Hoarder.hoard`: an actor allocating 64 KiB buffers in a loop (line ALLOC), keeping the last 64;
- N_LINE `stand_in_line` tasks, each sleeping on the same line (SLEEP): identical stacks;
- `over_at_once`: a task that has finished (nothing to dump).
It prints `TRUTH {...}` (one write) with the job, task and actor ids and the marked line numbers, read
from this file's own text (no Rayscope code involved), then waits until its stdin closes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(num_cpus=0)
def weave_the_pattern() -> int:
    acc = 0
    while True:
        for i in range(10_000_000): acc = (acc * 31 + i) % 1_000_003  # noqa: E701 - SPIN: one line, so every sample is here


@ray.remote(num_cpus=0)
def over_at_once() -> int:
    return 1


@ray.remote(num_cpus=0)
def never_ends() -> None:
    while True:
        time.sleep(1)


@ray.remote(num_cpus=0)
class Keeper:
    def wait_for(self, refs: list) -> None:
        ray.get(refs[0])  # GET


@ray.remote(num_cpus=0)
class Hoarder:
    def hoard(self) -> None:
        kept: list[bytearray] = []
        while True:
            kept.append(bytearray(64 * 1024))  # ALLOC
            del kept[:-64]
            time.sleep(0.001)


@ray.remote(num_cpus=0)
def stand_in_line(i: int) -> None:
    while True:
        time.sleep(0.5)  # SLEEP


def marked_lines() -> dict[str, int]:
    out: dict[str, int] = {}
    for n, line in enumerate(Path(__file__).read_text().splitlines(), 1):
        for mark in ("SPIN", "GET", "ALLOC", "SLEEP"):
            if line.rstrip().endswith(f"# {mark}") or f"# noqa: E701 - {mark}:" in line:
                out[mark.lower()] = n
    return out


def main(address: str, worker_node_id: str, n_line: int) -> None:
    ray.init(address=address, log_to_driver=False)
    spin = weave_the_pattern.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(worker_node_id, soft=False)).remote()
    keeper = Keeper.remote()
    waiting = keeper.wait_for.remote([never_ends.remote()])
    hoarder = Hoarder.remote()
    hoarding = hoarder.hoard.remote()
    line = [stand_in_line.remote(i) for i in range(n_line)]
    quick = over_at_once.remote()
    ray.get(quick)
    truth = {
        "job_id": ray.get_runtime_context().get_job_id(),
        "spin_task_id": spin.task_id().hex(),
        "keeper_actor_id": keeper._actor_id.hex(),
        "hoarder_actor_id": hoarder._actor_id.hex(),
        "line_task_ids": [r.task_id().hex() for r in line],
        "finished_task_id": quick.task_id().hex(),
        "method_task_ids": [waiting.task_id().hex(), hoarding.task_id().hex()],  # the actors' calls
        "lines": marked_lines(),
        "file": os.path.basename(__file__),
    }
    os.write(1, ("TRUTH " + json.dumps(truth) + "\n").encode())
    sys.stdin.read()  # until the test closes it
    del waiting, hoarding


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
