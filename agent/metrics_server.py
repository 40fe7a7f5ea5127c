"""This node's Prometheus endpoint: the latest samples, in base units, without per-worker labels.

A custom Collector reads whatever the main loop last stored, so a scrape never triggers
collection work and never blocks it.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Optional
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rayscope.wire.rayscope_ingest_pb2 import NodeSample, ObjectStoreSample, ProcessSnapshot


@dataclass
class Latest:
    """What the collector exposes; replaced wholesale by the main loop."""

    node: Optional[NodeSample] = None
    store: Optional[ObjectStoreSample] = None
    processes: Optional[ProcessSnapshot] = None
    counters: dict[str, float] = field(default_factory=dict)  # agent self-metrics, name -> value


class NodeMetricsCollector(Collector):
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.latest = Latest()
        self.lock = threading.Lock()

    def update(self, **kwargs: object) -> None:
        with self.lock:
            for k, v in kwargs.items():
                setattr(self.latest, k, v)

    def _gauge(self, name: str, doc: str, value: float, labels: Optional[dict[str, str]] = None) -> GaugeMetricFamily:
        extra = labels or {}
        g = GaugeMetricFamily(name, doc, labels=["node_id", *extra])
        g.add_metric([self.node_id, *extra.values()], value)
        return g

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            latest = Latest(self.latest.node, self.latest.store, self.latest.processes, dict(self.latest.counters))
        n = latest.node
        if n is not None:
            yield self._gauge("rayscope_node_cpu_utilization_ratio", "CPU busy, 0..1 of all cores", n.cpu_percent / 100.0)
            yield self._gauge("rayscope_node_cpu_count", "Logical CPUs", n.cpu_count)
            yield self._gauge("rayscope_node_memory_used_bytes", "Memory in use (total - available)", n.mem_used)
            yield self._gauge("rayscope_node_memory_total_bytes", "Physical memory", n.mem_total)
            yield self._gauge("rayscope_node_swap_used_bytes", "Swap in use", n.swap_used)
            yield self._gauge("rayscope_node_disk_used_bytes", "Used bytes of the Ray session's filesystem", n.disk_used)
            yield self._gauge("rayscope_node_disk_total_bytes", "Size of the Ray session's filesystem", n.disk_total)
            for name, doc, value in (
                ("rayscope_node_disk_read_bytes", "Bytes read from disks", n.disk_read_bytes),
                ("rayscope_node_disk_written_bytes", "Bytes written to disks", n.disk_write_bytes),
                ("rayscope_node_network_sent_bytes", "Bytes sent on all interfaces", n.net_sent_bytes),
                ("rayscope_node_network_received_bytes", "Bytes received on all interfaces", n.net_recv_bytes),
            ):
                c = CounterMetricFamily(name, doc, labels=["node_id"])
                c.add_metric([self.node_id], value)
                yield c
            yield from self._gpus(n)
        s = latest.store
        if s is not None:
            yield self._gauge("rayscope_object_store_used_bytes", "Object store bytes in use", s.used_bytes)
            yield self._gauge("rayscope_object_store_capacity_bytes", "Object store capacity", s.capacity_bytes)
            yield self._gauge("rayscope_object_store_objects", "Objects in the local store", s.num_objects)
            c = CounterMetricFamily("rayscope_object_store_spilled_bytes", "Bytes spilled to external storage", labels=["node_id"])
            c.add_metric([self.node_id], s.spilled_bytes_total)
            yield c
        if latest.processes is not None:
            yield from self._processes(latest.processes)
        for name, value in sorted(latest.counters.items()):
            yield self._gauge(name, "Rayscope agent self-metric", value)

    def _gpus(self, n: NodeSample) -> Iterator[Metric]:
        if not n.gpus:
            return
        labels = ["node_id", "gpu_index", "gpu_name"]
        fams = {
            "util": GaugeMetricFamily("rayscope_gpu_utilization_ratio", "GPU busy, 0..1", labels=labels),
            "mem": GaugeMetricFamily("rayscope_gpu_memory_used_bytes", "GPU memory in use", labels=labels),
            "tot": GaugeMetricFamily("rayscope_gpu_memory_total_bytes", "GPU memory size", labels=labels),
            "temp": GaugeMetricFamily("rayscope_gpu_temperature_celsius", "GPU temperature", labels=labels),
            "pow": GaugeMetricFamily("rayscope_gpu_power_watts", "GPU power draw", labels=labels),
        }
        for g in n.gpus:
            key = [self.node_id, str(g.index), g.name]
            fams["util"].add_metric(key, g.utilization_ratio)
            fams["mem"].add_metric(key, g.memory_used)
            fams["tot"].add_metric(key, g.memory_total)
            fams["temp"].add_metric(key, g.temperature_celsius)
            fams["pow"].add_metric(key, g.power_watts)
        yield from fams.values()

    def _processes(self, snap: ProcessSnapshot) -> Iterator[Metric]:
        """Per role (raylet, worker, driver, ...), never per worker: bounded label sets."""
        count = GaugeMetricFamily("rayscope_ray_processes", "Ray processes by role", labels=["node_id", "role"])
        rss = GaugeMetricFamily("rayscope_ray_process_rss_bytes", "Summed RSS by role", labels=["node_id", "role"])
        cpu = GaugeMetricFamily("rayscope_ray_process_cpu_utilization_ratio", "Summed CPU by role, 1.0 = one core",
                                labels=["node_id", "role"])
        roles: dict[str, list[float]] = {}
        for p in snap.processes:
            acc = roles.setdefault(p.role, [0, 0, 0.0])
            acc[0] += 1
            acc[1] += p.rss
            acc[2] += p.cpu_percent / 100.0
        for role, (n, r, c) in sorted(roles.items()):
            count.add_metric([self.node_id, role], n)
            rss.add_metric([self.node_id, role], r)
            cpu.add_metric([self.node_id, role], c)
        yield from (count, rss, cpu)


def serve(collector: NodeMetricsCollector, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Start the HTTP server in a daemon thread; returns it and the /metrics URL."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, f"http://{host}:{server.server_port}/metrics"
