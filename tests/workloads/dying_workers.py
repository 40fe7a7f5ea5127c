"""Workers that end in three ways Ray records in GCS's worker table: an actor killed with ray.kill,
an actor that exits itself (ray.actor.exit_actor) and a task whose worker calls os._exit. Prints
`TRUTH {...}` with their worker ids and pids."""
from __future__ import annotations

import json
import os
import sys

import ray


@ray.remote
class Victim:
    def whoami(self) -> tuple[str, int]:
        return ray.get_runtime_context().get_worker_id(), os.getpid()


@ray.remote
class Quitter:
    def whoami(self) -> tuple[str, int]:
        return ray.get_runtime_context().get_worker_id(), os.getpid()

    def quit(self) -> None:
        ray.actor.exit_actor()


@ray.remote
class Mailbox:
    """Holds what the dying task says about itself (its worker is gone before it could return)."""

    def __init__(self) -> None:
        self.got: tuple[str, int] | None = None

    def put(self, who: tuple[str, int]) -> None:
        self.got = who

    def get(self) -> tuple[str, int] | None:
        return self.got


@ray.remote(max_retries=0)
def exits_hard(box) -> None:
    ray.get(box.put.remote((ray.get_runtime_context().get_worker_id(), os.getpid())))
    os._exit(3)


def main(address: str) -> None:
    ray.init(address=address)
    victim = Victim.remote()
    killed_id, killed_pid = ray.get(victim.whoami.remote())
    ray.kill(victim)
    quitter = Quitter.remote()
    quit_id, quit_pid = ray.get(quitter.whoami.remote())
    try:
        ray.get(quitter.quit.remote())
    except ray.exceptions.RayActorError:
        pass
    box = Mailbox.remote()
    try:
        ray.get(exits_hard.remote(box))
    except ray.exceptions.WorkerCrashedError:
        pass
    exited_id, exited_pid = ray.get(box.get.remote())
    truth = {"killed": {"worker_id": killed_id, "pid": killed_pid},
             "exited": {"worker_id": exited_id, "pid": exited_pid},
             "quit": {"worker_id": quit_id, "pid": quit_pid},
             "job_id": ray.get_runtime_context().get_job_id()}
    print("TRUTH " + json.dumps(truth), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
