"""Text output of `rayscope get serve-app NAME` (the JSON is the API's ServeApplicationDetail as is):
the application, a table of its deployments with target vs running replicas and request
figures, its replicas, and its history of status changes and replica starts and deaths."""
from __future__ import annotations

from typing import Optional

from rayscope.cli.format import Column, banner, human_time, render_record, render_table
from rayscope.dashboard.models import ServeApplicationDetail, ServeDeployment, ServeRequestFigures


def _num(v: Optional[float], unit: str = "") -> str:
    return "" if v is None else f"{v:.3g}{unit}"


def _replicas(d: ServeDeployment) -> str:
    auto = f" (autoscaling {d.autoscaling_min}-{d.autoscaling_max})" if d.autoscaling_max is not None else ""
    return f"{d.running_replicas}/{d.target_replicas if d.target_replicas is not None else '?'}{auto}"


def _figures(f: Optional[ServeRequestFigures]) -> list[str]:
    if f is None:
        return ["", "", "", ""]
    return [f"{f.requests_total:.0f} ({f.request_rate:.3g}/s)", f"{f.errors_total:.0f} ({f.error_rate:.3g}/s)",
            "/".join(_num(p) for p in (f.p50_ms, f.p95_ms, f.p99_ms)), ""]


def serve_app_text(app: ServeApplicationDetail, width: Optional[int]) -> str:
    head = [("name", app.name), ("status", app.status + ("" if app.present else " (removed)")),
            ("message", app.message or None), ("route_prefix", app.route_prefix),
            ("ingress_deployment", app.ingress_deployment),
            ("last_deployed_time", human_time(app.last_deployed_time) if app.last_deployed_time else None),
            ("replicas", f"{app.running_replicas} running / {app.target_replicas} target")]
    if app.requests is not None:
        r = app.requests
        head.append(("http_requests", f"{r.requests_total:.0f} total, {r.request_rate:.3g}/s, errors "
                     f"{r.errors_total:.0f} ({r.error_rate:.3g}/s), p50/p95/p99 "
                     + "/".join(_num(p, " ms") for p in (r.p50_ms, r.p95_ms, r.p99_ms))
                     + f" over the last {r.window_s:.0f} s"))
    out = [banner(f"Serve application {app.name}"), render_record([(k, v) for k, v in head if v is not None]), ""]
    deps = [Column("DEPLOYMENT", lambda d: d.name, priority=0), Column("STATUS", lambda d: d.status, priority=0),
            Column("REPLICAS", _replicas, priority=1), Column("RESTARTS", lambda d: str(d.replica_restarts), priority=4),
            Column("REQUESTS", lambda d: _figures(d.requests)[0], priority=2),
            Column("ERRORS", lambda d: _figures(d.requests)[1], priority=2),
            Column("P50/P95/P99_MS", lambda d: _figures(d.requests)[2], priority=3),
            Column("MESSAGE", lambda d: d.message, priority=5, shrink=True)]
    out += ["Deployments:", render_table(deps, app.deployments, width), ""]
    reps = [(d.name, r) for d in app.deployments for r in d.replicas]
    if reps:
        cols = [Column("DEPLOYMENT", lambda x: x[0], priority=0), Column("REPLICA_ID", lambda x: x[1].replica_id, priority=0),
                Column("STATE", lambda x: x[1].state, priority=0), Column("PID", lambda x: str(x[1].pid or ""), priority=1),
                Column("NODE_ID", lambda x: x[1].node_id or "", priority=2),
                Column("ACTOR_ID", lambda x: x[1].actor_id or "", priority=3),
                Column("LOG", lambda x: x[1].log_file_path or "", priority=4, shrink=True)]
        out += ["Replicas:", render_table(cols, reps, width), ""]
    if app.history:
        cols = [Column("TIME", lambda e: human_time(e.ts), priority=0), Column("EVENT", lambda e: e.kind, priority=0),
                Column("DEPLOYMENT", lambda e: e.deployment or "", priority=1),
                Column("REPLICA", lambda e: e.replica_id or "", priority=1),
                Column("STATUS", lambda e: (f"{e.previous} -> " if e.previous else "") + (e.status or ""), priority=2),
                Column("MESSAGE", lambda e: e.message, priority=3, shrink=True)]
        out += ["History:", render_table(cols, app.history, width)]
    return "\n".join(out)
