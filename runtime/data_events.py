"""Ray Data's export events, and Rayscope's own Data progress lines, decoded into wire messages.

Why a module apart from export_events.py: these four source types are Ray Data's alone (three
written by Ray, one by `runtime/data_progress.py`), with their own rules: a dataset's metadata
event re-sends the whole topology (the head keeps the latest), only its first event carries
`data_context` and the operators' `args`, which can be large (the DataContext has ~95 keys; args
hold reprs of the user's data), so only their keys are shipped. Standard library only: the agent
loads it.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Union

from rayscope.runtime.ray_enums import DATASET_ISSUE_TYPES, DATASET_STATES
from rayscope.wire.rayscope_ingest_pb2 import (
    DatasetEvent,
    DatasetIssue,
    DatasetOperator,
    DatasetOperatorSchema,
    DatasetProgress,
)

__all__ = ["DataEvent", "DECODERS", "PROGRESS_SOURCE", "SUMMARY_MAX", "LABEL"]

DataEvent = Union[DatasetEvent, DatasetOperatorSchema, DatasetIssue, DatasetProgress]

# The source type of Rayscope's own progress lines (runtime/data_progress.py writes them in Ray's
# export-event envelope, under <session>/logs/export_events/, so the agent's tailer reads them).
PROGRESS_SOURCE = "RAYSCOPE_DATA_PROGRESS"
# Ray's label on every Data task and actor: the operator's uuid (Operator.uuid).
LABEL = "__data_operator_id"
SUMMARY_MAX = 300
_MESSAGE_MAX = 4000
_SCHEMA_FIELDS_MAX = 500


class DataEventError(ValueError):
    """A malformed Data event; export_events turns it into its MalformedEvent."""


def _str(data: dict, key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise DataEventError(f"{key}: expected string, got {type(value).__name__}")
    return value


def _num(data: dict, key: str) -> float:
    value = data.get(key, 0)
    if isinstance(value, str):  # int64 prints as a string
        try:
            value = float(value)
        except ValueError:
            raise DataEventError(f"{key}: not a number: {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataEventError(f"{key}: expected a finite number, got {value!r:.40}")
    return float(value)


def _int(data: dict, key: str) -> int:
    return int(_num(data, key))


def _dict(data: dict, key: str) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise DataEventError(f"{key}: expected object, got {type(value).__name__}")
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise DataEventError(f"{key}: expected list, got {type(value).__name__}")
    return value


def _state(data: dict, key: str) -> str:
    state = _str(data, key, "UNKNOWN")  # UNKNOWN is 0: absent when printed as default
    if state not in DATASET_STATES:
        raise DataEventError(f"{key}: unknown state {state[:40]!r}")
    return state


def keys_summary(value: dict) -> str:
    """A dict's keys in one bounded line (`95 keys: a, b, c…`): what a first event's data_context or
    args hold, without their values (reprs of the user's data, possibly megabytes)."""
    text = ", ".join(sorted(str(k) for k in value))
    if len(value) > 3:
        text = f"{len(value)} keys: {text}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def _operator(raw: Any) -> DatasetOperator:
    if not isinstance(raw, dict):
        raise DataEventError("topology.operators: expected objects")
    op = DatasetOperator(operator_id=_str(raw, "id"), uuid=_str(raw, "uuid"), name=_str(raw, "name"),
                         state=_state(raw, "state"))
    if not op.operator_id:
        raise DataEventError("operator without id")
    op.input_dependencies.extend(str(d) for d in _list(raw, "input_dependencies"))
    op.sub_stages.extend(str(s.get("name", "")) if isinstance(s, dict) else str(s) for s in _list(raw, "sub_stages"))
    for key in ("execution_start_time", "execution_end_time"):
        t = _num(raw, key)
        if t:  # unset doubles print as 0.0
            setattr(op, key, t)
    args = _dict(raw, "args")
    if args:
        op.args_summary = keys_summary(args)
    return op


def dataset_metadata(data: dict, ts: float) -> DatasetEvent:
    """EXPORT_DATASET_METADATA: the whole topology with the dataset's and operators' states."""
    ev = DatasetEvent(dataset_id=_str(data, "dataset_id"), job_id=_str(data, "job_id").lower(),
                      state=_state(data, "state"), start_time=_num(data, "start_time"), event_time=ts)
    if not ev.dataset_id:
        raise DataEventError("missing dataset_id")
    for key in ("execution_start_time", "execution_end_time"):
        t = _num(data, key)
        if t:
            setattr(ev, key, t)
    ev.operators.extend(_operator(op) for op in _list(_dict(data, "topology"), "operators"))
    context = _dict(data, "data_context")
    if context:
        ev.context_summary = keys_summary(context)
    return ev


def operator_schema(data: dict, ts: float) -> DatasetOperatorSchema:
    """EXPORT_DATASET_OPERATOR_SCHEMA: an operator's output columns (keyed by its uuid)."""
    ev = DatasetOperatorSchema(operator_uuid=_str(data, "operator_uuid"), event_time=ts)
    if not ev.operator_uuid:
        raise DataEventError("missing operator_uuid")
    fields = _dict(data, "schema_fields")
    for name in list(fields)[:_SCHEMA_FIELDS_MAX]:
        ev.fields[str(name)] = str(fields[name])[:200]
    return ev


def operator_issue(data: dict, ts: float) -> DatasetIssue:
    """EXPORT_DATASET_OPERATOR_EVENT: an issue Ray Data's detectors raised (high memory, hanging)."""
    kind = _str(data, "event_type", "UNSPECIFIED")
    if kind not in DATASET_ISSUE_TYPES:
        raise DataEventError(f"event_type: unknown {kind[:40]!r}")
    ev = DatasetIssue(dataset_id=_str(data, "dataset_id"), operator_id=_str(data, "operator_id"),
                      operator_name=_str(data, "operator_name"), issue_type=kind,
                      message=_str(data, "message")[:_MESSAGE_MAX], event_time=_num(data, "event_time") or ts)
    if not ev.dataset_id:
        raise DataEventError("missing dataset_id")
    return ev


_PROGRESS_INTS = ("rows_output", "blocks_output", "bytes_output", "queued_blocks", "tasks_running",
                  "tasks_finished", "tasks_failed", "actors_alive", "actors_pending", "object_store_bytes")
_PROGRESS_OPTIONAL = (("estimated_rows", int), ("estimated_blocks", int), ("cpu_budget", float),
                      ("gpu_budget", float), ("object_store_budget", int), ("cluster_cpu_limit", float),
                      ("cluster_gpu_limit", float))


def progress(data: dict, ts: float) -> DatasetProgress:
    """A line of Rayscope's Data callback: one operator's figures, or the callback's failure."""
    ev = DatasetProgress(dataset_id=_str(data, "dataset_id"), operator_id=_str(data, "operator_id"),
                         operator_uuid=_str(data, "operator_uuid"), sample_time=_num(data, "sample_time") or ts)
    if not ev.dataset_id:
        raise DataEventError("missing dataset_id")
    error = _str(data, "error")
    if error:
        ev.error = error[:_MESSAGE_MAX]
        return ev
    if not ev.operator_id:
        raise DataEventError("missing operator_id")
    for key in _PROGRESS_INTS:
        setattr(ev, key, _int(data, key))
    ev.cpu, ev.gpu = _num(data, "cpu"), _num(data, "gpu")
    for key, typ in _PROGRESS_OPTIONAL:
        if data.get(key) is not None:
            setattr(ev, key, typ(_num(data, key)))
    ev.finished = bool(data.get("finished", False))
    return ev


DECODERS: dict[str, Callable[[dict, float], DataEvent]] = {
    "EXPORT_DATASET_METADATA": dataset_metadata,
    "EXPORT_DATASET_OPERATOR_SCHEMA": operator_schema,
    "EXPORT_DATASET_OPERATOR_EVENT": operator_issue,
    PROGRESS_SOURCE: progress,
}
