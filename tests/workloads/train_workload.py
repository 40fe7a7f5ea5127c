"""A Ray Train v2 run with one injected failure, launched from inside a Ray task (tests/test_e2e_train.py).

The driver does not set RAY_TRAIN_ENABLE_STATE_TRACKING (it checks); the task that builds the
trainer gets it, if at all, from the cluster's environment. Rank 0 raises on the first attempt (a
marker file makes the second succeed). Prints one `TRUTH {json}` line: the run name, what the task
saw of the variable, the (attempt, rank, pid) every train-function call saw, and Ray's own view
from its TrainStateActor. Usage: train_workload.py GCS_ADDRESS RUN_NAME TMP_DIR
"""
from __future__ import annotations

import json
import os
import sys
import time

import ray

FAILURE = "injected failure for attempt 1"


def train_fn(config: dict) -> None:
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    seen, marker = config["seen"], config["marker"]
    first = not os.path.exists(marker)
    print(f"train worker rank {rank} pid {os.getpid()} first={first}", flush=True)  # the log link's oracle
    with open(os.path.join(seen, f"{'first' if first else 'second'}-{rank}-{os.getpid()}"), "w") as f:
        f.write(ray.get_runtime_context().get_node_id())
    if first and rank == 0:
        # wait until rank 1 has recorded itself (both pids of the first attempt are known), then fail
        _wait(lambda: any(n.startswith("first-1-") for n in os.listdir(seen)))
        open(marker, "w").close()
        raise RuntimeError(FAILURE)
    if first:
        _wait(lambda: os.path.exists(marker))  # rank 1 is still running when rank 0 fails


def _wait(cond, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        time.sleep(0.1)


@ray.remote(num_cpus=0)
def launch(name: str, tmp: str) -> dict:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    seen = os.path.join(tmp, "seen")
    os.makedirs(seen, exist_ok=True)
    trainer = DataParallelTrainer(
        train_fn,
        train_loop_config={"seen": seen, "marker": os.path.join(tmp, "marker")},
        scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
        run_config=RunConfig(name=name, storage_path=os.path.join(tmp, "storage"),
                             failure_config=FailureConfig(max_failures=1)),
    )
    result = trainer.fit()
    return {"tracking_env": os.environ.get("RAY_TRAIN_ENABLE_STATE_TRACKING"),
            "error": None if result.error is None else repr(result.error)}


def main() -> None:
    address, name, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
    assert "RAY_TRAIN_ENABLE_STATE_TRACKING" not in os.environ, "the driver must not turn tracking on itself"
    ray.init(address=address)
    out = ray.get(launch.remote(name, tmp))
    calls = []
    for n in sorted(os.listdir(os.path.join(tmp, "seen"))):
        attempt, rank, pid = n.split("-")
        with open(os.path.join(tmp, "seen", n)) as f:
            calls.append({"attempt": attempt, "rank": int(rank), "pid": int(pid), "node_id": f.read()})
    state = ray.get_actor("train_v2_state_actor", namespace="_train_state_actor")
    runs = {k: v.model_dump(mode="json") for k, v in ray.get(state.get_train_runs.remote()).items()}
    attempts = {rid: {aid: a.model_dump(mode="json") for aid, a in per.items()}
                for rid, per in ray.get(state.get_train_run_attempts.remote()).items()}
    print("TRUTH " + json.dumps({"name": name, **out, "calls": calls, "ray_runs": runs, "ray_attempts": attempts}),
          flush=True)


if __name__ == "__main__":
    main()
