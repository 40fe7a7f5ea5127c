"""Ray Data's own per-operator gauges (Batch field 29) turned into progress samples: the fallback
for a dataset run without Rayscope's opt-in callback (RAY_DATA_EXECUTION_CALLBACKS).

Ray's _StatsActor sets the `ray_data_*` gauges every 5 s and its node's metrics agent exports them
about every 10 s, so these samples are ~10 s apart (the callback's ~1 s). Each scrape becomes one
sample per (dataset, operator) with source 'metrics', stored in the callback's tables
(schema_data.py) so that the reads, throughput and the bottleneck hint are the same code. Never
both for one dataset: a dataset with a callback sample (operator_id != '') takes no metrics
sample, and the callback's first sample deletes the metrics ones (apply_data.py). What the gauges
do not give stays None: the executor's budgets and the cluster's CPU/GPU limits (so the hint's
"resources saturated" rule needs the callback).
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

from rayscope.dashboard.store.apply_data import INSERT_SAMPLE, UPSERT_LATEST
from rayscope.dashboard.store.context import ApplyContext, MalformedItem
from rayscope.dashboard.store.schema_data import PROGRESS_COLUMNS
from rayscope.runtime.ray_metric_names import (
    DATA_DATASET_LABEL,
    DATA_OPERATOR_FAMILIES,
    DATA_OPERATOR_LABEL,
    DATA_STATE_NAMES,
)
from rayscope.wire import rayscope_ingest_pb2 as pb

SOURCE = "metrics"
_FLOATS = ("cpu", "gpu")
_ESTIMATES = ("estimated_rows", "estimated_blocks")  # Ray sets 0 until it has an estimate

OperatorKey = tuple[str, str]


def operator_figures(scrape: pb.AppMetricScrape) -> dict[OperatorKey, dict[str, float]]:
    """{(dataset id, operator id): {progress column or 'state': value}} of one scrape; families
    that are not Ray Data's operator gauges and series without both labels are skipped."""
    out: dict[OperatorKey, dict[str, float]] = {}
    for fam in scrape.families:
        column = DATA_OPERATOR_FAMILIES.get(fam.name)
        if column is None:
            continue
        for s in fam.series:
            ds, op = s.tags.get(DATA_DATASET_LABEL), s.tags.get(DATA_OPERATOR_LABEL)
            if ds and op:
                fig = out.setdefault((ds, op), {})
                fig[column] = fig.get(column, 0.0) + s.value  # several nodes: summed
    return out


def _int(v: Optional[float]) -> Optional[int]:
    return None if v is None else int(round(v))


def progress_row(dataset_id: str, operator_id: str, uuid: str, ts: float, fig: dict[str, float]) -> tuple:
    """A dataset_progress row (PROGRESS_COLUMNS order) from one operator's gauges."""
    if not all(math.isfinite(v) for v in fig.values()):
        raise MalformedItem("a Ray Data gauge is not finite")
    state = DATA_STATE_NAMES.get(int(fig.get("state", 0)), "UNKNOWN")
    values: dict[str, object] = {c: None for c in PROGRESS_COLUMNS}
    for c in PROGRESS_COLUMNS:
        if c in fig:
            values[c] = fig[c] if c in _FLOATS else _int(fig[c])
    for c in _ESTIMATES:
        if not values[c]:
            values[c] = None
    values.update(dataset_id=dataset_id, operator_id=operator_id, operator_uuid=uuid, sample_time=ts,
                  finished=int(state in ("FINISHED", "FAILED")), error=None)
    return tuple(values[c] for c in PROGRESS_COLUMNS)


def _has_callback(ctx: ApplyContext, dataset_id: str) -> bool:
    return ctx.conn.execute(
        "SELECT 1 FROM dataset_progress_latest WHERE dataset_id = ? AND operator_id != '' "
        "AND coalesce(source, 'callback') = 'callback' LIMIT 1", (dataset_id,)).fetchone() is not None


def _uuid(ctx: ApplyContext, dataset_id: str, operator_id: str) -> str:
    r = ctx.conn.execute("SELECT uuid FROM dataset_operators WHERE dataset_id = ? AND operator_id = ?",
                         (dataset_id, operator_id)).fetchone()
    return r[0] if r else ""


def apply_data_metrics(ctx: ApplyContext, scrapes: Iterable[pb.AppMetricScrape]) -> None:
    touched: set[str] = set()
    callback: dict[str, bool] = {}
    for scrape in scrapes:
        if not math.isfinite(scrape.ts) or scrape.ts <= 0:
            ctx.drop("data_metrics", MalformedItem("Ray Data metrics scrape without a valid ts"))
            continue
        for (dataset_id, operator_id), fig in sorted(operator_figures(scrape).items()):
            if dataset_id not in callback:
                callback[dataset_id] = _has_callback(ctx, dataset_id)
            if callback[dataset_id]:
                continue  # the callback's samples win
            try:
                row = progress_row(dataset_id, operator_id, _uuid(ctx, dataset_id, operator_id), scrape.ts, fig)
            except MalformedItem as err:
                ctx.drop("data_metrics", err, f"{dataset_id[:80]} {operator_id[:80]}")
                continue
            ctx.conn.execute(INSERT_SAMPLE, (*row, SOURCE))
            ctx.conn.execute(UPSERT_LATEST, (*row, scrape.ts, SOURCE))
            touched.add(dataset_id)
    for dataset_id in sorted(touched):
        ctx.delta("datasets", {"dataset_id": dataset_id})
