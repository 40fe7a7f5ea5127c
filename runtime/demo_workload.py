"""The sample workload of ``rayscope demo``: a driver that exercises what Rayscope shows.

Each round: a fan of tasks that print, nested tasks, an actor with methods, a task that
fails with a traceback, and a few 50 MB objects. Runs ``--rounds`` rounds (0 = forever).
With ``--serve-port`` and Ray's library extras installed, it also deploys a Serve app that gets
a query every half second, runs a small Ray Data pipeline every round from the second on, and
one Train run (runtime/demo_libraries.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from types import ModuleType

import ray

BIG = 50 * 1024 * 1024


@ray.remote
def square(x: int) -> int:
    print(f"square({x}) = {x * x}")
    return x * x


@ray.remote
def fan_out(n: int) -> int:
    """A task that submits tasks (parent/child links in the task table)."""
    return sum(ray.get([square.remote(i) for i in range(n)]))


@ray.remote
def make_blob(tag: int) -> bytes:
    print(f"allocating a {BIG >> 20} MB object #{tag}")
    return bytes([tag % 256]) * BIG


@ray.remote
def blob_size(blob: bytes) -> int:
    return len(blob)


@ray.remote
def fail_on_purpose(x: int) -> None:
    print(f"about to fail on {x}", file=sys.stderr)
    raise ValueError(f"demo failure for input {x}")


@ray.remote
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, n: int) -> int:
        self.value += n
        print(f"Counter.add({n}) -> {self.value}")
        return self.value

    def read(self) -> int:
        return self.value


def one_round(counter: "ray.actor.ActorHandle", round_no: int) -> None:
    print(f"round {round_no}", flush=True)
    print("squares:", ray.get([square.remote(i) for i in range(8)]), flush=True)
    print("fan_out:", ray.get(fan_out.remote(4)), flush=True)
    for i in range(3):
        ray.get(counter.add.remote(i))
    print("counter:", ray.get(counter.read.remote()), flush=True)
    blobs = [make_blob.remote(round_no * 10 + i) for i in range(2)]
    print("blob sizes:", ray.get([blob_size.remote(b) for b in blobs]), flush=True)
    try:
        ray.get(fail_on_purpose.remote(round_no))
    except ray.exceptions.RayTaskError as exc:
        print(f"expected failure: {type(exc).__name__}", flush=True)


def _libraries() -> ModuleType | None:
    """runtime/demo_libraries.py, or None (said once) when Ray's library extras are missing."""
    try:
        import ray.data  # noqa: F401
        import ray.serve  # noqa: F401
        import ray.train  # noqa: F401

        from rayscope.runtime import demo_libraries
    except ImportError as exc:
        print(f"Ray Data/Serve/Train not installed ({exc}): the demo runs Ray Core rounds only", flush=True)
        return None
    return demo_libraries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="Ray GCS address HOST:PORT")
    parser.add_argument("--rounds", type=int, default=0, help="rounds to run (0 = until killed)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between rounds")
    parser.add_argument("--serve-port", type=int, default=0,
                        help="HTTP port (on 127.0.0.1) of the demo's Serve app; 0: no Ray libraries")
    parser.add_argument("--train-storage", default="", help="the Train run's storage path (default: a temp dir)")
    args = parser.parse_args(argv)
    ray.init(address=args.address, namespace="rayscope-demo", log_to_driver=True)
    counter = Counter.options(name="demo-counter").remote()  # type: ignore[attr-defined]  # ray.remote's class
    libs = _libraries() if args.serve_port else None
    stop = threading.Event()
    training = None
    if libs is not None:
        libs.start_serve(args.serve_port)
        libs.send_queries(args.serve_port, stop)
        print(f"serve app {libs.SERVE_APP}: http://127.0.0.1:{args.serve_port}{libs.SERVE_ROUTE}?x=1", flush=True)
    round_no = 0
    try:
        while args.rounds == 0 or round_no < args.rounds:
            one_round(counter, round_no)
            if libs is not None and round_no >= 1:
                if training is None:
                    training = libs.run_training.remote(args.train_storage or tempfile.mkdtemp(prefix="rs-demo-train-"))
                print("pipeline rows kept:", libs.run_pipeline(), flush=True)
            round_no += 1
            time.sleep(args.pause)
    finally:
        stop.set()
    print("workload done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
