"""A submitted job (`ray job submit`) that uses the three Ray libraries, for the history-mode checks
of tests/test_e2e_submitted_jobs.py: the demo's Data pipeline (runtime/demo_libraries.py), a Train v2
run whose trainer this driver builds itself (so Ray writes its events only if the cluster's
RAY_TRAIN_ENABLE_STATE_TRACKING reached a submitted job's driver), and the demo's Serve app on
127.0.0.1:PORT receiving QUERIES queries. Prints `TRUTH {...}`: what it saw itself and what Ray's own
TrainStateActor and serve.status() say. The Serve app is left running (detached) on purpose.

    python libraries_job.py SERVE_PORT STORAGE_DIR
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

import ray
from ray import serve
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

from rayscope.runtime import demo_libraries as libs

QUERIES = 20
TRAIN_RUN = "libs_job_train"


def train_fn(config: dict) -> None:
    import ray.train

    for epoch in range(2):
        time.sleep(0.5)
        ray.train.report({"epoch": epoch})


def query(port: int, x: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{libs.SERVE_ROUTE}?x={x}", timeout=30) as r:
            r.read()
        return True
    except urllib.error.HTTPError:
        return False


def main() -> None:
    port, storage = int(sys.argv[1]), sys.argv[2]
    ray.init(log_to_driver=False)  # the workers' lines are not streamed into this driver's output
    truth: dict = {"job_id": ray.get_runtime_context().get_job_id(),
                   "tracking_env": os.environ.get("RAY_TRAIN_ENABLE_STATE_TRACKING")}
    truth["rows_kept"] = libs.run_pipeline()
    trainer = DataParallelTrainer(
        train_fn, scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.25}),
        run_config=RunConfig(name=TRAIN_RUN, storage_path=storage, failure_config=FailureConfig(max_failures=0)))
    trainer.fit()
    state = ray.get_actor("train_v2_state_actor", namespace="_train_state_actor")
    runs = {k: v.model_dump(mode="json") for k, v in ray.get(state.get_train_runs.remote()).items()}
    attempts = ray.get(state.get_train_run_attempts.remote())
    truth["train"] = [{"run_id": r["id"], "name": r["name"], "status": r["status"],
                       "attempts": len(attempts.get(rid, {}))} for rid, r in runs.items()]
    libs.start_serve(port)
    answers = [query(port, x) for x in range(QUERIES)]
    truth["serve"] = {"ok": sum(answers), "failed": answers.count(False),
                      "status": {name: a.status for name, a in serve.status().applications.items()}}
    # One write with its newline: print() writes the text and the newline apart, and a line Ray
    # streamed from a worker was seen between them (CI: a Serve access line after the JSON).
    sys.stdout.write("TRUTH " + json.dumps(truth) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
