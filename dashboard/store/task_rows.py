"""TaskEvent deltas -> rows of the tasks table's merge UPSERT, merged per task attempt in Python first.

Pure (no database). The merge rules are the UPSERT's (see apply_tasks.py), applied to
the deltas of one transaction in arrival order, so N deltas of a task attempt become one row that
leaves the table exactly as the N UPSERTs would:
- newer-wins columns (ids, names, errors, log offsets): the later present value;
- creation_time: the earliest; start_time, end_time and the ts_* columns: the first value seen;
- the state moves only forward in rank (terminal > running > submitted > pending), a tie going to
  the later delta when its state's time is not older; job_id: the first non-empty one.
Strings: "" means absent. Integers (pid, log offsets) are present even when 0.
"""
from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Optional

from rayscope.dashboard.store.context import ApplyContext, MalformedItem
from rayscope.dashboard.store.schema import RANK_NIL, TS_COLUMNS, task_state_rank
from rayscope.runtime.ray_enums import TASK_STATUS_NAMES
from rayscope.wire import rayscope_ingest_pb2 as pb

N_STATUS = len(TASK_STATUS_NAMES)
_RANKS = tuple(task_state_rank(i) for i in range(N_STATUS))
_RUNNING = TASK_STATUS_NAMES.index("RUNNING")
_FINISHED = TASK_STATUS_NAMES.index("FINISHED")
_FAILED = TASK_STATUS_NAMES.index("FAILED")

FIELDS_NEWER_WINS = (
    "name", "type", "language", "parent_task_id", "actor_id", "placement_group_id", "node_id",
    "worker_id", "worker_pid", "required_resources", "error_type", "error_message",
    "is_debugger_paused", "stdout_base", "stdout_start", "stdout_end", "stderr_base",
    "stderr_start", "stderr_end", "data_operator_id",
)
FIELDS_FIRST_WINS = ("start_time", "end_time") + TS_COLUMNS
COLUMNS = (
    ("task_id", "attempt", "job_id", "state", "state_rank", "state_ts")
    + FIELDS_NEWER_WINS
    + ("creation_time", "start_time", "end_time")
    + TS_COLUMNS
)
I_STATE_TS = COLUMNS.index("state_ts")
_COL = {c: i for i, c in enumerate(COLUMNS)}

# Field reads by attribute, not ListFields: upb builds a (descriptor, value) tuple per present field,
# which cost about three times the whole row.
_STRINGS = tuple((c, _COL[c]) for c in ("name", "type", "language", "parent_task_id", "actor_id",
                                         "placement_group_id", "node_id", "worker_id", "error_type",
                                         "error_message", "data_operator_id"))
_STRING_COLS = tuple(col for _, col in _STRINGS)
_read_strings = operator.attrgetter(*(attr for attr, _ in _STRINGS))  # one C call for all eleven
_FILES = (("stdout_file", _COL["stdout_base"]), ("stderr_file", _COL["stderr_base"]))
_INTS = tuple((c, _COL[c]) for c in ("worker_pid", "stdout_start", "stdout_end", "stderr_start", "stderr_end"))
_I_CREATION, _I_START, _I_END = _COL["creation_time"], _COL["start_time"], _COL["end_time"]
_I_REQ, _I_PAUSED = _COL["required_resources"], _COL["is_debugger_paused"]
_I_TS0 = _COL[TS_COLUMNS[0]] - 1  # column of status s: _I_TS0 + s

_NEWER, _FIRST, _MIN = 0, 1, 2
_RULE = {i: _NEWER for i in range(I_STATE_TS + 1, len(COLUMNS))}
_RULE.update({_COL[c]: _FIRST for c in FIELDS_FIRST_WINS})
_RULE[_I_CREATION] = _MIN

_HEX = re.compile(r"[0-9a-f]+").fullmatch
_RES_JSON: dict[tuple, str] = {}  # required_resources repeat across tasks: format each set once

Row = tuple[tuple[int, ...], tuple]  # (shape, parameters): see apply_tasks.upsert_sql


def _resources_json(req) -> str:
    key = tuple(sorted((k, req[k]) for k in req))
    out = _RES_JSON.get(key)
    if out is None:
        out = json.dumps(dict(key), sort_keys=True)
        if len(_RES_JSON) < 4096:
            _RES_JSON[key] = out
    return out


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _validate(task_id: str, job_id: str, attempt: int, event_time: float, ts) -> None:
    """What cannot be stored; the message becomes the drop's reason."""
    if not task_id:
        raise MalformedItem("empty task_id")
    if not _HEX(task_id):
        raise MalformedItem("task_id is not lowercase hex")
    if job_id and not _HEX(job_id):
        raise MalformedItem("job_id is not lowercase hex")
    if attempt < 0:
        raise MalformedItem("negative attempt")
    if not math.isfinite(event_time):
        raise MalformedItem("event_time is not finite")
    if ts and (min(ts) <= 0 or max(ts) >= N_STATUS):
        raise MalformedItem(f"unknown task status {min(ts) if min(ts) <= 0 else max(ts)}")


@dataclass(slots=True)
class TaskDelta:
    """The deltas of one task attempt seen so far in this transaction, merged."""

    ctx: ApplyContext  # the first delta's batch: its drops and WebSocket deltas
    task_id: str
    attempt: int
    job_id: str
    status: int  # the state the row takes; 0: no state reported yet
    rank: int
    state_sec: float
    vals: dict[int, object]  # column index -> value, for the columns after state_ts

    @classmethod
    def from_event(cls, ctx: ApplyContext, ev: pb.TaskEvent) -> "TaskDelta":
        task_id, job_id, attempt, ts = ev.task_id, ev.job_id, ev.attempt, ev.state_ts_ns
        _validate(task_id, job_id, attempt, ev.event_time, ts)
        vals: dict[int, object] = {}
        for col, v in zip(_STRING_COLS, _read_strings(ev)):
            if v:
                vals[col] = v
        for attr, col in _FILES:
            v = getattr(ev, attr)
            if v:
                vals[col] = _basename(v)
        for attr, col in _INTS:
            v = getattr(ev, attr)
            if v or ev.HasField(attr):
                vals[col] = v
        if ev.is_debugger_paused or ev.HasField("is_debugger_paused"):
            vals[_I_PAUSED] = int(ev.is_debugger_paused)
        req = ev.required_resources
        if req:
            vals[_I_REQ] = _resources_json(req)
        status, rank, sec = _state_columns(ts, vals) if ts else (0, RANK_NIL, 0.0)
        return cls(ctx, task_id, attempt, job_id, status, rank, sec, vals)

    def merge(self, later: "TaskDelta") -> None:
        """self := what the table holds after self's UPSERT and then later's."""
        if not self.job_id:
            self.job_id = later.job_id
        if later.status and (later.rank > self.rank or (
                later.rank == self.rank and later.rank > RANK_NIL and later.state_sec >= self.state_sec)):
            self.status, self.rank, self.state_sec = later.status, later.rank, later.state_sec
        vals = self.vals
        for col, v in later.vals.items():
            rule = _RULE[col]
            if rule == _NEWER:
                vals[col] = v
            elif rule == _FIRST:
                if col not in vals:
                    vals[col] = v
            else:
                old = vals.get(col)
                if old is None or v < old:  # type: ignore[operator]
                    vals[col] = v

    def row(self) -> Row:
        vals = self.vals
        if self.status:
            vals[I_STATE_TS] = self.state_sec
        shape = tuple(sorted(vals))
        return shape, (self.task_id, self.attempt, self.job_id, TASK_STATUS_NAMES[self.status], self.rank,
                       *[vals[i] for i in shape])


def _state_columns(ts, vals: dict[int, object]) -> tuple[int, int, float]:
    """Fills the ts_* and creation/start/end columns of a state_ts_ns map; returns the (status, rank,
    seconds) the row takes: highest rank, then latest time, then the higher status (deterministic)."""
    best, best_rank, best_sec = 0, RANK_NIL, 0.0
    pending = end = None
    for status in ts:
        sec = ts[status] / 1e9
        vals[_I_TS0 + status] = sec
        rank = _RANKS[status]
        if rank > best_rank or (rank == best_rank and (sec > best_sec or (sec == best_sec and status > best))):
            best, best_rank, best_sec = status, rank, sec
        if rank == 1:
            pending = sec if pending is None or sec < pending else pending
        elif status == _RUNNING:
            vals[_I_START] = sec
        elif status == _FINISHED or (status == _FAILED and end is None):
            end = sec
    if pending is not None:
        vals[_I_CREATION] = pending
    if end is not None:
        vals[_I_END] = end
    return best, best_rank, best_sec


@dataclass
class TaskRows:
    """The task rows of one transaction, each with the context of the batch it is counted in."""

    rows: list[Row] = field(default_factory=list)
    ctxs: list[ApplyContext] = field(default_factory=list)


def prepare_task_rows(items: list[tuple[ApplyContext, pb.TaskEvent]], collapse: bool = True) -> TaskRows:
    """Malformed deltas are dropped (each alone, to its batch's context); with collapse, the deltas
    of one task attempt become one row, otherwise one row per delta (in arrival order)."""
    merged: dict[tuple[str, int], TaskDelta] = {}
    out: list[TaskDelta] = []
    for ctx, ev in items:
        try:
            d = TaskDelta.from_event(ctx, ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"task {ev.task_id!r} attempt {ev.attempt}")
            continue
        if collapse:
            key = (d.task_id, d.attempt)
            first: Optional[TaskDelta] = merged.get(key)
            if first is not None:
                first.merge(d)
                continue
            merged[key] = d
        out.append(d)
    return TaskRows([d.row() for d in out], [d.ctx for d in out])
