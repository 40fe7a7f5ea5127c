"""Host-level usage of this node (CPU, memory, swap, session disk, disk and network I/O)."""
from __future__ import annotations

import os
import time

import psutil

from rayscope.wire.rayscope_ingest_pb2 import NodeSample


class NodeCollector:
    """psutil counters into a NodeSample; cpu_percent is the delta since the previous call."""

    def __init__(self, session_dir: str) -> None:
        self.session_dir = session_dir
        self.cpu_count = psutil.cpu_count() or 1
        psutil.cpu_percent(interval=None)  # prime the delta

    def sample(self) -> NodeSample:
        mem_total, mem_available, swap_total, swap_used = _memory()
        s = NodeSample(
            ts=time.time(),
            cpu_percent=psutil.cpu_percent(interval=None),
            cpu_count=self.cpu_count,
            mem_total=mem_total,
            mem_used=mem_total - mem_available,
            mem_available=mem_available,
            swap_total=swap_total,
            swap_used=swap_used,
            load1=os.getloadavg()[0],
        )
        try:
            du = psutil.disk_usage(self.session_dir)
            s.disk_total, s.disk_used = du.total, du.used
        except OSError:
            pass
        io = psutil.disk_io_counters()
        if io is not None:
            s.disk_read_bytes, s.disk_write_bytes = io.read_bytes, io.write_bytes
        net = psutil.net_io_counters()
        if net is not None:
            s.net_sent_bytes, s.net_recv_bytes = net.bytes_sent, net.bytes_recv
        return s


_MEMINFO_KEYS = (b"MemTotal:", b"MemAvailable:", b"SwapTotal:", b"SwapFree:")


def _memory() -> tuple[int, int, int, int]:
    """(mem total, mem available, swap total, swap used) in bytes from one /proc/meminfo read,
    the values psutil's virtual_memory() and swap_memory() give (those read it twice, and
    /proc/vmstat too, for fields we do not ship)."""
    try:
        with open("/proc/meminfo", "rb") as f:
            found = {}
            for line in f:
                key = line.split(None, 1)[0]
                if key in _MEMINFO_KEYS:
                    found[key] = int(line.split()[1]) * 1024
                    if len(found) == len(_MEMINFO_KEYS):
                        break
        return (found[b"MemTotal:"], found[b"MemAvailable:"], found[b"SwapTotal:"],
                found[b"SwapTotal:"] - found[b"SwapFree:"])
    except (OSError, KeyError, ValueError, IndexError):
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()  # not Linux, or an old kernel
        return vm.total, vm.available, sw.total, sw.used
