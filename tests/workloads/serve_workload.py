"""Ground truth for tests/test_serve_e2e.py: a Ray Serve app with two deployments receiving requests.

`python serve_workload.py GCS_ADDRESS HTTP_PORT` deploys app `shop` at `/shop`: `Ingress` (autoscaling
1..2 replicas) calls `Adder` (1 replica) through a handle; Adder raises on a negative number, so
those requests fail with HTTP 500. It sends REQUESTS GETs on 127.0.0.1:HTTP_PORT, FAILING of them
negative, counts the answers itself and prints `TRUTH {...}` with its counts and Ray's own view
(`serve.status()` and the controller's replica lists). Then it reads commands on stdin:
- `kill`: ray.kill() one Adder replica's actor, wait until Ray's controller runs a replacement,
  print `KILLED {"old": id, "new": [ids]}`;
- `state`: print `STATE {...}` (Ray's view now);
and at EOF, always, `serve.shutdown()` (the shared cluster is left without Serve).
"""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import ray
from ray import serve

REQUESTS, FAILING = 20, 3
APP, ROUTE = "shop", "/shop"


@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0})
class Adder:
    def add(self, x: int) -> int:
        if x < 0:
            raise ValueError(f"negative input {x}")
        return x + 1


@serve.deployment(autoscaling_config={"min_replicas": 1, "max_replicas": 2}, ray_actor_options={"num_cpus": 0})
class Ingress:
    def __init__(self, adder: Any) -> None:
        self.adder = adder

    async def __call__(self, request: Any) -> str:
        x = int(request.query_params["x"])
        return str(await self.adder.add.remote(x))


def ray_view() -> dict[str, Any]:
    """Serve's state as Ray itself reports it: serve.status() and the controller's replica lists."""
    status = serve.status()
    app = status.applications[APP]
    controller = ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    details = ray.get(controller.get_serve_instance_details.remote())["applications"][APP]
    return {
        "app_status": str(app.status.value if hasattr(app.status, "value") else app.status),
        "deployments": {name: str(d.status.value if hasattr(d.status, "value") else d.status)
                        for name, d in app.deployments.items()},
        "replicas": {name: sorted(r["replica_id"] for r in d["replicas"])
                     for name, d in details["deployments"].items()},
        "actors": {name: {r["replica_id"]: r["actor_name"] for r in d["replicas"]}
                   for name, d in details["deployments"].items()},
        "target": {name: d["target_num_replicas"] for name, d in details["deployments"].items()},
    }


def send(port: int) -> dict[str, int]:
    counts = {"ok": 0, "failed": 0}
    for i in range(REQUESTS):
        x = -1 if i < FAILING else i
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{ROUTE}?x={x}", timeout=60) as resp:
                assert resp.read().decode() == str(x + 1)
                counts["ok"] += 1
        except urllib.error.HTTPError as e:
            assert e.code == 500, e.code
            counts["failed"] += 1
    return counts


def kill_one_adder() -> dict[str, Any]:
    before = ray_view()
    old = before["replicas"]["Adder"][0]
    ray.kill(ray.get_actor(before["actors"]["Adder"][old], namespace="serve"), no_restart=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        now = ray_view()
        new = [r for r in now["replicas"]["Adder"] if r != old]
        if new and old not in now["replicas"]["Adder"] and now["deployments"]["Adder"] == "HEALTHY":
            return {"old": old, "new": new}
        time.sleep(0.5)
    raise SystemExit(f"Serve did not replace replica {old}")


def main() -> None:
    ray.init(address=sys.argv[1], log_to_driver=False)
    port = int(sys.argv[2])
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(Ingress.bind(Adder.bind()), name=APP, route_prefix=ROUTE)
        counts = send(port)
        # every live node's metrics export address (the test reads Ray's own Serve families there)
        endpoints = [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in ray.nodes() if n["Alive"]]
        print("TRUTH " + json.dumps({"requests": REQUESTS, "failing": FAILING, **counts, **ray_view(),
                                     "endpoints": endpoints}), flush=True)
        for line in sys.stdin:
            if line.strip() == "kill":
                print("KILLED " + json.dumps(kill_one_adder()), flush=True)
            elif line.strip() == "state":
                print("STATE " + json.dumps(ray_view()), flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
