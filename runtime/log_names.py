"""What Ray 2.60 encodes in the names of a node's log files (`<session>/logs/`).

Why one module: the log tailer names each file it ships by these patterns, and the process
collector learns worker ids and job ids from the same names; one reading of Ray's naming keeps
the two from disagreeing when Ray changes it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Optional

from rayscope.runtime.ray_enums import NIL_JOB_ID

__all__ = ["WorkerLogName", "CoreLogName", "parse_worker_log", "parse_core_log"]

_WORKER_OUT = re.compile(r"^worker-(?P<wid>[0-9a-f]+)-(?P<job>[0-9a-f]+)-(?P<pid>\d+)\.(?P<ext>out|err)$")
_CORE = re.compile(r"^python-core-(?P<who>worker|driver)-(?P<wid>[0-9a-f]+)_(?P<pid>\d+)\.log$")


@dataclass(frozen=True)
class WorkerLogName:
    """`worker-<worker_id>-<job_id>-<pid>.out|err`: a worker's captured stdout or stderr."""

    worker_id: str
    job_id: Optional[str]  # None where Ray wrote the nil job id (a pooled worker not yet given a job)
    pid: int
    stream: Literal["out", "err"]


@dataclass(frozen=True)
class CoreLogName:
    """`python-core-worker|driver-<worker_id>_<pid>.log`: the core worker's own log."""

    worker_id: str
    pid: int
    is_driver: bool

    @property
    def job_id(self) -> Optional[str]:
        """A driver's worker id starts with its job id; a worker's says nothing of its job."""
        return self.worker_id[:8] if self.is_driver else None


def parse_worker_log(name: str) -> Optional[WorkerLogName]:
    """The parts of a worker's stdout/stderr file name (a base name), or None for other files."""
    m = _WORKER_OUT.match(name)
    if m is None:
        return None
    job = m["job"] if m["job"] != NIL_JOB_ID else None
    return WorkerLogName(m["wid"], job, int(m["pid"]), "out" if m["ext"] == "out" else "err")


def parse_core_log(name: str) -> Optional[CoreLogName]:
    """The parts of a core worker or driver log file name (a base name), or None for other files."""
    m = _CORE.match(name)
    if m is None:
        return None
    return CoreLogName(m["wid"], int(m["pid"]), m["who"] == "driver")
