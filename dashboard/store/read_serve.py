"""Reading Ray Serve's views from the store: the applications listing, one application with its
history, request figures. Everything comes from the store (no live-only state), so a stopped
cluster's store opened with `rayscope dashboard --db` shows the same, with the figures' window
ending at the last sample instead of now.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Optional, Sequence

from rayscope.dashboard.serve_models import (
    ServeApplication,
    ServeApplicationDetail,
    ServeDeployment,
    ServeDocApp,
    ServeDocDeployment,
    ServeDocReplica,
    ServeEvent,
    ServeReplica,
)
from rayscope.dashboard.store.listing import Column, ListSpec
from rayscope.dashboard.store.serve_figures import (
    BASELINE_LOOKBACK_S,
    WINDOW_S,
    Series,
    app_figures,
    deployment_figures,
    load_series,
)

_RUNNING = ("(SELECT count(*) FROM json_each(a.doc, '$.deployments') d, json_each(d.value, '$.replicas') r "
            "WHERE json_extract(r.value, '$.state') = 'RUNNING')")
_TARGET = "(SELECT coalesce(sum(json_extract(d.value, '$.target_num_replicas')), 0) FROM json_each(a.doc, '$.deployments') d)"
SOURCE = (f"(SELECT a.*, json_array_length(a.doc, '$.deployments') AS deployment_count, "
          f"CASE WHEN a.present THEN {_RUNNING} ELSE 0 END AS running_replicas, "
          f"CASE WHEN a.present THEN {_TARGET} ELSE 0 END AS target_replicas FROM serve_apps a)")
COLUMNS: dict[str, Column] = {
    "name": Column("name", str, nullable=False), "status": Column("status", str, nullable=False),
    "message": Column("message", str, nullable=False), "route_prefix": Column("route_prefix", str),
    "ingress_deployment": Column("ingress_deployment", str), "source": Column("source", str),
    "last_deployed_time": Column("last_deployed_time", float), "present": Column("present", bool, nullable=False),
    "first_seen": Column("first_seen", float, nullable=False), "updated_at": Column("updated_at", float, nullable=False),
    "removed_at": Column("removed_at", float), "deployment_count": Column("deployment_count", int, nullable=False),
    "running_replicas": Column("running_replicas", int, nullable=False),
    "target_replicas": Column("target_replicas", int, nullable=False),
}


def _replica(r: ServeDocReplica) -> ServeReplica:
    path = (r.log_file_path or "").lstrip("/")
    return ServeReplica(replica_id=r.replica_id, state=r.state, node_id=r.node_id, node_ip=r.node_ip,
                        actor_id=r.actor_id, actor_name=r.actor_name, worker_id=r.worker_id, pid=r.pid,
                        log_file_path=r.log_file_path, started=r.start_time_s,
                        log_file_id=f"{r.node_id}:{path}" if path and r.node_id else None)


def _deployment(d: ServeDocDeployment, present: bool) -> ServeDeployment:
    replicas = [_replica(r) for r in d.replicas] if present else []
    auto = d.autoscaling
    return ServeDeployment(
        name=d.name, status=d.status, status_trigger=d.status_trigger, message=d.message,
        target_replicas=d.target_num_replicas, num_replicas=d.num_replicas,
        autoscaling_min=auto.min_replicas if auto else None, autoscaling_max=auto.max_replicas if auto else None,
        replicas=replicas, running_replicas=sum(1 for r in replicas if r.state == "RUNNING"))


def app_row(r: sqlite3.Row) -> ServeApplication:
    doc = ServeDocApp.model_validate_json(r["doc"])
    present = bool(r["present"])
    return ServeApplication(
        name=r["name"], status=r["status"], message=r["message"], route_prefix=r["route_prefix"],
        ingress_deployment=r["ingress_deployment"], source=r["source"], last_deployed_time=r["last_deployed_time"],
        present=present, first_seen=r["first_seen"], updated_at=r["updated_at"], removed_at=r["removed_at"],
        deployment_count=r["deployment_count"], running_replicas=r["running_replicas"],
        target_replicas=r["target_replicas"], deployments=[_deployment(d, present) for d in doc.deployments])


SERVE_APPS: ListSpec[ServeApplication] = ListSpec(
    source=SOURCE, columns=COLUMNS, key=("name",), default_sort="name", to_model=app_row)


def figures_end(conn: sqlite3.Connection, live: bool, now: float) -> float:
    """Where the figures' window ends: now while the cluster lives, else at the last sample."""
    if live:
        return now
    row = conn.execute("SELECT max(ts) FROM serve_metric_latest").fetchone()
    return float(row[0]) if row and row[0] is not None else now


def add_figures(conn: sqlite3.Connection, apps: Sequence[ServeApplication], end: float) -> None:
    """Request figures and replica restart counts onto `apps` (in place)."""
    if not apps:
        return
    series: list[Series] = load_series(conn, end - WINDOW_S - BASELINE_LOOKBACK_S)
    restarts = {(a, d): n for a, d, n in conn.execute(
        "SELECT app, deployment, count(*) FROM serve_events WHERE kind = 'replica_died' GROUP BY app, deployment")}
    for app in apps:
        app.requests = app_figures(series, app.name, end)
        for d in app.deployments:
            d.requests = deployment_figures(series, app.name, d.name, end)
            d.replica_restarts = restarts.get((app.name, d.name), 0)


def history(conn: sqlite3.Connection, app: str, limit: int = 1000) -> list[ServeEvent]:
    """The application's newest `limit` events, oldest first."""
    rows = conn.execute(
        "SELECT ts, app, deployment, replica_id, kind, status, previous, message FROM serve_events WHERE app = ? "
        "ORDER BY ts DESC, id DESC LIMIT ?", (app, limit)).fetchall()
    return [ServeEvent(ts=r[0], app=r[1], deployment=r[2], replica_id=r[3], kind=r[4], status=r[5], previous=r[6],
                       message=r[7]) for r in reversed(rows)]


def application(conn: sqlite3.Connection, name: str, live: bool, now: float) -> Optional[ServeApplicationDetail]:
    r = conn.execute(f"SELECT * FROM {SOURCE} WHERE name = ?", (name,)).fetchone()
    if r is None:
        return None
    detail = ServeApplicationDetail(**app_row(r).model_dump(), history=history(conn, name))
    row = conn.execute("SELECT value FROM meta WHERE key = 'serve_proxies'").fetchone()
    detail.proxies = json.loads(row[0]) if row and detail.present else {}
    add_figures(conn, [detail], figures_end(conn, live, now))
    return detail
