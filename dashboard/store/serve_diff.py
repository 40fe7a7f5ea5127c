"""Serve's history: the changes between two of the controller's documents, as events.

Why: Ray's Serve controller answers with the present only (its `recent_dead_replicas` keeps a few
stopped replicas, no times of status changes), and Ray's UI shows that. The head keeps each
application's last document and records what changed at each new one: a status (with its message),
a replica that appeared, changed state or disappeared. Pure functions: no database, no clock.
"""
from __future__ import annotations

from typing import Iterable, Optional

from rayscope.dashboard.serve_models import (
    ServeDocApp,
    ServeDocDeployment,
    ServeDocReplica,
    ServeEvent,
)


def diff_apps(prev: dict[str, ServeDocApp], new: dict[str, ServeDocApp], ts: float) -> list[ServeEvent]:
    """Events from `prev` (the applications as last seen) to `new` (the controller's latest
    document; {} when Serve was shut down), timestamped `ts` (a replica's start uses its own
    start time when Ray gives one)."""
    out: list[ServeEvent] = []
    for name, app in new.items():
        before = prev.get(name)
        if before is None or before.status != app.status or before.message != app.message:
            out.append(ServeEvent(ts=ts, app=name, kind="app_status", status=app.status,
                                  previous=before.status if before else None, message=app.message))
        out.extend(_diff_deployments(name, before.deployments if before else [], app.deployments, ts))
    for name, before in prev.items():
        if name not in new:
            out.extend(_diff_deployments(name, before.deployments, [], ts))
            out.append(ServeEvent(ts=ts, app=name, kind="app_removed", previous=before.status,
                                  message="no longer in the Serve controller's document"))
    return out


def _diff_deployments(app: str, prev: Iterable[ServeDocDeployment], new: Iterable[ServeDocDeployment],
                      ts: float) -> list[ServeEvent]:
    out: list[ServeEvent] = []
    before = {d.name: d for d in prev}
    after = {d.name: d for d in new}
    for name, d in after.items():
        b = before.get(name)
        if b is None or b.status != d.status or b.message != d.message:
            out.append(ServeEvent(ts=ts, app=app, deployment=name, kind="deployment_status", status=d.status,
                                  previous=b.status if b else None, message=d.message))
        out.extend(_diff_replicas(app, b, d, ts))
    for name, b in before.items():
        if name not in after:
            out.extend(_diff_replicas(app, b, None, ts))
            out.append(ServeEvent(ts=ts, app=app, deployment=name, kind="deployment_removed", previous=b.status))
    return out


def _diff_replicas(app: str, before: Optional[ServeDocDeployment], after: Optional[ServeDocDeployment],
                   ts: float) -> list[ServeEvent]:
    """A replica id that appears is started; one that disappears stopped: `replica_died` when the
    deployment is still there and its target did not drop (so Serve replaced it), else
    `replica_stopped` (scaled down, deleted, shut down)."""
    out: list[ServeEvent] = []
    old = {r.replica_id: r for r in (before.replicas if before else [])}
    cur = {r.replica_id: r for r in (after.replicas if after else [])}
    either = after or before
    dep = either.name if either is not None else None
    for rid, r in cur.items():
        o = old.get(rid)
        if o is None:
            started = r.start_time_s if r.start_time_s and r.start_time_s <= ts else ts
            out.append(ServeEvent(ts=started, app=app, deployment=dep, replica_id=rid, kind="replica_started",
                                  status=r.state, message=_where(r)))
        elif o.state != r.state:
            out.append(ServeEvent(ts=ts, app=app, deployment=dep, replica_id=rid, kind="replica_state",
                                  status=r.state, previous=o.state))
    for rid, o in old.items():
        if rid in cur:
            continue
        died = after is not None and not _target_dropped(before, after)
        out.append(ServeEvent(
            ts=ts, app=app, deployment=dep, replica_id=rid, kind="replica_died" if died else "replica_stopped",
            status="STOPPED", previous=o.state,
            message=(f"replaced: the target stayed {after.target_num_replicas}" if died and after else _where(o))))
    return out


def _target_dropped(before: Optional[ServeDocDeployment], after: ServeDocDeployment) -> bool:
    if before is None or before.target_num_replicas is None or after.target_num_replicas is None:
        return False
    return after.target_num_replicas < before.target_num_replicas or after.status == "DOWNSCALING"


def _where(r: ServeDocReplica) -> str:
    parts = [f"pid {r.pid}" if r.pid else "", f"node {r.node_id[:12]}" if r.node_id else ""]
    return ", ".join(p for p in parts if p)
