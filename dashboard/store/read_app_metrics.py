"""Application metrics for the API: the listing (latest values) and one metric over time.

Summing across nodes over time: each node's agent scrapes on its own clock (every 10 s), so a
point at time t adds, for every (tag set, node), its latest value at or before t, provided it is
at most STALE_S old (a node that stopped reporting stops counting, as in Prometheus). Points are
taken at `max_points` evenly spaced times over the samples' own range (the range is fitted to the
data first), but never closer than MIN_STEP_S.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest, NotFound

STALE_S = 60.0
MIN_STEP_S = 1.0

_LATEST = """SELECT name, tags, count(*) AS nodes, max(ts) AS ts, sum(value) AS value, sum(hist_sum) AS hsum,
  sum(hist_count) AS hcount FROM app_metric_latest GROUP BY name, tags ORDER BY name, tags"""


def list_app_metrics(conn: sqlite3.Connection) -> list[m.AppMetric]:
    """Every application metric ever stored, with each tag set's latest value summed over nodes."""
    values: dict[str, list[m.AppMetricValue]] = {}
    for r in conn.execute(_LATEST):
        values.setdefault(r["name"], []).append(m.AppMetricValue(
            tags=json.loads(r["tags"]), value=r["value"], count=r["hcount"], sum=r["hsum"], nodes=r["nodes"],
            ts=r["ts"]))
    out = []
    for r in conn.execute("SELECT name, type, description, first_seen, last_seen FROM app_metrics ORDER BY name"):
        series = values.get(r["name"], [])
        keys = sorted({k for v in series for k in v.tags})
        out.append(m.AppMetric(name=r["name"], type=r["type"], description=r["description"], tag_keys=keys,
                               series_count=len(series), first_seen=r["first_seen"], last_seen=r["last_seen"],
                               series=series))
    return out


@dataclass
class _Latest:
    ts: float
    value: Optional[float]
    hsum: Optional[float]
    hcount: Optional[float]


def _add(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return b if a is None else a if b is None else a + b


def app_metric_series(conn: sqlite3.Connection, name: str, since: float, until: float,
                      group_by: Optional[str], max_points: int) -> list[m.AppMetricGroup]:
    """`name` over [since, until], summed over nodes, one line per value of tag `group_by`
    (tag sets without that tag form the line whose group is None)."""
    if until < since:
        raise BadRequest("until must not be before since")
    if not 1 <= max_points <= 10_000:
        raise BadRequest("max_points must be between 1 and 10000")
    if conn.execute("SELECT 1 FROM app_metrics WHERE name = ?", (name,)).fetchone() is None:
        raise NotFound(f"no application metric {name}")
    first, last = conn.execute("SELECT min(ts), max(ts) FROM app_metric_samples WHERE name = ? AND ts >= ? "
                               "AND ts <= ?", (name, since, until)).fetchone()
    if first is None:
        return []
    n = max(1, min(max_points, math.ceil((last - first) / MIN_STEP_S)))
    times = [last] if last == first else [first + (last - first) * (i + 1) / n for i in range(n)]
    # rows from STALE_S before the range, so its first point counts values carried into it
    rows = conn.execute("SELECT tags, node_id, ts, value, hist_sum, hist_count FROM app_metric_samples "
                        "WHERE name = ? AND ts >= ? AND ts <= ? ORDER BY ts", (name, first - STALE_S, last))
    group_of: dict[str, Optional[str]] = {}
    latest: dict[tuple[str, str], _Latest] = {}
    lines: dict[Optional[str], list[m.AppMetricPoint]] = {}
    pending = next(rows, None)
    for t in times:
        while pending is not None and pending["ts"] <= t:
            tags = pending["tags"]
            if tags not in group_of:
                group_of[tags] = json.loads(tags).get(group_by) if group_by else None
            latest[(tags, pending["node_id"])] = _Latest(pending["ts"], pending["value"], pending["hist_sum"],
                                                         pending["hist_count"])
            pending = next(rows, None)
        sums: dict[Optional[str], m.AppMetricPoint] = {}
        for (tags, _node), v in latest.items():
            if t - v.ts > STALE_S:
                continue
            p = sums.setdefault(group_of[tags], m.AppMetricPoint(ts=t))
            p.value, p.sum, p.count = _add(p.value, v.value), _add(p.sum, v.hsum), _add(p.count, v.hcount)
        for group, point in sums.items():
            lines.setdefault(group, []).append(point)
    return [m.AppMetricGroup(group=g, points=pts)
            for g, pts in sorted(lines.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))]
