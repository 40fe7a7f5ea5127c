"""The head's own Prometheus endpoint, GET /metrics: cluster-level series (the agents serve the nodes').

State transitions are counters (`rayscope_tasks_entered_total`): Ray exports task states as a
gauge, so a task that starts and finishes between two scrapes is never seen; a counter keeps
every completion, and `rate()`/`increase()` work across head restarts (the counts live in
SQLite). Current states are gauges beside them. Labels stay bounded: task type and state, no
task, object or worker ids. The series the alert rules read (alerts/rules.py) are per node
(node_id, node_ip) and per running job (job_id); store/read_alert_figures.py bounds which. Behind
the same bearer token as the API: the generated prometheus.yml scrapes with
`authorization.credentials_file` (docs/metrics.md).
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
from rayscope.dashboard.store.read_alert_figures import AlertFigures, alert_figures
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
        yield from _alert_families(alert_figures(self.store.conn, self.store.live, time.time()))


def _alert_families(a: AlertFigures) -> Iterator[Metric]:
    """The per-node and per-job series the alert rules read (alerts/rules.py; store/read_alert_figures.py
    says which nodes and jobs have series). Node series carry node_ip beside node_id: alerts name the host."""
    G, C = GaugeMetricFamily, CounterMetricFamily
    node = ["node_id", "node_ip"]
    yield _fam(G, "rayscope_node_up", "1 for an alive Ray node; 0 for a host's newest node that died "
               "unexpectedly while no node of that host is alive", node,
               [(f.node_id, f.node_ip, f.value) for f in a.node_up])
    yield _fam(G, "rayscope_node_agent_connected", "Per alive node: 1 while its Rayscope agent streams to the head",
               node, [(f.node_id, f.node_ip, f.value) for f in a.agent_connected])
    yield _fam(G, "rayscope_node_ingest_lag_seconds", "Per node with a connected agent: age of the newest batch "
               "the head stored from it (agent clock to head clock)", node,
               [(f.node_id, f.node_ip, f.value) for f in a.ingest_lag_s])
    yield _fam(C, "rayscope_worker_exits", "Ray workers that ended in a failure, by Ray's exit type",
               [*node, "exit_type"], [(w.node_id, w.node_ip, w.exit_type, w.n) for w in a.worker_exits])
    yield _fam(C, "rayscope_node_dropped_items", "Items from this node dropped before storage (all sources)",
               node, [(f.node_id, f.node_ip, f.value) for f in a.node_drops])
    yield _fam(G, "rayscope_node_gpus_reserved", "GPUs held by the alive node's actors and running tasks",
               node, [(f.node_id, f.node_ip, f.value) for f in a.gpus_reserved])
    yield _fam(G, "rayscope_job_oldest_pending_task_seconds", "Per running job with a task waiting for a node "
               "(one some node can run): how long the oldest has waited", ["job_id"],
               [(f.job_id, f.value) for f in a.oldest_pending_s])
    yield _fam(G, "rayscope_job_infeasible_tasks", "Per running job: tasks asking for resources no alive node has",
               ["job_id"], [(f.job_id, f.value) for f in a.infeasible])
    yield _fam(C, "rayscope_job_tasks_ended", "Per running job: task attempts that ended, by state (FINISHED, "
               "FAILED)", ["job_id", "state"], [(t.job_id, t.state, t.n) for t in a.tasks_ended])


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
