"""Finding and stopping exactly the processes Rayscope started.

Every ``ray start`` runs in a new session, so all Ray daemons it spawns (GCS, raylet,
dashboard, log monitor, agents, and the workers the raylet forks) share its process
group. We record (pid, create_time) pairs so a reused pid is never signalled.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Iterable

import psutil

from rayscope.runtime.state import ProcessRecord

__all__ = ["record", "group_members", "descendants", "is_running", "terminate"]


def record(pid: int) -> ProcessRecord:
    proc = psutil.Process(pid)
    return ProcessRecord(pid=pid, create_time=proc.create_time(), name=proc.name())


def group_members(pgid: int, not_before: float = 0.0) -> list[ProcessRecord]:
    """Live processes in process group ``pgid`` created at or after ``not_before``."""
    out = []
    for proc in psutil.process_iter(["pid", "create_time", "name"]):
        try:
            if os.getpgid(proc.pid) != pgid or proc.info["create_time"] < not_before - 1:
                continue
        except (ProcessLookupError, psutil.Error):
            continue
        out.append(ProcessRecord(pid=proc.pid, create_time=proc.info["create_time"], name=proc.info["name"] or ""))
    return out


def descendants(records: Iterable[ProcessRecord]) -> list[ProcessRecord]:
    """Live descendants of the live ``records``: Ray workers get their own process group
    (verified on 2.60), so the raylet's children must be found through the process tree."""
    out = []
    for rec in records:
        if not is_running(rec):
            continue
        try:
            children = psutil.Process(rec.pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                out.append(ProcessRecord(pid=child.pid, create_time=child.create_time(), name=child.name()))
            except psutil.Error:
                continue
    return out


def is_running(rec: ProcessRecord) -> bool:
    try:
        proc = psutil.Process(rec.pid)
        return abs(proc.create_time() - rec.create_time) < 0.5 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(rec: ProcessRecord, sig: int) -> None:
    if is_running(rec):
        try:
            os.kill(rec.pid, sig)
        except ProcessLookupError:
            pass


def terminate(records: Iterable[ProcessRecord], grace_s: float = 10.0) -> list[ProcessRecord]:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns any that survived even that."""
    recs = [r for r in records if is_running(r)]
    for rec in recs:
        _signal(rec, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(is_running(r) for r in recs):
        time.sleep(0.1)
    stubborn = [r for r in recs if is_running(r)]
    for rec in stubborn:
        _signal(rec, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_running(r) for r in stubborn):
        time.sleep(0.05)
    return [r for r in stubborn if is_running(r)]
