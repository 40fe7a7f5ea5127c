"""This node's Prometheus endpoint: the latest samples, in base units, without per-worker labels.

A custom Collector reads whatever the main loop last stored, so a scrape never triggers
collection work and never blocks it. Naming (docs/metrics.md): one `rayscope_` prefix, base
units, `_total` counters, `_ratio` in 0..1, GPU series after NVIDIA DCGM's field names. What
node_exporter already gives for the whole host (swap, disk and network I/O) is not repeated:
the node series here are the ones a Ray user reads next to Ray's own numbers.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Optional
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rayscope.wire.rayscope_ingest_pb2 import GpuSample, NodeSample, ObjectStoreSample, ProcessSnapshot


@dataclass(frozen=True)
class AgentSelfMetrics:
    """The agent's own health, sampled by the main loop."""

    cpu_ratio: float = 0.0  # 1.0 = one core busy
    rss_bytes: float = 0.0
    spool_pending_batches: int = 0
    spool_bytes: int = 0
    spool_dropped_batches_total: int = 0
    head_connected: bool = False
    open_log_fds: int = 0
    malformed_events_total: int = 0
    spool_write_errors_total: int = 0


@dataclass
class Latest:
    """What the collector exposes; replaced wholesale by the main loop."""

    node: Optional[NodeSample] = None
    store: Optional[ObjectStoreSample] = None
    processes: Optional[ProcessSnapshot] = None
    agent: Optional[AgentSelfMetrics] = None


def _family(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, doc: str, labels: list[str],
            rows: list[tuple[list[str], float]]) -> Metric:
    fam = kind(name, doc, labels=labels)
    for values, v in rows:
        fam.add_metric(values, v)
    return fam


class NodeMetricsCollector(Collector):
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.latest = Latest()
        self.lock = threading.Lock()

    def update(self, **kwargs: object) -> None:
        with self.lock:
            for k, v in kwargs.items():
                setattr(self.latest, k, v)

    def _one(self, kind: type, name: str, doc: str, value: float) -> Metric:
        return _family(kind, name, doc, ["node_id"], [([self.node_id], value)])

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            latest = Latest(self.latest.node, self.latest.store, self.latest.processes, self.latest.agent)
        G, C = GaugeMetricFamily, CounterMetricFamily
        n = latest.node
        if n is not None:
            yield self._one(G, "rayscope_node_cpu_utilization_ratio", "CPU busy, 0..1 of all cores", n.cpu_percent / 100.0)
            yield self._one(G, "rayscope_node_cpus", "Logical CPUs", n.cpu_count)
            yield self._one(G, "rayscope_node_memory_used_bytes", "Memory in use (total - available)", n.mem_used)
            yield self._one(G, "rayscope_node_memory_total_bytes", "Physical memory", n.mem_total)
            yield self._one(G, "rayscope_node_session_disk_used_bytes",
                            "Used bytes of the filesystem holding the Ray session (logs, spilling)", n.disk_used)
            yield self._one(G, "rayscope_node_session_disk_total_bytes",
                            "Size of the filesystem holding the Ray session", n.disk_total)
            yield from self._gpus(n)
        s = latest.store
        if s is not None:
            yield self._one(G, "rayscope_object_store_used_bytes", "Object store bytes in use", s.used_bytes)
            yield self._one(G, "rayscope_object_store_capacity_bytes", "Object store capacity", s.capacity_bytes)
            yield self._one(G, "rayscope_object_store_fallback_bytes", "Bytes in the filesystem fallback", s.fallback_bytes)
            yield self._one(G, "rayscope_object_store_objects", "Objects in the local store", s.num_objects)
            yield self._one(C, "rayscope_object_store_spilled_bytes", "Bytes spilled to external storage",
                            s.spilled_bytes_total)
            yield self._one(C, "rayscope_object_store_restored_bytes", "Bytes restored from external storage",
                            s.restored_bytes_total)
        if latest.processes is not None:
            yield from self._processes(latest.processes, n.cpu_count if n is not None and n.cpu_count else 1)
        if latest.agent is not None:
            yield from self._agent(latest.agent)

    def _gpus(self, n: NodeSample) -> Iterator[Metric]:
        """DCGM's fields (GPU_UTIL, FB_USED, FB_FREE, FB_TOTAL, GPU_TEMP, POWER_USAGE) in base units."""
        if not n.gpus:
            return
        labels = ["node_id", "gpu", "uuid", "model_name"]
        key = {g.index: [self.node_id, str(g.index), g.uuid, g.name] for g in n.gpus}
        get: Callable[[GpuSample], float]
        for name, doc, get in (
            ("rayscope_gpu_util_ratio", "GPU busy, 0..1 (DCGM_FI_DEV_GPU_UTIL / 100)", lambda g: g.utilization_ratio),
            ("rayscope_gpu_fb_used_bytes", "Frame buffer in use (DCGM_FI_DEV_FB_USED)", lambda g: g.memory_used),
            ("rayscope_gpu_fb_free_bytes", "Frame buffer free (DCGM_FI_DEV_FB_FREE)",
             lambda g: max(0, g.memory_total - g.memory_used)),
            ("rayscope_gpu_fb_total_bytes", "Frame buffer size (DCGM_FI_DEV_FB_TOTAL)", lambda g: g.memory_total),
            ("rayscope_gpu_temp_celsius", "GPU temperature (DCGM_FI_DEV_GPU_TEMP)", lambda g: g.temperature_celsius),
            ("rayscope_gpu_power_usage_watts", "Power draw (DCGM_FI_DEV_POWER_USAGE)", lambda g: g.power_watts),
        ):
            yield _family(GaugeMetricFamily, name, doc, labels, [(key[g.index], get(g)) for g in n.gpus])

    def _processes(self, snap: ProcessSnapshot, cpus: int) -> Iterator[Metric]:
        """Per role (raylet, worker, driver, ...), never per worker: bounded label sets, and a
        worker that exits only lowers its role's sums (no series of its own to go stale)."""
        roles: dict[str, list[float]] = {}
        for p in snap.processes:
            acc = roles.setdefault(p.role, [0, 0, 0.0, 0])
            acc[0] += 1
            acc[1] += p.rss
            acc[2] += p.cpu_percent / 100.0
            acc[3] += p.gpu_memory_used
        labels = ["node_id", "role"]
        rows = sorted(roles.items())
        yield _family(GaugeMetricFamily, "rayscope_ray_processes", "Ray processes by role", labels,
                      [([self.node_id, r], a[0]) for r, a in rows])
        yield _family(GaugeMetricFamily, "rayscope_ray_process_rss_bytes", "Summed RSS by role", labels,
                      [([self.node_id, r], a[1]) for r, a in rows])
        yield _family(GaugeMetricFamily, "rayscope_ray_process_cpu_utilization_ratio",
                      "Summed CPU by role, 0..1 of the node's cores", labels,
                      [([self.node_id, r], a[2] / cpus) for r, a in rows])
        yield _family(GaugeMetricFamily, "rayscope_ray_process_gpu_fb_used_bytes", "Summed GPU memory by role",
                      labels, [([self.node_id, r], a[3]) for r, a in rows])

    def _agent(self, a: AgentSelfMetrics) -> Iterator[Metric]:
        G, C = GaugeMetricFamily, CounterMetricFamily
        yield self._one(G, "rayscope_agent_cpu_utilization_ratio", "Agent CPU, 1.0 = one core", a.cpu_ratio)
        yield self._one(G, "rayscope_agent_resident_memory_bytes", "Agent RSS", a.rss_bytes)
        yield self._one(G, "rayscope_agent_spool_pending_batches", "Batches spooled, not yet acked by the head",
                        a.spool_pending_batches)
        yield self._one(G, "rayscope_agent_spool_bytes", "Bytes in the disk spool", a.spool_bytes)
        yield self._one(C, "rayscope_agent_spool_dropped_batches", "Batches the spool dropped over budget",
                        a.spool_dropped_batches_total)
        yield self._one(G, "rayscope_agent_head_connected", "1 while the ingest stream to the head is up",
                        1.0 if a.head_connected else 0.0)
        yield self._one(G, "rayscope_agent_open_log_fds", "Log files held open by the tailer", a.open_log_fds)
        yield self._one(C, "rayscope_agent_malformed_events", "Export-event lines that could not be decoded",
                        a.malformed_events_total)
        yield self._one(C, "rayscope_agent_spool_write_errors",
                        "Spool appends that failed (full disk, I/O error); the batch is held and appended again",
                        a.spool_write_errors_total)


def serve(collector: NodeMetricsCollector, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Start the HTTP server in a daemon thread; returns it and the /metrics URL. prometheus_client
    picks the text or OpenMetrics format from the Accept header."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    url_host = f"[{host}]" if ":" in host else host
    return server, f"http://{url_host}:{server.server_port}/metrics"
