"""Node metrics as distributions across nodes: per time step, quantiles and a histogram of nodes.

Why: one line per node is unreadable past ~100 nodes and costs the browser 1,000 series (Dask's
dashboard likewise replaces its per-worker charts with histograms past 50 workers). Here the head
sums the nodes up: in each step (a whole number of the rollup's 15 s slots, schema_rollup.py), each
node's samples are averaged into one value (a share of that node's own capacity, in percent), and
those per-node values are counted into 1-percentage-point bins in SQL. The bins give the histogram
of the step (BUCKETS buckets) and its quantiles; a bin's own min and max make the quantiles exact
where a bin holds one or two nodes, and never more than one point off otherwise.

Why a cache as well: an hour at 1,000 nodes is still 240,000 rollup rows, and a live page asks
every few seconds. A step's figures do not change once its samples are in, so steps that ended
FINAL_AFTER_S ago are kept (per step width) and only the newest steps are read again. A sample
that arrives later than that (an agent that was cut off ships its spool) invalidates the steps
from its time on: Store.commit calls `DistributionCache.saw_samples` once the batch is committed,
and a read that overlapped the commit does not store what it read.
"""
from __future__ import annotations

import math
import sqlite3
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Optional, Sequence, get_args

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest
from rayscope.dashboard.store.schema_rollup import ROLLUP_S

BUCKETS = 20  # histogram buckets of 5 percentage points
FINE = 100  # fine bins 0..FINE (1 point each); 100 % and above share the last
PER_BUCKET = FINE // BUCKETS
EDGES = [float(i * PER_BUCKET) for i in range(BUCKETS + 1)]
# Step widths the head picks from (seconds, whole rollup slots), so successive requests over a
# growing window share the cache. An hour in 240 steps is the rollup's own 15 s.
STEPS_S = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
MAX_STEPS = 2000
# A step this long over is complete: its samples have reached the head (ingest lag is ~1 s; a later
# one invalidates, so this only sets how often a lagging head re-reads).
FINAL_AFTER_S = 10.0
CELL_LIMIT = 1000

METRICS: tuple[str, ...] = get_args(m.DistributionMetric)
# Each metric's per-node average over a step, from the rollup's sums and counts.
_SUMS: dict[str, tuple[str, str]] = {"cpu": ("cpu", "n"), "mem": ("mem", "mem_n"), "gpu": ("gpu", "gpu_n"),
                                     "store": ("store", "store_n")}


def _avg(metric: str, grouped: bool) -> str:
    total, n = _SUMS[metric]
    return f"sum({total}) / nullif(sum({n}), 0)" if grouped else f"{total} / nullif({n}, 0)"


def _fine(v: str) -> str:
    return f"min({FINE}, max(0, CAST({v} AS INTEGER)))"


def _bucket(v: str) -> str:
    return f"min({BUCKETS - 1}, {_fine(v)} / {PER_BUCKET})"


def _per_node_sql(metrics: Sequence[str], per: int) -> str:
    """Each node's average per step of `per` slots, over slots [:lo, :hi)."""
    grouped = per > 1  # one slot a step: the rollup's rows are the steps already, in key order
    cols = ", ".join(f"{_avg(x, grouped)} AS {x}" for x in metrics)
    return (f"SELECT {'slot / :per' if grouped else 'slot'} AS k, node_id, {cols} FROM node_rollup "
            f"WHERE slot >= :lo AND slot < :hi{' GROUP BY k, node_id' if grouped else ''}")


def _bins_sql(metrics: Sequence[str], per: int) -> str:
    """Per (metric, step, fine bin): how many nodes, and their lowest and highest value."""
    parts = [f"SELECT '{x}' AS metric, k, {_fine(x)} AS f, count(*) AS n, min({x}) AS lo, max({x}) AS hi "
             f"FROM per_node WHERE {x} IS NOT NULL GROUP BY k, f" for x in metrics]
    return f"WITH per_node AS MATERIALIZED ({_per_node_sql(metrics, per)}) " + " UNION ALL ".join(parts)


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
    """Complete steps per (step width, metric), bounded; see the module's docstring.

    Cheap on the ingest side, which calls saw_samples for every committed batch (at 1,000 nodes,
    hundreds a second, each of them late while the head lags): it only notes how far back the
    samples reached; readers drop the steps concerned on their next get or put. A read keeps
    what it read of the steps before the oldest late sample committed since it began."""

    def __init__(self, max_widths: int = 8, max_steps: int = 10_000, max_log: int = 4096) -> None:
        self._lock = threading.Lock()
        self._generation = 0  # late commits so far
        self._late: deque[tuple[int, float]] = deque(maxlen=max_log)  # (generation, oldest sample ts)
        self._stale_from = math.inf  # cached steps from here on are to be dropped
        self._max_widths = max_widths
        self._max_steps = max_steps
        self._by_width: OrderedDict[float, dict[str, _Entries]] = OrderedDict()

    @property
    def generation(self) -> int:
        return self._generation

    def _drop_stale(self) -> None:
        """Under the lock: forget the cached steps that late samples reached."""
        if self._stale_from == math.inf:
            return
        for step, per in self._by_width.items():
            first = math.floor(self._stale_from / step)
            for held in per.values():
                for k in [k for k in held if k >= first]:
                    del held[k]
        self._stale_from = math.inf

    def get(self, step: float, metric: str) -> _Entries:
        with self._lock:
            self._drop_stale()
            per = self._by_width.get(step)
            if per is None:
                return {}
            self._by_width.move_to_end(step)
            return dict(per.get(metric, {}))

    def put(self, step: float, metric: str, entries: _Entries, generation: int) -> None:
        """Keep `entries`, read by a read that began at `generation`, but for the steps that a late
        sample committed since then reached (the read may predate it)."""
        with self._lock:
            self._drop_stale()
            if self._generation != generation:
                if self._generation - generation > len(self._late):
                    return  # more late commits than remembered: keep nothing
                since = min(ts for g, ts in self._late if g > generation)
                first = math.floor(since / step)
                entries = {k: v for k, v in entries.items() if k < first}
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
        """Samples from `oldest_ts` on were just committed: steps that old may be cached."""
        if oldest_ts >= now - FINAL_AFTER_S:
            return
        with self._lock:
            self._generation += 1
            self._late.append((self._generation, oldest_ts))
            self._stale_from = min(self._stale_from, oldest_ts)


def _check_metrics(metrics: Sequence[str]) -> list[str]:
    bad = [x for x in metrics if x not in METRICS]
    if bad:
        raise BadRequest(f"unknown metric {bad[0]!r}; valid metrics: {', '.join(METRICS)}")
    return list(dict.fromkeys(metrics)) or list(METRICS)


def _slots(conn: sqlite3.Connection, since: float, until: float) -> tuple[int, int] | None:
    """The first and last rollup slot with samples in [since, until] (each alone: off the key)."""
    lo, hi = math.floor(since / ROLLUP_S), math.floor(until / ROLLUP_S)
    first = conn.execute("SELECT min(slot) FROM node_rollup WHERE slot >= ? AND slot <= ?", (lo, hi)).fetchone()[0]
    last = conn.execute("SELECT max(slot) FROM node_rollup WHERE slot >= ? AND slot <= ?", (lo, hi)).fetchone()[0]
    return None if first is None else (first, last)


def _check_step(step: float) -> int:
    """Slots per step; a step is a whole number of rollup slots."""
    per = step / ROLLUP_S
    if not ROLLUP_S <= step <= STEPS_S[-1] or per != int(per):
        raise BadRequest(f"step must be a multiple of {ROLLUP_S} s (the head's rollup) between {ROLLUP_S} and "
                         f"{STEPS_S[-1]} seconds")
    return int(per)


def pick_step(span: float, max_points: int) -> float:
    """The smallest of STEPS_S that fits `span` seconds into `max_points` steps (one more where the
    span does not start on a step: an hour is 241 steps of 15 s, not 121 of 30)."""
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
    if step is not None:
        _check_step(step)
    slots = _slots(conn, since, until)
    if slots is None:
        return m.NodeDistributions(since=since, until=until, step=step or STEPS_S[0], bucket_edges=EDGES,
                                   metrics=[m.NodeDistribution(metric=x, steps=[]) for x in wanted])  # type: ignore[arg-type]
    width = step or pick_step((slots[1] - slots[0]) * ROLLUP_S, max_points)
    per = _check_step(width)
    k0, k1 = slots[0] // per, slots[1] // per
    if k1 - k0 + 1 > MAX_STEPS:
        raise BadRequest(f"{k1 - k0 + 1} steps of {width:g} s; at most {MAX_STEPS}: use a larger step")
    # Steps that are over by FINAL_AFTER_S are complete (all of them, for a finished cluster).
    final_below = math.floor((now - FINAL_AFTER_S) / width) if live else k1 + 1
    generation = cache.generation if cache else 0
    out: dict[str, _Entries] = {}
    for x in wanted:
        held = cache.get(width, x) if cache else {}
        out[x] = {k: v for k, v in held.items() if k0 <= k <= k1}
    missing = [k for k in range(k0, k1 + 1) if any(k not in out[x] for x in wanted)]
    if missing:
        lo_k = missing[0]
        bins: dict[tuple[str, int], list[_Bin]] = {}
        for r in conn.execute(_bins_sql(wanted, per), {"per": per, "lo": lo_k * per, "hi": (k1 + 1) * per}):
            bins.setdefault((r[0], r[1]), []).append(_Bin(r[2], r[3], r[4], r[5]))
        for x in wanted:
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
  (SELECT node_id, {avg} AS v FROM node_rollup WHERE slot >= :lo AND slot < :hi GROUP BY node_id) p
  LEFT JOIN nodes n USING (node_id)
WHERE p.v IS NOT NULL AND {bucket} = :bucket ORDER BY p.v DESC, p.node_id LIMIT :limit"""


def distribution_cell(conn: sqlite3.Connection, metric: str, ts: float, step: float, bucket: int,
                      limit: int) -> m.DistributionCell:
    """The nodes whose average of `metric` over the step [ts, ts + step) falls in `bucket`, highest
    first: the same averaging and bucketing as node_distributions, so a cell lists what it counted."""
    _check_metrics([metric])
    per = _check_step(step)
    k = ts / step
    if k != int(k):
        raise BadRequest(f"ts must be a step's start (a multiple of step, {step:g} s)")
    if not 0 <= bucket < BUCKETS:
        raise BadRequest(f"bucket must be between 0 and {BUCKETS - 1}")
    if not 1 <= limit <= CELL_LIMIT:
        raise BadRequest(f"limit must be between 1 and {CELL_LIMIT}")
    sql = _CELL_SQL.format(avg=_avg(metric, grouped=True), bucket=_bucket("p.v"))
    lo = int(k) * per
    rows = conn.execute(sql, {"lo": lo, "hi": lo + per, "bucket": bucket, "limit": limit}).fetchall()
    return m.DistributionCell(
        metric=metric, ts=ts, step=step, bucket=bucket, low=EDGES[bucket], high=EDGES[bucket + 1],  # type: ignore[arg-type]
        total=rows[0]["total"] if rows else 0,
        nodes=[m.NodeInCell(node_id=r["node_id"], node_ip=r["node_ip"], state=r["state"], value=r["v"]) for r in rows])
