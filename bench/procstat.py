"""Measure a process's CPU and memory over a window, the same way for us and for Ray."""
from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessUsage:
    pid: int
    name: str
    cpu_percent_of_one_core: float  # mean over the window
    uss_bytes: int  # at the end of the window (children included when asked)
    rss_bytes: int


def _tree(proc: psutil.Process, include_children: bool) -> list[psutil.Process]:
    if not include_children:
        return [proc]
    return [proc, *proc.children(recursive=True)]


def measure(pid: int, window_s: float, include_children: bool = False) -> ProcessUsage:
    """CPU from the difference of cumulative CPU times, so the sampling itself costs nothing."""
    proc = psutil.Process(pid)
    procs = _tree(proc, include_children)
    start_cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
    start = time.monotonic()
    time.sleep(window_s)
    procs = [p for p in _tree(proc, include_children) if p.is_running()]
    end_cpu = sum(sum(p.cpu_times()[:2]) for p in procs)
    elapsed = time.monotonic() - start
    mem = [p.memory_full_info() for p in procs]
    return ProcessUsage(
        pid=pid,
        name=" ".join(proc.cmdline()[:3])[:80],
        cpu_percent_of_one_core=100.0 * (end_cpu - start_cpu) / elapsed,
        uss_bytes=sum(m.uss for m in mem),
        rss_bytes=sum(m.rss for m in mem),
    )
