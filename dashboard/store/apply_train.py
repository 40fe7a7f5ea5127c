"""Storing Ray Train snapshots (wire TrainRunEvent / TrainRunAttemptEvent, Batch fields 30 and 31).

Each event is a full snapshot: the newest (by event_time; on a tie the one applied last, since
one process writes them in order) replaces the run's or attempt's row; every event is also kept
once in `train_status_history`. An attempt's worker list replaces the stored one only when it
lists workers (PENDING snapshots have none). Each change goes out as a `train_runs` delta
carrying the run id.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.runtime.ray_enums import TRAIN_RUN_ATTEMPT_STATUSES, TRAIN_RUN_STATUSES, TRAIN_WORKER_STATUSES
from rayscope.wire import rayscope_ingest_pb2 as pb

UPSERT_RUN = """
INSERT INTO train_runs (run_id, name, status, status_detail, start_time, end_time, job_id, controller_actor_id,
  controller_log_file_path, framework_versions, num_workers, min_workers, max_workers, resources_per_worker,
  use_gpu, max_failures, storage_path, event_time)
VALUES (:run_id, :name, :status, :status_detail, :start_time, :end_time, :job_id, :controller_actor_id,
  :controller_log_file_path, :framework_versions, :num_workers, :min_workers, :max_workers, :resources_per_worker,
  :use_gpu, :max_failures, :storage_path, :t)
ON CONFLICT (run_id) DO UPDATE SET
  name = excluded.name, status = excluded.status, status_detail = excluded.status_detail,
  start_time = excluded.start_time, end_time = excluded.end_time, job_id = excluded.job_id,
  controller_actor_id = excluded.controller_actor_id, controller_log_file_path = excluded.controller_log_file_path,
  framework_versions = excluded.framework_versions, num_workers = excluded.num_workers,
  min_workers = excluded.min_workers, max_workers = excluded.max_workers,
  resources_per_worker = excluded.resources_per_worker, use_gpu = excluded.use_gpu,
  max_failures = excluded.max_failures, storage_path = excluded.storage_path, event_time = excluded.event_time
WHERE excluded.event_time >= train_runs.event_time
"""

UPSERT_ATTEMPT = """
INSERT INTO train_run_attempts (attempt_id, run_id, status, status_detail, start_time, end_time, event_time)
VALUES (:attempt_id, :run_id, :status, :status_detail, :start_time, :end_time, :t)
ON CONFLICT (attempt_id) DO UPDATE SET
  run_id = excluded.run_id, status = excluded.status, status_detail = excluded.status_detail,
  start_time = excluded.start_time, end_time = excluded.end_time, event_time = excluded.event_time
WHERE excluded.event_time >= train_run_attempts.event_time
"""

INSERT_WORKER = """
INSERT INTO train_workers (attempt_id, world_rank, local_rank, node_rank, actor_id, node_id, node_ip, pid, gpu_ids,
  status, resources, log_file_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_HISTORY = """
INSERT OR IGNORE INTO train_status_history (event_id, run_id, attempt_id, status, status_detail, event_time)
VALUES (?, ?, ?, ?, ?, ?)
"""


def _opt(msg, name: str):
    return getattr(msg, name) if msg.HasField(name) else None


def _s(ns: Optional[int]) -> Optional[float]:
    """Ray's unix nanoseconds as the API's seconds (0: not set)."""
    return ns / 1e9 if ns else None


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


def _check(ev, status: str, names: tuple[str, ...]) -> None:
    if not ev.event_id:
        raise MalformedItem("empty event_id")
    if status not in names:
        raise MalformedItem(f"unknown status {status[:40]!r}")


def run_params(ev: pb.TrainRunEvent) -> dict:
    _check(ev, ev.status, TRAIN_RUN_STATUSES)
    require_hex(ev.run_id, "run_id")
    return {
        "run_id": ev.run_id, "name": ev.name, "status": ev.status, "status_detail": _opt(ev, "status_detail"),
        "start_time": _s(ev.start_time_ns), "end_time": _s(_opt(ev, "end_time_ns")),
        "job_id": require_hex(_opt(ev, "job_id") or "", "job_id", allow_empty=True) or None,
        "controller_actor_id": require_hex(_opt(ev, "controller_actor_id") or "", "controller_actor_id",
                                           allow_empty=True) or None,
        "controller_log_file_path": _opt(ev, "controller_log_file_path"),
        "framework_versions": _json(dict(ev.framework_versions)),
        "num_workers": _opt(ev, "num_workers"), "min_workers": _opt(ev, "min_workers"),
        "max_workers": _opt(ev, "max_workers"), "resources_per_worker": _json(dict(ev.resources_per_worker)),
        "use_gpu": _opt(ev, "use_gpu"), "max_failures": _opt(ev, "max_failures"),
        "storage_path": _opt(ev, "storage_path"), "t": ev.event_time,
    }


def attempt_params(ev: pb.TrainRunAttemptEvent) -> dict:
    _check(ev, ev.status, TRAIN_RUN_ATTEMPT_STATUSES)
    require_hex(ev.run_id, "run_id")
    require_hex(ev.attempt_id, "attempt_id")
    for w in ev.workers:
        if w.HasField("status") and w.status not in TRAIN_WORKER_STATUSES:
            raise MalformedItem(f"unknown worker status {w.status[:40]!r}")
    return {
        "attempt_id": ev.attempt_id, "run_id": ev.run_id, "status": ev.status,
        "status_detail": _opt(ev, "status_detail"), "start_time": _s(ev.start_time_ns),
        "end_time": _s(_opt(ev, "end_time_ns")), "t": ev.event_time,
    }


def _worker_row(attempt_id: str, w: pb.TrainWorker) -> tuple:
    return (attempt_id, w.world_rank, w.local_rank, w.node_rank, _opt(w, "actor_id"), _opt(w, "node_id"),
            _opt(w, "node_ip"), _opt(w, "pid"), _json(list(w.gpu_ids)), _opt(w, "status"),
            _json(dict(w.resources)), _opt(w, "log_file_path"))


def _stored_time(ctx: ApplyContext, table: str, key: str, value: str) -> Optional[float]:
    row = ctx.conn.execute(f"SELECT event_time FROM {table} WHERE {key} = ?", (value,)).fetchone()
    return None if row is None else row[0]


def apply_train_runs(ctx: ApplyContext, items: Iterable[pb.TrainRunEvent]) -> None:
    for ev in items:
        try:
            params = run_params(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"train_runs {ev.run_id[:80]!r}")
            continue
        ctx.conn.execute(UPSERT_RUN, params)
        ctx.conn.execute(INSERT_HISTORY, (ev.event_id, ev.run_id, None, ev.status, params["status_detail"],
                                          ev.event_time))
        ctx.delta("train_runs", {"run_id": ev.run_id, "status": ev.status})


def apply_train_run_attempts(ctx: ApplyContext, items: Iterable[pb.TrainRunAttemptEvent]) -> None:
    for ev in items:
        try:
            params = attempt_params(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"train_run_attempts {ev.attempt_id[:80]!r}")
            continue
        before = _stored_time(ctx, "train_run_attempts", "attempt_id", ev.attempt_id)
        ctx.conn.execute(UPSERT_ATTEMPT, params)
        newest = before is None or ev.event_time >= before
        if newest and ev.workers:
            ctx.conn.execute("DELETE FROM train_workers WHERE attempt_id = ?", (ev.attempt_id,))
            ctx.conn.executemany(INSERT_WORKER, [_worker_row(ev.attempt_id, w) for w in ev.workers])
        ctx.conn.execute(INSERT_HISTORY, (ev.event_id, ev.run_id, ev.attempt_id, ev.status, params["status_detail"],
                                          ev.event_time))
        ctx.delta("train_runs", {"run_id": ev.run_id, "attempt_id": ev.attempt_id, "status": ev.status})
