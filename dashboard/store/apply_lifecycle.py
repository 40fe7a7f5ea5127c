"""Merging actor, node, job and worker deltas (low volume: named parameters, newest event wins)."""
from __future__ import annotations

import json
import math
from typing import Iterable, Optional

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.runtime.ray_enums import (
    ACTOR_STATES,
    JOB_SUBMISSION_STATUSES,
    NODE_STATES,
    WORKER_EXIT_TYPES,
    WORKER_TYPES,
)
from rayscope.wire import rayscope_ingest_pb2 as pb


def _opt(msg, name: str):
    return getattr(msg, name) if msg.HasField(name) else None


def _finite(t: float) -> float:
    if not math.isfinite(t):
        raise MalformedItem("event_time is not finite")
    return t


def _ms(v: Optional[int]) -> Optional[float]:
    return v / 1000.0 if v else None


UPSERT_ACTOR = """
INSERT INTO actors (actor_id, job_id, state, state_time, class_name, name, repr_name, ray_namespace,
  pid, node_id, is_detached, placement_group_id, required_resources, death_cause, num_restarts,
  start_time, end_time, data_operator_id)
VALUES (:actor_id, :job_id, :state, :t, :class_name, :name, :repr_name, :ray_namespace, :pid,
  :node_id, :is_detached, :placement_group_id, :required_resources, :death_cause, 0,
  CASE WHEN :state = 'ALIVE' THEN :t END, CASE WHEN :state = 'DEAD' THEN :t END, :data_operator_id)
ON CONFLICT (actor_id) DO UPDATE SET
  num_restarts = actors.num_restarts + (excluded.state = 'RESTARTING' AND actors.state != 'RESTARTING'
                                        AND excluded.state_time > actors.state_time),
  state = CASE WHEN excluded.state_time >= actors.state_time THEN excluded.state ELSE actors.state END,
  state_time = max(excluded.state_time, actors.state_time),
  job_id = CASE WHEN excluded.job_id != '' THEN excluded.job_id ELSE actors.job_id END,
  class_name = coalesce(excluded.class_name, actors.class_name),
  name = coalesce(excluded.name, actors.name),
  repr_name = coalesce(excluded.repr_name, actors.repr_name),
  ray_namespace = coalesce(excluded.ray_namespace, actors.ray_namespace),
  pid = coalesce(excluded.pid, actors.pid),
  node_id = coalesce(excluded.node_id, actors.node_id),
  is_detached = coalesce(excluded.is_detached, actors.is_detached),
  placement_group_id = coalesce(excluded.placement_group_id, actors.placement_group_id),
  required_resources = coalesce(excluded.required_resources, actors.required_resources),
  death_cause = coalesce(excluded.death_cause, actors.death_cause),
  data_operator_id = coalesce(excluded.data_operator_id, actors.data_operator_id),
  start_time = coalesce(actors.start_time, excluded.start_time),
  end_time = CASE WHEN excluded.state_time >= actors.state_time AND excluded.state != 'DEAD' THEN NULL
                  ELSE coalesce(actors.end_time, excluded.end_time) END
"""


def actor_params(ev: pb.ActorEvent) -> dict:
    require_hex(ev.actor_id, "actor_id")
    require_hex(ev.job_id, "job_id", allow_empty=True)
    if ev.state not in ACTOR_STATES:
        raise MalformedItem(f"unknown actor state {ev.state[:40]!r}")
    pid = _opt(ev, "pid")
    return {
        "actor_id": ev.actor_id, "job_id": ev.job_id, "state": ev.state, "t": _finite(ev.event_time),
        "class_name": _opt(ev, "class_name"), "name": _opt(ev, "name") or None,
        "repr_name": _opt(ev, "repr_name") or None, "ray_namespace": _opt(ev, "ray_namespace"),
        "pid": pid or None, "node_id": _opt(ev, "node_id") or None,
        "is_detached": None if not ev.HasField("is_detached") else int(ev.is_detached),
        "placement_group_id": _opt(ev, "placement_group_id") or None,
        "required_resources": json.dumps(dict(ev.required_resources), sort_keys=True)
        if ev.required_resources else None,
        "death_cause": _opt(ev, "death_cause") or None,
        "data_operator_id": _opt(ev, "data_operator_id") or None,
    }


UPSERT_NODE = """
INSERT INTO nodes (node_id, node_ip, node_name, state, state_time, is_head_node, resources_total,
  labels, start_time, end_time, death_reason, death_message)
VALUES (:node_id, :node_ip, :node_name, :state, :t, coalesce(:is_head_node, 0), :resources_total,
  :labels, :start_time, :end_time, :death_reason, :death_message)
ON CONFLICT (node_id) DO UPDATE SET
  state = CASE WHEN excluded.state_time >= coalesce(nodes.state_time, 0) THEN excluded.state
               ELSE nodes.state END,
  state_time = max(excluded.state_time, coalesce(nodes.state_time, 0)),
  node_ip = coalesce(excluded.node_ip, nodes.node_ip),
  node_name = coalesce(excluded.node_name, nodes.node_name),
  is_head_node = coalesce(:is_head_node, nodes.is_head_node),
  resources_total = coalesce(excluded.resources_total, nodes.resources_total),
  labels = coalesce(excluded.labels, nodes.labels),
  start_time = coalesce(excluded.start_time, nodes.start_time),
  end_time = coalesce(excluded.end_time, nodes.end_time),
  death_reason = coalesce(excluded.death_reason, nodes.death_reason),
  death_message = coalesce(excluded.death_message, nodes.death_message)
"""


def node_params(ev: pb.NodeEvent) -> dict:
    require_hex(ev.node_id, "node_id")
    if ev.state not in NODE_STATES:
        raise MalformedItem(f"unknown node state {ev.state[:40]!r}")
    return {
        "node_id": ev.node_id, "state": ev.state, "t": _finite(ev.event_time),
        "node_ip": _opt(ev, "node_ip") or None, "node_name": _opt(ev, "node_name") or None,
        "is_head_node": None if not ev.HasField("is_head_node") else int(ev.is_head_node),
        "resources_total": json.dumps(dict(ev.resources_total), sort_keys=True) if ev.resources_total else None,
        "labels": json.dumps(dict(ev.labels), sort_keys=True) if ev.labels else None,
        "start_time": _ms(_opt(ev, "start_time_ms")), "end_time": _ms(_opt(ev, "end_time_ms")),
        "death_reason": _opt(ev, "death_reason") or None, "death_message": _opt(ev, "death_message") or None,
    }


UPSERT_JOB = """
INSERT INTO jobs (job_id, state, driver_pid, driver_ip, entrypoint, ray_namespace, start_time, end_time,
  submission_id)
VALUES (:job_id, CASE WHEN :is_dead THEN 'FINISHED' ELSE 'RUNNING' END, :driver_pid, :driver_ip,
  :entrypoint, :ray_namespace, :start_time, :end_time, :submission_id)
ON CONFLICT (job_id) DO UPDATE SET
  state = CASE WHEN jobs.state = 'FINISHED' OR :is_dead THEN 'FINISHED' ELSE jobs.state END,
  driver_pid = coalesce(excluded.driver_pid, jobs.driver_pid),
  driver_ip = coalesce(excluded.driver_ip, jobs.driver_ip),
  entrypoint = coalesce(excluded.entrypoint, jobs.entrypoint),
  ray_namespace = coalesce(excluded.ray_namespace, jobs.ray_namespace),
  start_time = coalesce(excluded.start_time, jobs.start_time),
  end_time = coalesce(excluded.end_time, jobs.end_time),
  submission_id = coalesce(excluded.submission_id, jobs.submission_id)
"""


def job_params(ev: pb.JobEvent) -> dict:
    require_hex(ev.job_id, "job_id")
    _finite(ev.event_time)
    return {
        "job_id": ev.job_id, "is_dead": int(ev.is_dead) if ev.HasField("is_dead") else 0,
        "driver_pid": _opt(ev, "driver_pid") or None, "driver_ip": _opt(ev, "driver_ip") or None,
        "entrypoint": _opt(ev, "entrypoint") or None, "ray_namespace": _opt(ev, "ray_namespace") or None,
        "start_time": _ms(_opt(ev, "start_time_ms")), "end_time": _ms(_opt(ev, "end_time_ms")),
        "submission_id": _opt(ev, "submission_id") or None,
    }


# Each event is a full snapshot: the newest replaces the row whole. Ray stamps events in whole
# seconds, so PENDING, RUNNING and the end can share one; then the later status wins (an older
# event resent, or read later from another node's file, cannot move a job back).
UPSERT_SUBMISSION_JOB = """
INSERT INTO submission_jobs (submission_id, status, status_rank, entrypoint, message, error_type, start_time,
  end_time, driver_exit_code, driver_node_id, runtime_env, event_time)
VALUES (:submission_id, :status, :status_rank, :entrypoint, :message, :error_type, :start_time, :end_time,
  :driver_exit_code, :driver_node_id, :runtime_env, :t)
ON CONFLICT (submission_id) DO UPDATE SET
  status = excluded.status, status_rank = excluded.status_rank, entrypoint = excluded.entrypoint,
  message = excluded.message, error_type = excluded.error_type, start_time = excluded.start_time,
  end_time = excluded.end_time, driver_exit_code = excluded.driver_exit_code,
  driver_node_id = excluded.driver_node_id, runtime_env = excluded.runtime_env, event_time = excluded.event_time
WHERE (excluded.event_time, excluded.status_rank) >= (submission_jobs.event_time, submission_jobs.status_rank)
"""


def submission_status_rank(status: str) -> int:
    """Order of a submitted job's statuses: PENDING < RUNNING < an end (STOPPED, SUCCEEDED, FAILED)."""
    return {"PENDING": 0, "RUNNING": 1}.get(status, 2)


def submission_job_params(ev: pb.SubmissionJobEvent) -> dict:
    if not ev.submission_id:
        raise MalformedItem("empty submission_id")
    if ev.status not in JOB_SUBMISSION_STATUSES:
        raise MalformedItem(f"unknown submitted job status {ev.status[:40]!r}")
    node = _opt(ev, "driver_node_id")
    if node:
        require_hex(node, "driver_node_id")
    return {
        "submission_id": ev.submission_id, "status": ev.status, "status_rank": submission_status_rank(ev.status),
        "t": _finite(ev.event_time), "entrypoint": _opt(ev, "entrypoint"), "message": _opt(ev, "message"),
        "error_type": _opt(ev, "error_type"), "start_time": _ms(_opt(ev, "start_time_ms")),
        "end_time": _ms(_opt(ev, "end_time_ms")), "driver_exit_code": _opt(ev, "driver_exit_code"),
        "driver_node_id": node, "runtime_env": _opt(ev, "runtime_env"),
    }


# A worker that GCS reported dead stays dead (a later row read before its death, e.g. a resend of
# an older batch, must not revive it); exit fields are kept once known.
UPSERT_WORKER = """
INSERT INTO workers (worker_id, node_id, node_ip, pid, worker_type, job_id, is_alive, exit_type, exit_detail,
  start_time, end_time, updated_at)
VALUES (:worker_id, :node_id, :node_ip, :pid, :worker_type, :job_id, :is_alive, :exit_type, :exit_detail,
  :start_time, :end_time, :t)
ON CONFLICT (worker_id) DO UPDATE SET
  is_alive = workers.is_alive AND excluded.is_alive,
  node_ip = coalesce(excluded.node_ip, workers.node_ip),
  job_id = coalesce(excluded.job_id, workers.job_id),
  exit_type = coalesce(excluded.exit_type, workers.exit_type),
  exit_detail = coalesce(excluded.exit_detail, workers.exit_detail),
  start_time = coalesce(excluded.start_time, workers.start_time),
  end_time = coalesce(excluded.end_time, workers.end_time),
  updated_at = max(excluded.updated_at, workers.updated_at)
"""


def worker_params(ev: pb.WorkerEvent) -> dict:
    require_hex(ev.worker_id, "worker_id")
    require_hex(ev.node_id, "node_id")
    if ev.worker_type not in WORKER_TYPES:
        raise MalformedItem(f"unknown worker type {ev.worker_type[:40]!r}")
    exit_type = _opt(ev, "exit_type")
    if exit_type is not None and exit_type not in WORKER_EXIT_TYPES:
        raise MalformedItem(f"unknown worker exit type {exit_type[:40]!r}")
    job_id = _opt(ev, "job_id")
    if job_id is not None:
        require_hex(job_id, "job_id")
    return {
        "worker_id": ev.worker_id, "node_id": ev.node_id, "node_ip": _opt(ev, "node_ip") or None, "pid": ev.pid,
        "worker_type": ev.worker_type, "job_id": job_id, "is_alive": int(ev.is_alive), "exit_type": exit_type,
        "exit_detail": _opt(ev, "exit_detail") or None, "start_time": _opt(ev, "start_time"),
        "end_time": _opt(ev, "end_time"), "t": _finite(ev.event_time),
    }


def apply_workers(ctx: ApplyContext, items: Iterable[pb.WorkerEvent]) -> None:
    _apply(ctx, "workers", UPSERT_WORKER, items, worker_params, "worker_id")


def _apply(ctx: ApplyContext, kind: str, sql: str, items: Iterable, to_params, key: str,
           count_states: bool = False, delta_fields: tuple[str, ...] = ()) -> None:
    """count_states: bump state_transitions when the stored state changes (two lookups per event).
    delta_fields: params also put in the delta when set."""
    read_state = f"SELECT state FROM {kind} WHERE {key} = ?"
    for ev in items:
        try:
            params = to_params(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"{kind} {getattr(ev, key)!r}")
            continue
        before = ctx.conn.execute(read_state, (params[key],)).fetchone() if count_states else None
        ctx.conn.execute(sql, params)
        if count_states:
            after = ctx.conn.execute(read_state, (params[key],)).fetchone()[0]
            if before is None or before[0] != after:
                ctx.conn.execute(_BUMP_ACTOR, (after,))
        ctx.delta(kind, {key: params[key], "state": params.get("state"),
                         **{f: params[f] for f in delta_fields if params.get(f) is not None}})


_BUMP_ACTOR = ("INSERT INTO state_transitions (kind, type, state, n) VALUES ('actor', '', ?, 1) "
               "ON CONFLICT DO UPDATE SET n = n + 1")


def apply_actors(ctx: ApplyContext, items: Iterable[pb.ActorEvent]) -> None:
    _apply(ctx, "actors", UPSERT_ACTOR, items, actor_params, "actor_id", count_states=True)


def apply_nodes(ctx: ApplyContext, items: Iterable[pb.NodeEvent]) -> None:
    _apply(ctx, "nodes", UPSERT_NODE, items, node_params, "node_id")


def apply_jobs(ctx: ApplyContext, items: Iterable[pb.JobEvent]) -> None:
    """A driver naming a submission takes the place of its driverless row: its delta says which."""
    _apply(ctx, "jobs", UPSERT_JOB, items, job_params, "job_id", delta_fields=("submission_id",))


def apply_submission_jobs(ctx: ApplyContext, items: Iterable[pb.SubmissionJobEvent]) -> None:
    """Submitted jobs; their deltas go out as `jobs` rows of their drivers (the listing that shows them)."""
    for ev in items:
        try:
            params = submission_job_params(ev)
        except MalformedItem as err:
            ctx.drop("events", err, f"submission_jobs {ev.submission_id[:80]!r}")
            continue
        ctx.conn.execute(UPSERT_SUBMISSION_JOB, params)
        # The listing shows a submission on its driver's row: a delta for each such row; without a
        # driver yet, on its own row (job_id null, the submission id its key)
        drivers = [job_id for (job_id,) in ctx.conn.execute(_DRIVERS_OF, (params["submission_id"],))]
        for job_id in drivers or [None]:
            ctx.delta("jobs", {"job_id": job_id, "submission_id": params["submission_id"],
                               "submission_status": params["status"]})


_DRIVERS_OF = "SELECT job_id FROM jobs WHERE submission_id = ?"
