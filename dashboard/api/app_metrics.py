"""GET /metrics/app (application metrics with their latest values) and /metrics/app/{name} (one
metric over time, summed over nodes, grouped by a tag): dashboard/store/read_app_metrics.py."""
from __future__ import annotations

import time
from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep

router = APIRouter(tags=["metrics"])

DEFAULT_WINDOW_S = 3600.0


@router.get("/metrics/app", response_model=list[m.AppMetric])
def app_metrics(store: StoreDep) -> list[m.AppMetric]:
    """Every metric recorded with ray.util.metrics that an agent has shipped."""
    return store.app_metrics()


@router.get("/metrics/app/{name}", response_model=list[m.AppMetricGroup])
def app_metric_series(store: StoreDep, name: str, since: Optional[float] = None, until: Optional[float] = None,
                      group_by: Optional[str] = None, max_points: int = 500) -> list[m.AppMetricGroup]:
    """The range is fitted to the samples inside [since, until] (default: the last hour)."""
    until = until if until is not None else time.time()
    since = since if since is not None else until - DEFAULT_WINDOW_S
    return store.app_metric_series(name, since, until, group_by or None, max_points)
