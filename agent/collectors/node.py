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
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        s = NodeSample(
            ts=time.time(),
            cpu_percent=psutil.cpu_percent(interval=None),
            cpu_count=self.cpu_count,
            mem_total=vm.total,
            mem_used=vm.total - vm.available,
            mem_available=vm.available,
            swap_total=sw.total,
            swap_used=sw.used,
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
