"""Storing Ray Data's events (wire DatasetEvent, DatasetOperatorSchema, DatasetIssue,
DatasetProgress; tables in schema_data.py; Ray's own `ray_data_*` gauges: apply_data_metrics.py).
Deltas go out as kind `datasets`, one row per dataset touched, so a page showing it re-fetches it."""
from __future__ import annotations

import json
import math
from typing import Iterable

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.dashboard.store.schema_data import PROGRESS_COLUMNS
from rayscope.runtime.ray_enums import DATASET_ISSUE_TYPES, DATASET_STATES
from rayscope.wire import rayscope_ingest_pb2 as pb

# Ray stamps events in whole seconds, so PENDING, RUNNING and the end can share one; then the later
# state wins. UNKNOWN never moves a known state back.
_RANK = {"UNKNOWN": -1, "PENDING": 0, "RUNNING": 1, "FINISHED": 2, "FAILED": 2}

UPSERT_DATASET = """
INSERT INTO datasets (dataset_id, job_id, state, state_rank, start_time, execution_start_time,
  execution_end_time, context_summary, event_time)
VALUES (:dataset_id, :job_id, :state, :rank, :start_time, :exec_start, :exec_end, :context, :t)
ON CONFLICT (dataset_id) DO UPDATE SET
  job_id = excluded.job_id, state = excluded.state, state_rank = excluded.state_rank,
  start_time = excluded.start_time, execution_start_time = excluded.execution_start_time,
  execution_end_time = excluded.execution_end_time,
  context_summary = coalesce(excluded.context_summary, datasets.context_summary), event_time = excluded.event_time
WHERE (excluded.event_time, excluded.state_rank) >= (datasets.event_time, datasets.state_rank)
"""

UPSERT_OPERATOR = """
INSERT INTO dataset_operators (dataset_id, operator_id, position, uuid, name, state, input_dependencies,
  sub_stages, execution_start_time, execution_end_time, args_summary)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dataset_id, operator_id) DO UPDATE SET
  position = excluded.position, uuid = excluded.uuid, name = excluded.name, state = excluded.state,
  input_dependencies = excluded.input_dependencies, sub_stages = excluded.sub_stages,
  execution_start_time = excluded.execution_start_time, execution_end_time = excluded.execution_end_time,
  args_summary = coalesce(excluded.args_summary, dataset_operators.args_summary)
"""

UPSERT_SCHEMA = """
INSERT INTO dataset_schemas (operator_uuid, fields, event_time) VALUES (?, ?, ?)
ON CONFLICT (operator_uuid) DO UPDATE SET fields = excluded.fields, event_time = excluded.event_time
WHERE excluded.event_time >= dataset_schemas.event_time
"""

INSERT_ISSUE = "INSERT OR IGNORE INTO dataset_issues VALUES (?, ?, ?, ?, ?, ?)"

_COLS = ", ".join(PROGRESS_COLUMNS)
_MARKS = ", ".join("?" * len(PROGRESS_COLUMNS))
# the last parameter of both: the sample's source, 'callback' or 'metrics' (apply_data_metrics.py)
INSERT_SAMPLE = f"INSERT OR IGNORE INTO dataset_progress ({_COLS}, source) VALUES ({_MARKS}, ?)"
UPSERT_LATEST = f"""
INSERT INTO dataset_progress_latest ({_COLS}, first_sample_time, source) VALUES ({_MARKS}, ?, ?)
ON CONFLICT (dataset_id, operator_id) DO UPDATE SET
  {", ".join(f"{c} = excluded.{c}" for c in PROGRESS_COLUMNS[2:])}, source = excluded.source,
  first_sample_time = min(dataset_progress_latest.first_sample_time, excluded.first_sample_time)
WHERE excluded.sample_time >= dataset_progress_latest.sample_time
"""


def _opt(msg, name: str):
    return getattr(msg, name) if msg.HasField(name) else None


def _finite(t: float, what: str) -> float:
    if not math.isfinite(t):
        raise MalformedItem(f"{what} is not finite")
    return t


def _state(state: str) -> str:
    if state not in DATASET_STATES:
        raise MalformedItem(f"unknown dataset state {state[:40]!r}")
    return state


def apply_datasets(ctx: ApplyContext, items: Iterable[pb.DatasetEvent]) -> None:
    for ev in items:
        try:
            _apply_dataset(ctx, ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"datasets {ev.dataset_id[:80]!r}")


def _apply_dataset(ctx: ApplyContext, ev: pb.DatasetEvent) -> None:
    if not ev.dataset_id:
        raise MalformedItem("empty dataset_id")
    require_hex(ev.job_id, "job_id")
    state = _state(ev.state)
    for op in ev.operators:
        _state(op.state)
    cur = ctx.conn.execute(UPSERT_DATASET, {
        "dataset_id": ev.dataset_id, "job_id": ev.job_id, "state": state, "rank": _RANK[state],
        "start_time": _finite(ev.start_time, "start_time") or None, "exec_start": _opt(ev, "execution_start_time"),
        "exec_end": _opt(ev, "execution_end_time"), "context": _opt(ev, "context_summary"),
        "t": _finite(ev.event_time, "event_time")})
    if cur.rowcount == 0:
        return  # an older snapshot than the one stored: its operators are older too
    ctx.conn.executemany(UPSERT_OPERATOR, [
        (ev.dataset_id, op.operator_id, i, op.uuid, op.name, op.state, json.dumps(list(op.input_dependencies)),
         json.dumps(list(op.sub_stages)), _opt(op, "execution_start_time"), _opt(op, "execution_end_time"),
         _opt(op, "args_summary"))
        for i, op in enumerate(ev.operators)])
    ctx.delta("datasets", {"dataset_id": ev.dataset_id, "job_id": ev.job_id, "state": state})


def apply_dataset_schemas(ctx: ApplyContext, items: Iterable[pb.DatasetOperatorSchema]) -> None:
    for ev in items:
        if not ev.operator_uuid or not math.isfinite(ev.event_time):
            ctx.drop("events", MalformedItem("schema without operator uuid or time"), "dataset_schemas")
            continue
        ctx.conn.execute(UPSERT_SCHEMA, (ev.operator_uuid, json.dumps(dict(ev.fields), sort_keys=True),
                                         ev.event_time))
        for (dataset_id,) in ctx.conn.execute("SELECT dataset_id FROM dataset_operators WHERE uuid = ?",
                                              (ev.operator_uuid,)):
            ctx.delta("datasets", {"dataset_id": dataset_id})


def apply_dataset_issues(ctx: ApplyContext, items: Iterable[pb.DatasetIssue]) -> None:
    for ev in items:
        if not ev.dataset_id or ev.issue_type not in DATASET_ISSUE_TYPES or not math.isfinite(ev.event_time):
            ctx.drop("events", MalformedItem(f"dataset issue {ev.issue_type[:40]!r}"), ev.dataset_id[:80])
            continue
        ctx.conn.execute(INSERT_ISSUE, (ev.dataset_id, ev.operator_id, ev.operator_name, ev.issue_type,
                                        ev.message, ev.event_time))
        ctx.delta("datasets", {"dataset_id": ev.dataset_id})


def progress_row(ev: pb.DatasetProgress) -> tuple:
    if not ev.dataset_id:
        raise MalformedItem("empty dataset_id")
    if not math.isfinite(ev.sample_time) or not math.isfinite(ev.cpu) or not math.isfinite(ev.gpu):
        raise MalformedItem("a progress figure is not finite")
    values = {c: getattr(ev, c) for c in PROGRESS_COLUMNS if c not in ("finished", "error")}
    for c in ("estimated_rows", "estimated_blocks", "cpu_budget", "gpu_budget", "object_store_budget",
              "cluster_cpu_limit", "cluster_gpu_limit"):
        values[c] = _opt(ev, c)
    values["finished"] = int(ev.finished)
    values["error"] = _opt(ev, "error")
    if values["error"] is not None:
        values["operator_id"] = ""  # the callback's failure: one row per dataset
    return tuple(values[c] for c in PROGRESS_COLUMNS)


def apply_dataset_progress(ctx: ApplyContext, items: Iterable[pb.DatasetProgress]) -> None:
    touched: set[str] = set()
    for ev in items:
        try:
            row = progress_row(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"dataset_progress {ev.dataset_id[:80]!r}")
            continue
        if ev.dataset_id not in touched:  # the callback's samples win: Ray's metrics' ones go
            ctx.conn.execute("DELETE FROM dataset_progress WHERE dataset_id = ? AND source = 'metrics'",
                             (ev.dataset_id,))
            ctx.conn.execute("DELETE FROM dataset_progress_latest WHERE dataset_id = ? AND source = 'metrics'",
                             (ev.dataset_id,))
        ctx.conn.execute(INSERT_SAMPLE, (*row, "callback"))
        ctx.conn.execute(UPSERT_LATEST, (*row, ev.sample_time, "callback"))
        touched.add(ev.dataset_id)
    for dataset_id in sorted(touched):
        ctx.delta("datasets", {"dataset_id": dataset_id})
