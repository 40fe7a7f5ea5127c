"""Driver for the debugger tests: one scenario per run, pinned to the node given.

Usage: python debug_workload.py MODE NODE_ID   (RAY_ADDRESS in the environment)
Prints `RESULT <value>` when the scenario ends. Lines tests look up are marked `# @name`.
"""
import os
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy


@ray.remote(max_retries=0)
def paused_task(n):
    total = n * 3
    label = "bp-" + str(n)
    breakpoint()  # @task_bp
    total = total + 1  # @task_next
    for i in range(2):
        total += i  # @task_line_bp
    return f"{label}:{total}"


@ray.remote
class Counter:
    def __init__(self):
        self.value = 10

    def bump(self, k):
        self.value += k
        breakpoint()  # @actor_bp
        return self.value


@ray.remote(max_concurrency=2)
class Threaded:
    def work(self, tag):
        mine = "thread-" + tag
        breakpoint()  # @threaded_bp
        return mine


@ray.remote(max_retries=0)
def failing(x):
    ratio = x / 2  # noqa: F841 - the post-mortem test reads this local
    raise ValueError(f"bad input {x}")  # @pm_raise


@ray.remote(max_retries=0)
def forgotten():
    breakpoint()  # @ttl_bp
    return "resumed"


def main() -> None:
    mode, node_id = sys.argv[1], sys.argv[2]
    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    pin = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
    if mode == "task":
        result = ray.get(paused_task.options(scheduling_strategy=pin).remote(7))
    elif mode == "actor":
        c = Counter.options(scheduling_strategy=pin).remote()
        result = ray.get(c.bump.remote(5))
    elif mode == "threaded":
        t = Threaded.options(scheduling_strategy=pin).remote()
        result = sorted(ray.get([t.work.remote("a"), t.work.remote("b")]))
    elif mode == "post_mortem":
        ref = failing.options(scheduling_strategy=pin,
                              runtime_env={"env_vars": {"RAY_DEBUG_POST_MORTEM": "1"}}).remote(7)
        try:
            ray.get(ref)
            result = "no error"
        except ray.exceptions.RayTaskError as err:
            result = "failed " + type(err.cause).__name__
    elif mode == "ttl":
        result = ray.get(forgotten.options(scheduling_strategy=pin,
                                           runtime_env={"env_vars": {"RAYSCOPE_DEBUG_TTL_S": "2"}}).remote())
    elif mode == "resume":
        result = ray.get(forgotten.options(scheduling_strategy=pin).remote())
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("RESULT", result, flush=True)
    time.sleep(0.1)


if __name__ == "__main__":
    main()
