"""GET /metrics/targets (Prometheus http_sd), /metrics/prometheus/query_range (longer ranges) and
/objects/store (the object-store totals `ray memory` ends with).

The web dashboard's charts read the head's own samples (/metrics/nodes, 24 h by default). When
the head runs with a Prometheus URL (--prometheus-url or RAYSCOPE_PROMETHEUS_URL), the range
endpoint forwards one PromQL range query to it, so a chart can show weeks without the head
keeping them; the browser never needs Prometheus' address or credentials.
"""
from __future__ import annotations

from typing import Optional

import httpx
from fastapi import APIRouter, Request

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.errors import ApiError, BadRequest, NotFound
from rayscope.dashboard.service_discovery import target_groups
from rayscope.dashboard.store.read_prometheus import object_store_totals


class BadGateway(ApiError):
    status = 502


router = APIRouter(tags=["prometheus"])

MAX_POINTS = 11_000  # Prometheus' own limit per series
PROM_TIMEOUT_S = 30.0


@router.get("/metrics/targets", response_model=list[m.PromTargetGroup])
def targets(store: StoreDep, request: Request) -> list[m.PromTargetGroup]:
    st = request.app.state
    return target_groups(store, st.http_url, st.cluster_info.session_name)


def _series(data: dict) -> list[m.PromSeries]:
    if data.get("status") != "success":
        raise BadRequest(f"prometheus: {data.get('errorType', 'error')}: {data.get('error', 'unknown error')}")
    result = data.get("data", {})
    if result.get("resultType") != "matrix":
        raise BadRequest("prometheus: the query did not return a range (matrix) result")
    return [m.PromSeries(metric=r.get("metric", {}), points=[(float(t), float(v)) for t, v in r.get("values", [])])
            for r in result.get("result", [])]


@router.get("/metrics/prometheus/query_range", response_model=list[m.PromSeries])
def query_range(request: Request, query: str, start: float, end: float, step: Optional[float] = None
                ) -> list[m.PromSeries]:
    base: Optional[str] = request.app.state.prometheus_url
    if not base:
        raise NotFound("no Prometheus configured on this head (start it with --prometheus-url "
                            "or RAYSCOPE_PROMETHEUS_URL)")
    if end <= start:
        raise BadRequest("end must be after start")
    step = step or max(1.0, (end - start) / 500)
    if (end - start) / step > MAX_POINTS:
        raise BadRequest(f"too many points: (end - start) / step must be at most {MAX_POINTS}")
    try:
        r = httpx.get(base.rstrip("/") + "/api/v1/query_range", timeout=PROM_TIMEOUT_S,
                      params={"query": query, "start": start, "end": end, "step": step})
    except httpx.HTTPError as exc:
        raise BadGateway(f"cannot reach Prometheus at {base}: {type(exc).__name__}") from None
    try:
        data = r.json()
    except ValueError:
        raise BadGateway(f"Prometheus at {base} answered {r.status_code} without JSON") from None
    return _series(data)


@router.get("/objects/store", response_model=m.ObjectStoreStats)
def object_store_stats(store: StoreDep) -> m.ObjectStoreStats:
    """The aggregate block of `ray memory` (what ray-memory prints last)."""
    nodes, used, cap, objects, spilled, restored, fallback = object_store_totals(store.conn)
    return m.ObjectStoreStats(nodes=nodes, used_bytes=used, capacity_bytes=cap, num_objects=objects,
                              spilled_bytes_total=spilled, restored_bytes_total=restored, fallback_bytes=fallback)
