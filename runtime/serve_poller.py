"""Ray Serve's controller, polled: `python -m rayscope.runtime.serve_poller --address GCS [--every 1.0]`.

Why a subprocess: Ray 2.60 writes no export event for Serve, and the one source of its status is
the controller's `get_serve_instance_details()` (what Ray's own Serve page and `serve.status()`
read), an actor call that needs a Ray driver. The agent must not import Ray (it runs on every node
and must stay small), so the head node's agent starts this module only while Serve's controller
is alive (agent/collectors/serve_status.py) and reads its stdout.

Output, one JSON object per line, on stdout (nothing else is printed there):
- `{"ts": T, "document": {...}}`: the controller's document in the compact form below, printed
  only when it differs from the previous one (a status document is a snapshot: the head diffs
  consecutive ones into its history);
- `{"ts": T, "error": "..."}`: a call that failed or timed out (printed once per distinct error;
  the agent reports it as a DropReport; polling goes on);
- `{"ts": T, "gone": true}`: the controller is dead (serve.shutdown(), or it died for good); the
  poller then exits 0.
It also exits when its stdin closes (the agent stopped or died), so it never outlives its agent.
Ray's own logging goes to stderr (the agent sends it to a log file).

The driver joins namespace `_ray_internal_rayscope`: Ray's UI hides `_ray_internal` namespaces and
so does Rayscope's jobs listing (its job carries the namespace). Token auth: the agent's
environment is a driver's (RAY_AUTH_MODE=token and the token file, runtime/node.py), inherited.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from typing import Any, Optional

CONTROLLER_NAME = "SERVE_CONTROLLER_ACTOR"
CONTROLLER_NAMESPACE = "serve"
CONTROLLER_CLASS = "ServeController"
DRIVER_NAMESPACE = "_ray_internal_rayscope"
CALL_TIMEOUT_S = 5.0
REPLICA_KEYS = ("replica_id", "state", "pid", "start_time_s", "node_id", "node_ip", "actor_id", "actor_name",
                "worker_id", "log_file_path")


def _replica(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in REPLICA_KEYS}


def _deployment(name: str, d: dict[str, Any]) -> dict[str, Any]:
    config = d.get("deployment_config") or {}
    auto = config.get("autoscaling_config")
    return {
        "name": name, "status": d.get("status"), "status_trigger": d.get("status_trigger"),
        "message": d.get("message") or "", "target_num_replicas": d.get("target_num_replicas"),
        "num_replicas": config.get("num_replicas"),
        "autoscaling": ({"min_replicas": auto.get("min_replicas"), "max_replicas": auto.get("max_replicas"),
                         "target_ongoing_requests": auto.get("target_ongoing_requests")} if auto else None),
        "replicas": [_replica(r) for r in d.get("replicas") or []],
        "recent_dead_replicas": [_replica(r) for r in d.get("recent_dead_replicas") or []],
    }


def compact(details: dict[str, Any]) -> dict[str, Any]:
    """The part of a `ServeInstanceDetails` dict Rayscope shows (Ray's names kept), in a stable order."""
    apps = []
    for name, a in sorted((details.get("applications") or {}).items()):
        topology = a.get("deployment_topology") or {}
        apps.append({
            "name": name, "status": a.get("status"), "message": a.get("message") or "",
            "route_prefix": a.get("route_prefix"), "last_deployed_time_s": a.get("last_deployed_time_s"),
            "source": a.get("source"), "ingress_deployment": topology.get("ingress_deployment"),
            "deployments": [_deployment(n, d) for n, d in sorted((a.get("deployments") or {}).items())],
        })
    proxies = {nid: p.get("status") for nid, p in sorted((details.get("proxies") or {}).items())}
    controller = details.get("controller_info") or {}
    return {"applications": apps, "proxies": proxies, "controller_actor_id": controller.get("actor_id"),
            "controller_node_id": controller.get("node_id"), "controller_log": controller.get("log_file_path")}


_out = sys.stdout  # replaced in main() by the real stdout, once fd 1 is pointed at stderr


def _emit(obj: dict[str, Any]) -> None:
    _write(json.dumps(obj, separators=(",", ":")))


def _write(line: str) -> None:
    _out.write(line + "\n")
    _out.flush()


def _exit_when_stdin_closes() -> None:
    """The agent holds our stdin: EOF means it stopped or died."""
    sys.stdin.read()
    os._exit(0)


def run(address: str, every_s: float) -> int:
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

    ray.init(address=address, namespace=DRIVER_NAMESPACE, log_to_driver=False, logging_level=logging.ERROR,
             configure_logging=False)
    try:
        controller = ray.get_actor(CONTROLLER_NAME, namespace=CONTROLLER_NAMESPACE)
    except ValueError:  # no such actor: Serve is not running (or already shut down)
        _emit({"ts": time.time(), "gone": True})
        return 0
    # no task events for these calls: one a second would fill Rayscope's (and Ray's) task tables.
    # Ray 2.60 creates Serve's actors without task events anyway (RAY_SERVE_ENABLE_TASK_EVENTS=0, the
    # default; a user who turns it on would otherwise get one task row per poll)
    call: Any = controller.get_serve_instance_details.options(enable_task_events=False)
    last_doc: Optional[str] = None
    last_error: Optional[str] = None
    while True:
        started = time.monotonic()
        try:
            details = ray.get(call.remote(), timeout=CALL_TIMEOUT_S)
        except ActorDiedError:
            _emit({"ts": time.time(), "gone": True})
            return 0
        except ActorUnavailableError as e:  # restarting (Ray restarts the controller on failure)
            error: Optional[str] = f"Serve controller unavailable: {str(e).splitlines()[0][:300]}"
        except GetTimeoutError:
            error = f"Serve controller did not answer within {CALL_TIMEOUT_S:.0f} s"
        else:
            error = None
            doc = json.dumps(compact(details), sort_keys=True, separators=(",", ":"))
            if doc != last_doc:
                _write(f'{{"ts":{time.time()!r},"document":{doc}}}')
                last_doc = doc
        if error is not None and error != last_error:
            _emit({"ts": time.time(), "error": error})
        last_error = error
        time.sleep(max(0.0, every_s - (time.monotonic() - started)))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--address", required=True, help="GCS address IP:PORT")
    p.add_argument("--every", type=float, default=1.0, help="seconds between controller calls")
    args = p.parse_args(argv)
    global _out
    _out = os.fdopen(os.dup(1), "w")  # ours alone: whatever Ray prints on fd 1 goes to stderr
    os.dup2(2, 1)
    threading.Thread(target=_exit_when_stdin_closes, daemon=True, name="stdin-watch").start()
    try:
        return run(args.address, args.every)
    except Exception as e:  # noqa: BLE001 - one line for the agent, then a clean exit
        _emit({"ts": time.time(), "error": f"serve poller failed: {type(e).__name__}: {str(e)[:300]}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
