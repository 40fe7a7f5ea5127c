"""GET /metrics/nodes: per-node time series, the newest `raw_s` seconds at full resolution and
older samples down-sampled to max_points (dashboard/store/read_metrics.py).
GET /metrics/nodes/distribution and /metrics/nodes/distribution/cell: the same metrics summed up
across nodes per time step, for clusters too large for a line per node
(dashboard/store/read_node_distribution.py)."""
from __future__ import annotations

import time
from typing import Annotated, Optional

from fastapi import APIRouter, Query

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.store.read_metrics import DEFAULT_RAW_S
from rayscope.dashboard.store.read_node_distribution import CELL_LIMIT

router = APIRouter(tags=["metrics"])

DEFAULT_WINDOW_S = 3600.0
DEFAULT_DISTRIBUTION_POINTS = 240


def _window(since: Optional[float], until: Optional[float]) -> tuple[float, float]:
    """[since, until], by default the last hour."""
    until = until if until is not None else time.time()
    return (since if since is not None else until - DEFAULT_WINDOW_S), until


@router.get("/metrics/nodes", response_model=list[m.NodeMetricSeries])
def node_metrics(store: StoreDep,
                 node_id: Annotated[list[str], Query(description="repeatable; default: every node")] = [],  # noqa: B006
                 since: Optional[float] = None, until: Optional[float] = None, max_points: int = 500,
                 raw_s: float = DEFAULT_RAW_S,
                 latest: Annotated[Optional[int], Query(description=(
                     "only each node's newest N samples, as taken (1-10; e.g. 2 for per-second rates); "
                     "since, until, max_points and raw_s are then not used"))] = None) -> list[m.NodeMetricSeries]:
    """The range is fitted to the samples inside [since, until] (default: the last hour)."""
    if latest is not None:
        return store.node_latest(list(node_id), latest)
    since, until = _window(since, until)
    return store.node_series(list(node_id), since, until, max_points, raw_s)


@router.get("/metrics/nodes/distribution", response_model=m.NodeDistributions)
def node_distribution(
    store: StoreDep,
    metric: Annotated[list[m.DistributionMetric], Query(description="repeatable; default: all")] = [],  # noqa: B006
    since: Optional[float] = None, until: Optional[float] = None,
    step: Annotated[Optional[float], Query(description="seconds per step; default: fits max_points")] = None,
    max_points: int = DEFAULT_DISTRIBUTION_POINTS,
) -> m.NodeDistributions:
    """Per time step: how many nodes, their min / p50 / p90 / max and a histogram of nodes per
    5 % bucket, each node's samples in the step averaged first. The range is fitted to the samples
    inside [since, until] (default: the last hour) and aligned to whole steps."""
    since, until = _window(since, until)
    return store.node_distributions(metric, since, until, step, max_points)


@router.get("/metrics/nodes/distribution/cell", response_model=m.DistributionCell)
def node_distribution_cell(store: StoreDep, metric: m.DistributionMetric, ts: float, step: float, bucket: int,
                           limit: Annotated[int, Query(description=f"1..{CELL_LIMIT}")] = 100) -> m.DistributionCell:
    """The nodes counted in one cell of /metrics/nodes/distribution (the step starting at `ts`,
    value bucket `bucket`), highest value first."""
    return store.distribution_cell(metric, ts, step, bucket, limit)
