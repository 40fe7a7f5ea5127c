"""Storing application-metric scrapes (wire `AppMetricScrape`, agent/collectors/app_metrics.py).

Each series of each scrape becomes one `app_metric_samples` row (history, deleted by retention
with the node samples) and refreshes its `app_metric_latest` row (what the listing reads). Tags
are stored as canonical JSON (sorted keys, no spaces), so one tag set is one string everywhere.
"""
from __future__ import annotations

import json
import math
from typing import Iterable, Optional

from rayscope.dashboard.store.context import ApplyContext, MalformedItem
from rayscope.runtime.ray_metric_names import APP_METRIC_TYPES
from rayscope.wire import rayscope_ingest_pb2 as pb

UPSERT_METRIC = """
INSERT INTO app_metrics (name, type, description, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET type = excluded.type, description = excluded.description,
  last_seen = max(app_metrics.last_seen, excluded.last_seen)
WHERE excluded.last_seen >= app_metrics.last_seen
"""
INSERT_SAMPLE = "INSERT OR IGNORE INTO app_metric_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
UPSERT_LATEST = """
INSERT INTO app_metric_latest VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name, tags, node_id) DO UPDATE SET ts = excluded.ts, value = excluded.value,
  hist_sum = excluded.hist_sum, hist_count = excluded.hist_count, buckets = excluded.buckets
WHERE excluded.ts >= app_metric_latest.ts
"""


def canonical_tags(tags: dict[str, str]) -> str:
    """The one string form of a tag set (sorted keys, compact)."""
    return json.dumps(tags, sort_keys=True, separators=(",", ":"))


def _bound(le: float) -> float | str:
    return "+Inf" if math.isinf(le) else le


def _sample_values(kind: str, s: pb.AppMetricSeries) -> tuple[Optional[float], Optional[float], Optional[float],
                                                               Optional[str]]:
    """(value, sum, count, buckets JSON) of a series; a non-finite number is a malformed item."""
    if kind != "histogram":
        if not math.isfinite(s.value):
            raise MalformedItem("application metric value not finite")
        return s.value, None, None, None
    if len(s.bucket_bounds) != len(s.bucket_counts):
        raise MalformedItem("histogram with bounds and counts of different lengths")
    if not (math.isfinite(s.sum) and math.isfinite(s.count)):
        raise MalformedItem("histogram sum or count not finite")
    buckets = json.dumps([[_bound(b), c] for b, c in zip(s.bucket_bounds, s.bucket_counts)], separators=(",", ":"))
    return None, s.sum, s.count, buckets


def apply_app_metrics(ctx: ApplyContext, scrapes: Iterable[pb.AppMetricScrape]) -> None:
    latest_ts = 0.0
    for scrape in scrapes:
        if not math.isfinite(scrape.ts) or scrape.ts <= 0:
            ctx.drop("app_metrics", MalformedItem("application metrics scrape without a valid ts"),
                     f"{len(scrape.families)} families")
            continue
        for fam in scrape.families:
            if not fam.name or fam.type not in APP_METRIC_TYPES:
                ctx.drop("app_metrics", MalformedItem("application metric without a name or of an unknown type"),
                         f"{fam.name[:60]!r} type {fam.type[:20]!r}")
                continue
            ctx.conn.execute(UPSERT_METRIC, (fam.name, fam.type, fam.description, scrape.ts, scrape.ts))
            for s in fam.series:
                try:
                    value, hsum, hcount, buckets = _sample_values(fam.type, s)
                except MalformedItem as err:
                    ctx.drop("app_metrics", err, f"{fam.name} {dict(s.tags)}")
                    continue
                row = (fam.name, canonical_tags(dict(s.tags)), ctx.node_id, scrape.ts, value, hsum, hcount, buckets)
                ctx.conn.execute(INSERT_SAMPLE, row)
                ctx.conn.execute(UPSERT_LATEST, row)
        latest_ts = max(latest_ts, scrape.ts)
    if latest_ts:
        ctx.delta("app_metrics", {"node_id": ctx.node_id, "ts": latest_ts})
