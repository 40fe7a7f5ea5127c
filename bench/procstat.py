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


@dataclass(frozen=True)
class Memory:
    """One process's memory, split the ways that matter for a head holding a large SQLite store.

    rss = anon + file + shmem (/proc/PID/status). anon is the heap: Python objects, SQLite's page
    cache, glibc arenas; file is mapped files (shared libraries, and SQLite's pages if mmap_size were
    set: clean, file-backed, dropped by the kernel under pressure). USS: pages only this process maps
    (what killing it frees); PSS: shared pages split among their users."""

    pid: int
    rss: int
    uss: int
    pss: int
    anon: int
    file: int
    shmem: int
    peak_rss: int  # VmHWM: the most RSS the process ever had

    @staticmethod
    def of(pid: int) -> "Memory":
        full = psutil.Process(pid).memory_full_info()
        status: dict[str, int] = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:", "VmHWM:")):
                    key, value, _unit = line.split()
                    status[key.rstrip(":")] = int(value) * 1024  # kB
        return Memory(pid, full.rss, full.uss, full.pss, status["RssAnon"], status["RssFile"], status["RssShmem"],
                      status["VmHWM"])

    def __add__(self, other: "Memory") -> "Memory":
        return Memory(-1, self.rss + other.rss, self.uss + other.uss, self.pss + other.pss,
                      self.anon + other.anon, self.file + other.file, self.shmem + other.shmem,
                      self.peak_rss + other.peak_rss)

    def line(self) -> str:
        mib = 1 << 20
        return (f"RSS {self.rss / mib:5.0f} MiB (anon {self.anon / mib:4.0f}, file {self.file / mib:3.0f}, "
                f"shmem {self.shmem / mib:2.0f})  USS {self.uss / mib:5.0f} MiB  PSS {self.pss / mib:5.0f} MiB  "
                f"(peak RSS {self.peak_rss / mib:4.0f} MiB)")


# Issue 15's target for the head with 1M tasks stored, serving the web UI's pages: service + writer RSS.
HEAD_TARGET_BYTES = 300_000_000
RAY_HEAD_CONTEXT = "Ray's dashboard head for context: 217 MB USS idle, 416 MB after 20k tasks"


@dataclass(frozen=True)
class HeadMemory:
    """The head's two processes: the service (`python -m rayscope.dashboard`) and its writer child."""

    service: Memory
    writer: Memory

    @staticmethod
    def of(service_pid: int) -> "HeadMemory":
        children = psutil.Process(service_pid).children()
        writers = [c for c in children if "rayscope.dashboard.store.writer_process" in " ".join(c.cmdline())]
        if len(writers) != 1:
            raise RuntimeError(f"head {service_pid}: expected one writer process, found {len(writers)}")
        return HeadMemory(Memory.of(service_pid), Memory.of(writers[0].pid))

    @property
    def total(self) -> Memory:
        return self.service + self.writer

    def report(self, label: str) -> str:
        """Lines for a benchmark's output: the total against the target, then each process."""
        t = self.total
        verdict = "met" if t.rss <= HEAD_TARGET_BYTES else "MISSED"
        return (f"HEAD MEMORY {label}: RSS {t.rss / 1e6:.0f} MB = service {self.service.rss / 1e6:.0f} + writer "
                f"{self.writer.rss / 1e6:.0f} (target <= {HEAD_TARGET_BYTES / 1e6:.0f} MB: {verdict}); USS "
                f"{t.uss / 1e6:.0f} MB; anon {t.anon / 1e6:.0f} MB, file-backed {t.file / 1e6:.0f} MB\n"
                f"  service {self.service.line()}\n  writer  {self.writer.line()}\n  {RAY_HEAD_CONTEXT}")
