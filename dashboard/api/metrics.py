"""GET /metrics/nodes: per-node time series, the newest `raw_s` seconds at full resolution and
older samples down-sampled to max_points (dashboard/store/read_metrics.py)."""
from __future__ import annotations

import time
from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.store.read_metrics import DEFAULT_RAW_S

router = APIRouter(tags=["metrics"])

DEFAULT_WINDOW_S = 3600.0


@router.get("/metrics/nodes", response_model=list[m.NodeMetricSeries])
def node_metrics(store: StoreDep, node_id: Optional[str] = None, since: Optional[float] = None,
                 until: Optional[float] = None, max_points: int = 500,
                 raw_s: float = DEFAULT_RAW_S) -> list[m.NodeMetricSeries]:
    """The range is fitted to the samples inside [since, until] (default: the last hour)."""
    until = until if until is not None else time.time()
    since = since if since is not None else until - DEFAULT_WINDOW_S
    return store.node_series(node_id, since, until, max_points, raw_s)
