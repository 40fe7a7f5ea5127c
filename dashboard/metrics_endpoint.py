"""The head's own Prometheus endpoint, GET /metrics: cluster-level series (the agents serve the nodes').

State transitions are counters (`rayscope_tasks_entered_total`): Ray exports task states as a
gauge, so a task that starts and finishes between two scrapes is never seen; a counter keeps
every completion, and `rate()`/`increase()` work across head restarts (the counts live in
SQLite). Current states are gauges beside them. Labels stay bounded: task type and state, no
task, object, worker or job ids. Behind the same bearer token as the API: the generated
prometheus.yml scrapes with `authorization.credentials_file` (docs/metrics.md).
"""
from __future__ import annotations

import os
import time
from typing import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from rayscope.dashboard import models as m
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.read_prometheus import ClusterCounts, cluster_counts
from rayscope.dashboard.ws import Hub

router = APIRouter(tags=["prometheus"])


def _fam(kind: type, name: str, doc: str, labels: list[str], rows) -> Metric:
    fam = kind(name, doc, labels=labels)
    for *values, v in rows:
        fam.add_metric([str(x) for x in values], v)
    return fam


def _db_bytes(path: str) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.path.getsize(path + suffix)
        except OSError:
            pass
    return total


class HeadMetricsCollector(Collector):
    """Reads a handful of small tables per scrape (see store/read_prometheus.py)."""

    def __init__(self, store: Store, hub: Hub, info: m.ClusterInfo) -> None:
        self.store, self.hub, self.info = store, hub, info

    def collect(self) -> Iterator[Metric]:
        c: ClusterCounts = cluster_counts(self.store.conn, self.store.live, time.time())
        G, C = GaugeMetricFamily, CounterMetricFamily
        yield _fam(C, "rayscope_tasks_entered", "Task attempts that entered each state", ["type", "state"],
                   c.tasks_entered)
        yield _fam(G, "rayscope_tasks_in_state", "Task attempts currently in each state", ["type", "state"],
                   c.tasks_in_state)
        yield _fam(C, "rayscope_actors_entered", "Actor state changes, by the state entered", ["state"],
                   c.actors_entered)
        yield _fam(G, "rayscope_actors_in_state", "Actors currently in each state", ["state"], c.actors_in_state)
        yield _fam(G, "rayscope_jobs_in_state", "Jobs by state", ["state"], c.jobs_in_state)
        yield _fam(C, "rayscope_jobs_started", "Jobs seen since the store was created", [], [(c.jobs_total,)])
        yield _fam(G, "rayscope_nodes_in_state", "Ray nodes by state", ["state"], c.nodes_in_state)
        yield _fam(G, "rayscope_head_agents_connected", "Agents with an open, recently active ingest stream", [],
                   [(c.agents_connected,)])
        yield _fam(C, "rayscope_head_ingest_batches", "Agent batches committed", [], [(c.batches_committed,)])
        yield _fam(C, "rayscope_dropped_items", "Items dropped before storage, by source and where "
                   "(agent: spool/buffer over budget, unreadable input; head: malformed)", ["source", "stage"],
                   [(s, st, n) for s, st, n, _ in c.drops])
        yield _fam(C, "rayscope_dropped_bytes", "Bytes of the dropped items", ["source", "stage"],
                   [(s, st, b) for s, st, _, b in c.drops])
        yield _fam(G, "rayscope_head_db_size_bytes", "SQLite store size (db + WAL)", [],
                   [(_db_bytes(self.info.db_path),)])
        yield _fam(G, "rayscope_head_websocket_clients", "Connected WebSocket clients", [],
                   [(len(self.hub.clients),)])
        yield _fam(G, "rayscope_head_info", "Versions and session of this head (value 1)",
                   ["version", "ray_version", "session_name"],
                   [(self.info.rayscope_version, self.info.ray_version or "", self.info.session_name or "", 1)])


def head_registry(store: Store, hub: Hub, info: m.ClusterInfo) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HeadMetricsCollector(store, hub, info))
    ProcessCollector(namespace="rayscope_head", registry=registry)  # cpu seconds, RSS, fds, start time
    return registry


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text, or OpenMetrics when the Accept header asks for it."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(content=encoder(request.app.state.metrics_registry), media_type=content_type)
