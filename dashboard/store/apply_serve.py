"""Storing Ray Serve's status documents (Batch field 27) and request figures' samples (field 28).

A document is the controller's present (runtime/serve_poller.py): each application's row keeps its
latest document (`serve_apps.doc`), and what changed since the previous one becomes rows of
`serve_events` (dashboard/store/serve_diff.py): that history is what Ray's own UI forgets. An
application missing from a document (deleted, or Serve shut down: `controller_gone`) keeps its
row with `present = 0`. Metric samples are stored like the application metrics' (tags as
canonical JSON), in their own tables, and read by dashboard/store/serve_figures.py.
"""
from __future__ import annotations

import json
import math
from typing import Iterable

from pydantic import ValidationError

from rayscope.dashboard.serve_models import ServeDoc, ServeDocApp, ServeEvent
from rayscope.dashboard.store.apply_app_metrics import canonical_tags
from rayscope.dashboard.store.context import ApplyContext, MalformedItem
from rayscope.dashboard.store.serve_diff import diff_apps
from rayscope.runtime.ray_metric_names import SERVE_COUNTERS, SERVE_HISTOGRAMS
from rayscope.wire import rayscope_ingest_pb2 as pb

UPSERT_APP = """
INSERT INTO serve_apps (name, status, message, route_prefix, ingress_deployment, source, last_deployed_time,
  present, first_seen, updated_at, removed_at, doc)
VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, NULL, ?)
ON CONFLICT (name) DO UPDATE SET status = excluded.status, message = excluded.message,
  route_prefix = excluded.route_prefix, ingress_deployment = excluded.ingress_deployment, source = excluded.source,
  last_deployed_time = excluded.last_deployed_time, present = 1, updated_at = excluded.updated_at,
  removed_at = NULL, doc = excluded.doc
"""
INSERT_EVENT = ("INSERT INTO serve_events (ts, app, deployment, replica_id, kind, status, previous, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_SAMPLE = "INSERT OR IGNORE INTO serve_metric_samples VALUES (?, ?, ?, ?, ?, ?)"
UPSERT_LATEST = """
INSERT INTO serve_metric_latest VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name, tags, node_id) DO UPDATE SET ts = excluded.ts, value = excluded.value, buckets = excluded.buckets
WHERE excluded.ts >= serve_metric_latest.ts
"""
SERVE_FAMILIES = frozenset(SERVE_COUNTERS) | frozenset(SERVE_HISTOGRAMS)


def _present_apps(ctx: ApplyContext) -> dict[str, ServeDocApp]:
    return {name: ServeDocApp.model_validate_json(doc)
            for name, doc in ctx.conn.execute("SELECT name, doc FROM serve_apps WHERE present = 1")}


def _latest_ts(ctx: ApplyContext) -> float:
    row = ctx.conn.execute("SELECT value FROM meta WHERE key = 'serve_doc_ts'").fetchone()
    return float(row[0]) if row else 0.0


def apply_serve_status(ctx: ApplyContext, docs: Iterable[pb.ServeStatusDoc]) -> None:
    for d in docs:
        if not math.isfinite(d.ts) or d.ts <= 0:
            ctx.drop("serve", MalformedItem("Serve document without a valid ts"))
            continue
        if d.ts < _latest_ts(ctx):
            continue  # older than what is stored (a resend after a newer one): history is in order
        try:
            doc = ServeDoc() if d.controller_gone else ServeDoc.model_validate_json(d.document)
        except ValidationError as e:
            ctx.drop("serve", MalformedItem(f"Serve document unreadable: {e.error_count()} error(s)"),
                     str(e).replace("\n", " ")[:200], len(d.document))
            continue
        _apply_doc(ctx, doc, d.ts, d.controller_gone)


def _apply_doc(ctx: ApplyContext, doc: ServeDoc, ts: float, gone: bool) -> None:
    prev = _present_apps(ctx)
    new = {a.name: a for a in doc.applications}
    events = diff_apps(prev, new, ts)
    ctx.conn.executemany(INSERT_EVENT, [_event_row(e) for e in events])
    for app in doc.applications:
        ctx.conn.execute(UPSERT_APP, (
            app.name, app.status, app.message, app.route_prefix, app.ingress_deployment, app.source,
            app.last_deployed_time_s, ts, ts, app.model_dump_json()))
    gone_apps = [name for name in prev if name not in new]
    ctx.conn.executemany("UPDATE serve_apps SET present = 0, removed_at = ?, updated_at = ? WHERE name = ?",
                         [(ts, ts, name) for name in gone_apps])
    ctx.conn.execute("INSERT INTO meta (key, value) VALUES ('serve_doc_ts', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (repr(ts),))
    ctx.conn.execute("INSERT INTO meta (key, value) VALUES ('serve_proxies', ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                     (json.dumps({} if gone else doc.proxies),))
    for name in sorted(set(new) | set(gone_apps)):  # the poller sends a document only when it changed
        ctx.delta("serve_apps", {"name": name, "ts": ts})


def _event_row(e: ServeEvent) -> tuple:
    return (e.ts, e.app, e.deployment, e.replica_id, e.kind, e.status, e.previous, e.message)


def _buckets_json(s: pb.AppMetricSeries) -> str:
    if len(s.bucket_bounds) != len(s.bucket_counts):
        raise MalformedItem("histogram with bounds and counts of different lengths")
    return json.dumps([["+Inf" if math.isinf(b) else b, c] for b, c in zip(s.bucket_bounds, s.bucket_counts)],
                      separators=(",", ":"))


def apply_serve_metrics(ctx: ApplyContext, scrapes: Iterable[pb.AppMetricScrape]) -> None:
    latest = 0.0
    for scrape in scrapes:
        if not math.isfinite(scrape.ts) or scrape.ts <= 0:
            ctx.drop("serve_metrics", MalformedItem("Serve metrics scrape without a valid ts"))
            continue
        for fam in scrape.families:
            if fam.name not in SERVE_FAMILIES:
                ctx.drop("serve_metrics", MalformedItem("not one of the Serve request families"), fam.name[:80])
                continue
            for s in fam.series:
                try:
                    if fam.name in SERVE_HISTOGRAMS:
                        value, buckets = s.count, _buckets_json(s)
                    else:
                        value, buckets = s.value, None
                    if not math.isfinite(value):
                        raise MalformedItem("Serve metric value not finite")
                except MalformedItem as err:
                    ctx.drop("serve_metrics", err, fam.name)
                    continue
                row = (fam.name, canonical_tags(dict(s.tags)), ctx.node_id, scrape.ts, value, buckets)
                ctx.conn.execute(INSERT_SAMPLE, row)
                ctx.conn.execute(UPSERT_LATEST, row)
        latest = max(latest, scrape.ts)
    if latest:
        ctx.delta("serve_metrics", {"node_id": ctx.node_id, "ts": latest})
