"""The Ray-library part of ``rayscope demo``'s workload: a small Data pipeline, a Serve app
receiving requests, and one Train run, so a new user sees the Datasets, Serve and Train pages
at once. Shaped like the PyData talk's RAG system in miniature: an ingest pipeline (parse →
embed on an actor pool → keep) and a query app (gateway → encoder), sized for the demo's
two 2-CPU nodes.

Imported only by the demo driver (it needs ``ray[data,serve,train]``; without those extras
the demo runs its Ray Core rounds alone and says why).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import ray

SERVE_APP = "demo-qa"
SERVE_ROUTE = "/qa"
DATASET_NAME = "demo_ingest"
TRAIN_RUN = "demo-train"
FAIL_EVERY = 10  # every 10th query fails on purpose (the Serve page's error rate)


def _parse(row: dict[str, Any]) -> dict[str, Any]:
    time.sleep(0.01)
    return {"id": row["id"], "text": f"chunk {row['id']}"}


class Embed:
    """The actor-pool stage (a model would load in __init__)."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.2)
        batch["vec"] = batch["id"] * 2
        return batch


def run_pipeline() -> int:
    """range → parse → embed (actor pool) → keep the even ids; returns the rows kept."""
    import ray.data

    ds = (
        ray.data.range(400, override_num_blocks=20)
        .map(_parse)
        .map_batches(Embed, concurrency=1, num_cpus=0.25, batch_size=20)
        .filter(lambda r: r["id"] % 2 == 0)
    )
    ds.set_name(DATASET_NAME)
    return len(ds.take_all())


def start_serve(port: int) -> None:
    """Deploys the query app on 127.0.0.1:port (two deployments, the gateway autoscaling 1-2)."""
    from ray import serve

    @serve.deployment(ray_actor_options={"num_cpus": 0.1})
    class Encoder:
        def encode(self, x: int) -> int:
            if x % FAIL_EVERY == FAIL_EVERY - 1:
                raise ValueError(f"demo failure for query {x}")
            return x * 2

    @serve.deployment(ray_actor_options={"num_cpus": 0.1},
                      autoscaling_config={"min_replicas": 1, "max_replicas": 2})
    class Gateway:
        def __init__(self, encoder: Any) -> None:
            self.encoder = encoder

        async def __call__(self, request: Any) -> dict[str, int]:
            x = int(request.query_params.get("x", "0"))
            return {"vector": await self.encoder.encode.remote(x)}

    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Gateway.bind(Encoder.bind()), name=SERVE_APP, route_prefix=SERVE_ROUTE)  # type: ignore[attr-defined]


def send_queries(port: int, stop: threading.Event, every_s: float = 0.5) -> threading.Thread:
    """A background thread sending one query per `every_s` until `stop` is set."""

    def loop() -> None:
        x = 0
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{SERVE_ROUTE}?x={x}", timeout=10) as r:
                    json.load(r)
            except (urllib.error.URLError, OSError, ValueError):
                pass  # the failing queries answer 500: that is the point
            x += 1
            stop.wait(every_s)

    thread = threading.Thread(target=loop, name="demo-queries", daemon=True)
    thread.start()
    return thread


@ray.remote(num_cpus=0)
def run_training(storage_path: str) -> str:
    """One Train v2 run (2 workers, a plain function: no torch). Launched as a task, so the
    trainer is built in a process Ray started, whose environment has the cluster's
    RAY_TRAIN_ENABLE_STATE_TRACKING=1 (what makes Ray write the run's events)."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

    def train_fn(config: dict[str, Any]) -> None:
        import ray.train

        for epoch in range(3):
            time.sleep(1.0)
            ray.train.report({"epoch": epoch, "loss": 1.0 / (epoch + 1)})

    trainer = DataParallelTrainer(
        train_fn,
        scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.25}),
        run_config=RunConfig(name=TRAIN_RUN, storage_path=storage_path, failure_config=FailureConfig(max_failures=1)),
    )
    result = trainer.fit()
    return str(result.metrics)
