"""Request figures of Serve deployments and applications from Ray's counters and histograms.

Why computed here: without a Prometheus server nothing turns Ray's cumulative counters into
rates or its histograms into percentiles. The agents ship the Serve families every 10 s
(Batch field 28, `serve_metric_samples`); over a window (the last minute) each series' increase
is its latest value minus its value at the window's start (a series that first appears inside
the window, e.g. a new replica's, counts from 0; a value that went down, a restarted process,
counts from 0 again, as Prometheus' increase() does). Latency percentiles are estimated from the
histograms' bucket increases like Prometheus' histogram_quantile: linear interpolation inside the
bucket that holds the rank, so an estimate within that bucket's bounds.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from rayscope.dashboard.serve_models import ServeRequestFigures
from rayscope.runtime.ray_metric_names import (
    SERVE_DEPLOYMENT_ERRORS,
    SERVE_DEPLOYMENT_LATENCY,
    SERVE_DEPLOYMENT_REQUESTS,
    SERVE_HTTP_ERRORS,
    SERVE_HTTP_LATENCY,
    SERVE_HTTP_REQUESTS,
)

WINDOW_S = 60.0
BASELINE_LOOKBACK_S = 30.0  # scrapes come every 10 s: a series alive at the window's start has one here
QUANTILES = (0.5, 0.95, 0.99)

Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), ascending, +Inf last


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> Optional[float]:
    """The q-quantile of observations counted in cumulative `buckets`, Prometheus-style: find the
    bucket whose cumulative count reaches q * total and interpolate linearly between its lower
    bound (the previous bound, 0 for the first) and its upper bound. In the +Inf bucket the answer
    is the last finite bound. None without observations."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, cum in buckets:
        if cum >= rank:
            if math.isinf(upper):
                return lower
            in_bucket = cum - below
            if in_bucket <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / in_bucket
        lower, below = upper, cum
    return lower


@dataclass
class Sample:
    ts: float
    value: float
    buckets: Optional[Buckets] = None


@dataclass
class Series:
    """One (family, tags, node) series' samples, oldest first."""

    name: str
    tags: dict[str, str]
    samples: list[Sample] = field(default_factory=list)


def _increase(values: list[float]) -> float:
    """Sum of the steps of a counter; a drop is a reset, counted from 0."""
    total = 0.0
    for prev, cur in zip(values, values[1:]):
        total += cur - prev if cur >= prev else cur
    return total


def _window_values(s: Series, start: float, end: float, pick: Callable[[Sample], float]) -> list[float]:
    """The series' values from its last sample at or before `start` (0 when it first appears inside
    the window) to its last sample at or before `end`."""
    before = [x for x in s.samples if x.ts <= start]
    inside = [x for x in s.samples if start < x.ts <= end]
    base = pick(before[-1]) if before else 0.0
    return [base] + [pick(x) for x in inside]


def counter_increase(series: Sequence[Series], start: float, end: float) -> float:
    return sum(_increase(_window_values(s, start, end, lambda x: x.value)) for s in series)


def bucket_increase(series: Sequence[Series], start: float, end: float) -> Buckets:
    """Per bound, the increase of its cumulative count over the window, summed over series."""
    out: dict[float, float] = {}
    for s in series:
        bounds = sorted({b for x in s.samples if x.buckets for b, _ in x.buckets})
        for bound in bounds:
            def at(x: Sample, b: float = bound) -> float:
                return next((c for ub, c in (x.buckets or []) if ub == b), 0.0)
            out[bound] = out.get(bound, 0.0) + _increase(_window_values(s, start, end, at))
    return sorted(out.items())


def latest_total(series: Sequence[Series]) -> float:
    return sum(s.samples[-1].value for s in series if s.samples)


def figures(requests: Sequence[Series], errors: Sequence[Series], latency: Sequence[Series],
            end: float, window_s: float = WINDOW_S) -> ServeRequestFigures:
    start = end - window_s
    buckets = bucket_increase(latency, start, end)
    p50, p95, p99 = (histogram_quantile(q, buckets) for q in QUANTILES)
    return ServeRequestFigures(
        requests_total=latest_total(requests), errors_total=latest_total(errors), window_s=window_s, window_end=end,
        request_rate=counter_increase(requests, start, end) / window_s,
        error_rate=counter_increase(errors, start, end) / window_s, p50_ms=p50, p95_ms=p95, p99_ms=p99)


# ------------------------------------------------------------------ reading the store
def _bound(b: object) -> float:
    return math.inf if b == "+Inf" else float(b)  # type: ignore[arg-type]


def load_series(conn: sqlite3.Connection, since: float) -> list[Series]:
    """Every Serve series with its samples since `since`, plus each series' latest sample (for
    totals, however old)."""
    by_key: dict[tuple[str, str, str], Series] = {}
    rows = conn.execute(
        "SELECT name, tags, node_id, ts, value, buckets FROM serve_metric_samples WHERE ts >= ? "
        "UNION SELECT name, tags, node_id, ts, value, buckets FROM serve_metric_latest ORDER BY 4", (since,))
    for name, tags, node_id, ts, value, buckets in rows:
        s = by_key.get((name, tags, node_id))
        if s is None:
            s = by_key[(name, tags, node_id)] = Series(name, json.loads(tags))
        parsed = [(_bound(b), float(c)) for b, c in json.loads(buckets)] if buckets else None
        if s.samples and s.samples[-1].ts == ts:
            continue
        s.samples.append(Sample(ts, float(value or 0.0), parsed))
    return list(by_key.values())


def _of(series: Sequence[Series], name: str, app: str, deployment: Optional[str] = None) -> list[Series]:
    """The series of family `name` for one application (and deployment). A series without an
    `application` tag is matched by its deployment alone."""
    out = []
    for s in series:
        if s.name != name:
            continue
        if s.tags.get("application", app) != app:
            continue
        if deployment is not None and s.tags.get("deployment") != deployment:
            continue
        out.append(s)
    return out


def deployment_figures(series: Sequence[Series], app: str, deployment: str, end: float) -> Optional[ServeRequestFigures]:
    """A deployment's replicas' figures. Ray's replica counts a request in its request counter only
    when it succeeded and in its error counter otherwise (ray/serve/_private/replica.py
    record_request_metrics; measured on 2.60: 20 requests, 3 failing -> 17 and 3), so its requests
    are the two summed."""
    ok = _of(series, SERVE_DEPLOYMENT_REQUESTS, app, deployment)
    errors = _of(series, SERVE_DEPLOYMENT_ERRORS, app, deployment)
    if not ok and not errors:
        return None
    return figures(ok + errors, errors, _of(series, SERVE_DEPLOYMENT_LATENCY, app, deployment), end)


def app_figures(series: Sequence[Series], app: str, end: float) -> Optional[ServeRequestFigures]:
    reqs = [s for s in series if s.name == SERVE_HTTP_REQUESTS and s.tags.get("application") == app]
    if not reqs:
        return None
    errs = [s for s in series if s.name == SERVE_HTTP_ERRORS and s.tags.get("application") == app]
    lat = [s for s in series if s.name == SERVE_HTTP_LATENCY and s.tags.get("application") == app]
    return figures(reqs, errs, lat, end)
