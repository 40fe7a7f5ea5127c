"""Node metrics as distributions across nodes: per time step, quantiles and a histogram of nodes.

Why: one line per node is unreadable past ~100 nodes and costs the browser 1,000 series (Dask's
dashboard likewise replaces its per-worker charts with histograms past 50 workers). Here the head
sums the nodes up: in each step of `step` seconds, each node's samples are averaged into one value
(a share of that node's own capacity, in percent), and those per-node values are counted into
1-percentage-point bins in SQL. The bins give the histogram of the step (BUCKETS buckets) and its
quantiles; a bin's own min and max make the quantiles exact where a bin holds one or two nodes,
and never more than one point off otherwise.

Why a cache: at 1,000 nodes sampling every second, an hour is 3.6 M rows, several seconds of
SQLite; a live page asks every few seconds. A step's figures cannot change once its samples are
all in, so steps that ended FINAL_AFTER_S ago are kept (per step width) and only the newest steps
are read again. A sample that arrives later than that (an agent that was cut off and ships its
spool) invalidates the steps from its time on: Store.commit calls `DistributionCache.saw_samples`
once the batch is committed, and a read that overlapped the commit does not store what it read.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Sequence, get_args

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest

BUCKETS = 20  # histogram buckets of 5 percentage points
FINE = 100  # fine bins 0..FINE (1 point each); 100 % and above share the last
PER_BUCKET = FINE // BUCKETS
EDGES = [float(i * PER_BUCKET) for i in range(BUCKETS + 1)]
# Step widths the head picks from (seconds), so successive requests over a growing window share the
# cache. The smallest is above the agent's 1 s sampling: every node has a sample in every step (a
# 1 s step would miss a node whose two samples straddle it, and the counts would not add up).
STEPS_S = (2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
MAX_STEPS = 2000
FINAL_AFTER_S = 30.0  # a step this long over is complete: its samples have reached the head
CELL_LIMIT = 1000

METRICS: tuple[str, ...] = get_args(m.DistributionMetric)
# Each metric as a percent of the node's own capacity, from its table.
_EXPR: dict[str, tuple[str, str]] = {
    "cpu": ("node_samples", "cpu_percent"),
    "mem": ("node_samples", "100.0 * mem_used / NULLIF(mem_total, 0)"),
    "gpu": ("node_samples", "100.0 * gpu_utilization_ratio"),  # NULL on a node without GPUs
    "store": ("object_store_samples", "100.0 * used_bytes / NULLIF(capacity_bytes, 0)"),
}


def _fine(v: str) -> str:
    return f"min({FINE}, max(0, CAST({v} AS INTEGER)))"


def _bucket(v: str) -> str:
    return f"min({BUCKETS - 1}, {_fine(v)} / {PER_BUCKET})"


def _bins_sql(table: str, metrics: Sequence[str]) -> str:
    """Per (metric, step, fine bin): how many nodes, and their lowest and highest value."""
    cols = ", ".join(f"avg({_EXPR[x][1]}) AS {x}" for x in metrics)
    per_node = (f"SELECT CAST(ts / :step AS INTEGER) AS k, node_id, {cols} FROM {table} "
                "WHERE ts >= :since AND ts < :until GROUP BY k, node_id")
    parts = [f"SELECT '{x}' AS metric, k, {_fine(x)} AS f, count(*) AS n, min({x}) AS lo, max({x}) AS hi "
             f"FROM per_node WHERE {x} IS NOT NULL GROUP BY k, f" for x in metrics]
    return f"WITH per_node AS MATERIALIZED ({per_node}) " + " UNION ALL ".join(parts)


@dataclass(frozen=True)
class _Bin:
    f: int
    n: int
    lo: float
    hi: float


def _quantile(bins: list[_Bin], total: int, q: float) -> float:
    """The nearest-rank q-quantile, placed within its bin between the bin's min and max."""
    idx = min(total - 1, max(0, math.ceil(q * total) - 1))
    before = 0
    for b in bins:
        if idx < before + b.n:
            return b.lo if b.n == 1 else b.lo + (b.hi - b.lo) * (idx - before) / (b.n - 1)
        before += b.n
    return bins[-1].hi


def summarize(ts: float, bins: list[_Bin]) -> m.DistributionStep:
    bins = sorted(bins, key=lambda b: b.f)
    total = sum(b.n for b in bins)
    counts = [0] * BUCKETS
    for b in bins:
        counts[min(BUCKETS - 1, b.f // PER_BUCKET)] += b.n
    return m.DistributionStep(ts=ts, nodes=total, min=bins[0].lo, p50=_quantile(bins, total, 0.5),
                              p90=_quantile(bins, total, 0.9), max=bins[-1].hi, counts=counts)


_Entries = dict[int, Optional[m.DistributionStep]]  # step index -> its figures (None: no samples)


class DistributionCache:
    """Complete steps per (step width, metric), bounded; see the module's docstring."""

    def __init__(self, max_widths: int = 8, max_steps: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._max_widths = max_widths
        self._max_steps = max_steps
        self._by_width: OrderedDict[float, dict[str, _Entries]] = OrderedDict()

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, step: float, metric: str) -> _Entries:
        with self._lock:
            per = self._by_width.get(step)
            if per is None:
                return {}
            self._by_width.move_to_end(step)
            return dict(per.get(metric, {}))

    def put(self, step: float, metric: str, entries: _Entries, generation: int) -> None:
        """Keep `entries` unless samples were invalidated since `generation` was read (the read
        may predate them)."""
        with self._lock:
            if generation != self._generation:
                return
            per = self._by_width.setdefault(step, {})
            self._by_width.move_to_end(step)
            while len(self._by_width) > self._max_widths:
                self._by_width.popitem(last=False)
            held = per.setdefault(metric, {})
            held.update(entries)
            if len(held) > self._max_steps:
                for k in sorted(held)[: len(held) - self._max_steps]:
                    del held[k]

    def saw_samples(self, oldest_ts: float, now: float) -> None:
        """Samples from `oldest_ts` on were just committed: if steps that old may be cached, drop them."""
        if oldest_ts >= now - FINAL_AFTER_S:
            return
        with self._lock:
            self._generation += 1
            for step, per in self._by_width.items():
                first = math.floor(oldest_ts / step)
                for held in per.values():
                    for k in [k for k in held if k >= first]:
                        del held[k]


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    bad = [x for x in metrics if x not in METRICS]
    if bad:
        raise BadRequest(f"unknown metric {bad[0]!r}; valid metrics: {', '.join(METRICS)}")
    return list(dict.fromkeys(metrics)) or list(METRICS)


def _extent(conn: sqlite3.Connection, tables: set[str], since: float, until: float) -> tuple[float, float] | None:
    lo, hi = math.inf, -math.inf
    for t in sorted(tables):  # each min/max alone, so SQLite reads it off the ts index
        first = conn.execute(f"SELECT min(ts) FROM {t} WHERE ts >= ? AND ts <= ?", (since, until)).fetchone()[0]
        last = conn.execute(f"SELECT max(ts) FROM {t} WHERE ts >= ? AND ts <= ?", (since, until)).fetchone()[0]
        if first is not None:
            lo, hi = min(lo, first), max(hi, last)
    return None if lo == math.inf else (lo, hi)


def pick_step(span: float, max_points: int) -> float:
    """The smallest of STEPS_S that fits `span` seconds into `max_points` steps."""
    want = span / max_points
    return float(next((s for s in STEPS_S if s >= want), STEPS_S[-1]))


def node_distributions(conn: sqlite3.Connection, cache: Optional[DistributionCache], metrics: Sequence[str],
                       since: float, until: float, step: Optional[float], max_points: int, now: float,
                       live: bool) -> m.NodeDistributions:
    """Each metric over [since, until] fitted to the samples there, in steps of `step` seconds (by
    default the smallest of STEPS_S that fits the range into `max_points` steps)."""
    wanted = _check_metrics(metrics)
    if until < since:
        raise BadRequest("until must not be before since")
    if not 1 <= max_points <= MAX_STEPS:
        raise BadRequest(f"max_points must be between 1 and {MAX_STEPS}")
    if step is not None and not 1 <= step <= STEPS_S[-1]:
        raise BadRequest(f"step must be between 1 and {STEPS_S[-1]} seconds")
    ext = _extent(conn, {_EXPR[x][0] for x in wanted}, since, until)
    if ext is None:
        return m.NodeDistributions(since=since, until=until, step=step or STEPS_S[0], bucket_edges=EDGES,
                                   metrics=[m.NodeDistribution(metric=x, steps=[]) for x in wanted])  # type: ignore[arg-type]
    first, last = ext
    width = step or pick_step(last - first, max_points)
    k0, k1 = math.floor(first / width), math.floor(last / width)
    if k1 - k0 + 1 > MAX_STEPS:
        raise BadRequest(f"{k1 - k0 + 1} steps of {width:g} s; at most {MAX_STEPS}: use a larger step")
    # Steps that are over by FINAL_AFTER_S are complete (all of them, for a finished cluster).
    final_below = math.floor((now - FINAL_AFTER_S) / width) if live else k1 + 1
    generation = cache.generation if cache else 0
    held = {x: cache.get(width, x) if cache else {} for x in wanted}
    out: dict[str, _Entries] = {x: {} for x in wanted}
    for x in wanted:
        out[x] = {k: v for k, v in held[x].items() if k0 <= k <= k1}
    by_table: dict[str, list[str]] = {}
    for x in wanted:
        by_table.setdefault(_EXPR[x][0], []).append(x)
    for table, names in by_table.items():
        missing = [k for k in range(k0, k1 + 1) if any(k not in out[x] for x in names)]
        if not missing:
            continue
        lo_k = missing[0]
        bins: dict[tuple[str, int], list[_Bin]] = {}
        args = {"step": width, "since": lo_k * width, "until": (k1 + 1) * width}
        for r in conn.execute(_bins_sql(table, names), args):
            bins.setdefault((r[0], r[1]), []).append(_Bin(r[2], r[3], r[4], r[5]))
        for x in names:
            fresh: _Entries = {k: (summarize(k * width, b) if (b := bins.get((x, k))) else None)
                               for k in range(lo_k, k1 + 1)}
            out[x].update(fresh)
            if cache:
                cache.put(width, x, {k: v for k, v in fresh.items() if k < final_below}, generation)
    return m.NodeDistributions(
        since=k0 * width, until=(k1 + 1) * width, step=width, bucket_edges=EDGES,
        partial_from=final_below * width if final_below <= k1 else None,
        metrics=[m.NodeDistribution(metric=x, steps=[v for _, v in sorted(out[x].items()) if v is not None])  # type: ignore[arg-type]
                 for x in wanted])


_CELL_SQL = """SELECT p.node_id, p.v, n.node_ip, n.state, count(*) OVER () AS total FROM
  (SELECT node_id, avg({expr}) AS v FROM {table} WHERE ts >= :since AND ts < :until GROUP BY node_id) p
  LEFT JOIN nodes n USING (node_id)
WHERE p.v IS NOT NULL AND {bucket} = :bucket ORDER BY p.v DESC, p.node_id LIMIT :limit"""


def distribution_cell(conn: sqlite3.Connection, metric: str, ts: float, step: float, bucket: int,
                      limit: int) -> m.DistributionCell:
    """The nodes whose average of `metric` over [ts, ts + step) falls in `bucket`, highest first:
    the same averaging and bucketing as node_distributions, so a cell lists what it counted."""
    _check_metrics([metric])
    if not 1 <= step <= STEPS_S[-1]:
        raise BadRequest(f"step must be between 1 and {STEPS_S[-1]} seconds")
    if not 0 <= bucket < BUCKETS:
        raise BadRequest(f"bucket must be between 0 and {BUCKETS - 1}")
    if not 1 <= limit <= CELL_LIMIT:
        raise BadRequest(f"limit must be between 1 and {CELL_LIMIT}")
    table, expr = _EXPR[metric]
    sql = _CELL_SQL.format(expr=expr, table=table, bucket=_bucket("p.v"))
    rows = conn.execute(sql, {"since": ts, "until": ts + step, "bucket": bucket, "limit": limit}).fetchall()
    return m.DistributionCell(
        metric=metric, ts=ts, step=step, bucket=bucket, low=EDGES[bucket], high=EDGES[bucket + 1],  # type: ignore[arg-type]
        total=rows[0]["total"] if rows else 0,
        nodes=[m.NodeInCell(node_id=r["node_id"], node_ip=r["node_ip"], state=r["state"], value=r["v"]) for r in rows])
