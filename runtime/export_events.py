"""Decode one line of Ray's export-event files into Rayscope wire messages.

Ray (with ``RAY_enable_export_api_write=1``) writes JSON lines under
``<session>/logs/export_events/``; each line is an envelope
``{"event_id", "timestamp", "source_type", "event_data"}`` whose ``event_data`` is a
protobuf message rendered with proto field names. Ids are base64 of the raw bytes,
int64 values are strings, enums are names. This module is the only place that knows
that format, so a Ray upgrade (or the move to the aggregator path) changes only here.

Task lines are deltas: only what a line carries is set on the returned message (the
head merges by ``(task_id, attempt)``). Actor/node/job lines are full snapshots in which
Ray prints default values too; there, zero/empty values are left unset.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable, Union

from rayscope.runtime import data_events
from rayscope.runtime.ray_enums import (
    JOB_SUBMISSION_STATUSES,
    TASK_STATUS,
    TRAIN_RUN_ATTEMPT_STATUSES,
    TRAIN_RUN_STATUSES,
    TRAIN_WORKER_STATUSES,
)
from rayscope.wire.rayscope_ingest_pb2 import (
    ActorEvent,
    JobEvent,
    NodeEvent,
    SubmissionJobEvent,
    TaskEvent,
    TrainRunAttemptEvent,
    TrainRunEvent,
    TrainWorker,
)

__all__ = ["MalformedEvent", "Event", "Skipped", "decode", "decode_line", "IGNORED_SOURCES"]

Event = Union[TaskEvent, ActorEvent, NodeEvent, JobEvent, SubmissionJobEvent, TrainRunEvent, TrainRunAttemptEvent,
              data_events.DataEvent]

# Source types Ray writes that Rayscope leaves unread on purpose: their lines are counted as ignored
# by design, apart from source types this decoder does not know (a newer Ray). Every one Ray 2.60
# writes is read now (the libraries' since issue 13: Train here, Data in data_events.py).
IGNORED_SOURCES: frozenset[str] = frozenset()

_DEATH_CAUSE_MAX = 500
RUNTIME_ENV_SUMMARY_MAX = 300  # the runtime env is summarised, never shipped: its JSON can be megabytes


@dataclass(frozen=True)
class Skipped:
    """A well-formed line of a source type this module does not decode."""

    source_type: str
    by_design: bool  # one of IGNORED_SOURCES; False: a source type this decoder does not know


class MalformedEvent(ValueError):
    """A line that is not a valid Ray export event; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------ scalar helpers


def _hex_id(value: Any, field: str) -> str:
    """base64 of raw id bytes -> lowercase hex ('' stays '')."""
    if not isinstance(value, str):
        raise MalformedEvent(f"{field}: expected base64 string, got {type(value).__name__}")
    if not value:
        return ""
    try:
        return binascii.a2b_base64(value, strict_mode=True).hex()
    except binascii.Error as exc:
        raise MalformedEvent(f"{field}: not base64 ({exc})") from None


def _required_id(data: dict, key: str) -> str:
    if key not in data:
        raise MalformedEvent(f"missing {key}")
    out = _hex_id(data[key], key)
    if not out:
        raise MalformedEvent(f"empty {key}")
    return out


def _int(value: Any, field: str) -> int:
    """int64 arrives as a decimal string, int32 as a JSON number."""
    if isinstance(value, bool):
        raise MalformedEvent(f"{field}: expected integer, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise MalformedEvent(f"{field}: not an integer: {value[:40]!r}") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise MalformedEvent(f"{field}: expected integer, got {type(value).__name__}")


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise MalformedEvent(f"{field}: expected string, got {type(value).__name__}")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedEvent(f"{field}: expected bool, got {type(value).__name__}")
    return value


def _dict(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{field}: expected object, got {type(value).__name__}")
    return value


def _float_map(value: Any, field: str) -> dict[str, float]:
    out = {}
    for k, v in _dict(value, field).items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise MalformedEvent(f"{field}[{k}]: expected number, got {type(v).__name__}")
        out[k] = float(v)
    return out


def _str_map(value: Any, field: str) -> dict[str, str]:
    return {k: _str(v, f"{field}[{k}]") for k, v in _dict(value, field).items()}


def _status_key(key: str) -> int:
    if key.isdigit():
        return int(key)
    num = TASK_STATUS.get(key)
    if num is None:
        raise MalformedEvent(f"state_ts_ns: unknown task status {key[:40]!r}")
    return num


# ------------------------------------------------------------------ per source type


def _task(data: dict, ts: float) -> TaskEvent:
    ev = TaskEvent(
        task_id=_required_id(data, "task_id"),
        job_id=_required_id(data, "job_id"),
        attempt=_int(data.get("attempt_number", 0), "attempt_number"),
        event_time=ts,
    )
    info = data.get("task_info")
    if info is not None:
        _task_info(ev, _dict(info, "task_info"))
    updates = data.get("state_updates")
    if updates is not None:
        _task_updates(ev, _dict(updates, "state_updates"))
    return ev


def _task_info(ev: TaskEvent, info: dict) -> None:
    if "func_or_class_name" in info:
        ev.name = _str(info["func_or_class_name"], "task_info.func_or_class_name")
    if "type" in info:
        ev.type = _str(info["type"], "task_info.type")
    if "language" in info:
        ev.language = _str(info["language"], "task_info.language")
    for key, attr in (
        ("parent_task_id", "parent_task_id"),
        ("actor_id", "actor_id"),
        ("placement_group_id", "placement_group_id"),
    ):
        if key in info:
            hexid = _hex_id(info[key], f"task_info.{key}")
            if hexid:
                setattr(ev, attr, hexid)
    if "required_resources" in info:
        ev.required_resources.update(
            _float_map(info["required_resources"], "task_info.required_resources")
        )
    op = _data_operator(info, "task_info.labels")
    if op:
        ev.data_operator_id = op


def _task_updates(ev: TaskEvent, up: dict) -> None:
    for key in ("node_id", "worker_id"):
        if key in up:
            hexid = _hex_id(up[key], f"state_updates.{key}")
            if hexid:
                setattr(ev, key, hexid)
    if "worker_pid" in up:
        ev.worker_pid = _int(up["worker_pid"], "state_updates.worker_pid")
    if "is_debugger_paused" in up:
        ev.is_debugger_paused = _bool(up["is_debugger_paused"], "state_updates.is_debugger_paused")
    if "state_ts_ns" in up:
        for k, v in _dict(up["state_ts_ns"], "state_updates.state_ts_ns").items():
            ev.state_ts_ns[_status_key(k)] = _int(v, f"state_ts_ns[{k}]")
    err = up.get("error_info")
    if err is not None:
        err = _dict(err, "state_updates.error_info")
        if "error_type" in err:
            ev.error_type = _str(err["error_type"], "error_info.error_type")
        if "error_message" in err:
            ev.error_message = _str(err["error_message"], "error_info.error_message")
    logs = up.get("task_log_info")
    if logs is not None:
        # Ray sends a range in two halves: the start (and file) with RUNNING, the end when the task
        # ends, and its JSON prints the unset half as 0 (and ''). A real offset 0 reads as unset
        # too, which costs nothing: a range also starts where the worker's previous one ended.
        logs = _dict(logs, "state_updates.task_log_info")
        for stream in ("stdout", "stderr"):
            path = logs.get(f"{stream}_file")
            if path:
                setattr(ev, f"{stream}_file", _str(path, f"task_log_info.{stream}_file"))
            for edge in ("start", "end"):
                key = f"{stream}_{edge}"
                offset = _int(logs[key], f"task_log_info.{key}") if key in logs else 0
                if offset:
                    setattr(ev, key, offset)


def _actor(data: dict, ts: float) -> ActorEvent:
    ev = ActorEvent(
        actor_id=_required_id(data, "actor_id"),
        job_id=_required_id(data, "job_id"),
        state=_str(data.get("state", ""), "state"),
        event_time=ts,
    )
    if not ev.state:
        raise MalformedEvent("missing state")
    for key in ("name", "class_name", "repr_name", "ray_namespace"):
        value = _str(data.get(key, ""), key)
        if value:
            setattr(ev, key, value)
    pid = _int(data.get("pid", 0), "pid")
    if pid:
        ev.pid = pid
    for key in ("node_id", "placement_group_id"):
        hexid = _hex_id(data.get(key, ""), key)
        if hexid:
            setattr(ev, key, hexid)
    if "is_detached" in data:
        ev.is_detached = _bool(data["is_detached"], "is_detached")
    op = _data_operator(data, "labels")
    if op:
        ev.data_operator_id = op
    if "required_resources" in data:
        ev.required_resources.update(_float_map(data["required_resources"], "required_resources"))
    cause = data.get("death_cause")
    if cause:
        line = death_cause_line(_dict(cause, "death_cause"))
        if line:
            ev.death_cause = line
    return ev


def _data_operator(data: dict, field: str) -> str:
    """The Ray Data operator (uuid) a task or actor works for: Ray's label `__data_operator_id`.
    The other labels are not kept (nothing reads them yet)."""
    labels = data.get("labels")
    if not labels:
        return ""
    return _str(_dict(labels, field).get(data_events.LABEL, ""), f"{field}.{data_events.LABEL}")


def death_cause_line(cause: dict) -> str:
    """Ray's ActorDeathCause (a oneof of contexts) as one readable line."""
    for kind, ctx in cause.items():
        if not isinstance(ctx, dict):
            continue
        reason = ctx.get("reason") or ctx.get("error_type") or kind.removesuffix("_context")
        message = ctx.get("error_message") or ctx.get("formatted_exception_string") or ""
        text = f"{reason}: {message}" if message else str(reason)
        text = " ".join(str(text).split())
        return text[:_DEATH_CAUSE_MAX]
    return ""


def _node(data: dict, ts: float) -> NodeEvent:
    ev = NodeEvent(
        node_id=_required_id(data, "node_id"),
        state=_str(data.get("state", ""), "state"),
        event_time=ts,
    )
    if not ev.state:
        raise MalformedEvent("missing state")
    for key, attr in (("node_manager_address", "node_ip"), ("node_name", "node_name")):
        value = _str(data.get(key, ""), key)
        if value:
            setattr(ev, attr, value)
    if "is_head_node" in data:
        ev.is_head_node = _bool(data["is_head_node"], "is_head_node")
    if "resources_total" in data:
        ev.resources_total.update(_float_map(data["resources_total"], "resources_total"))
    if "labels" in data:
        ev.labels.update(_str_map(data["labels"], "labels"))
    for key in ("start_time_ms", "end_time_ms"):
        ms = _int(data.get(key, 0), key)
        if ms:
            setattr(ev, key, ms)
    death = data.get("death_info")
    if death:
        death = _dict(death, "death_info")
        reason = _str(death.get("reason", ""), "death_info.reason")
        if reason:
            ev.death_reason = reason
        message = _str(death.get("reason_message", ""), "death_info.reason_message")
        if message:
            ev.death_message = message
    return ev


def _job(data: dict, ts: float) -> JobEvent:
    ev = JobEvent(job_id=_required_id(data, "job_id"), event_time=ts)
    if "is_dead" in data:
        ev.is_dead = _bool(data["is_dead"], "is_dead")
    pid = _int(data.get("driver_pid", 0), "driver_pid")
    if pid:
        ev.driver_pid = pid
    ip = _str(data.get("driver_ip_address", ""), "driver_ip_address")
    if ip:
        ev.driver_ip = ip
    for key, attr in (("start_time", "start_time_ms"), ("end_time", "end_time_ms")):
        value = _int(data.get(key, 0), key)
        if value:
            setattr(ev, attr, value)
    entry = _str(data.get("entrypoint", ""), "entrypoint")
    if entry:
        ev.entrypoint = entry
    config = data.get("config")
    if config:
        config = _dict(config, "config")
        ns = config.get("ray_namespace", "")
        if _str(ns, "config.ray_namespace"):
            ev.ray_namespace = ns
        # `ray job submit` puts the submission id in the driver's job config: the join key.
        metadata = config.get("metadata")
        if metadata:
            sid = _str_map(metadata, "config.metadata").get("job_submission_id", "")
            if sid:
                ev.submission_id = sid
    return ev


def _submission_job(data: dict, ts: float) -> SubmissionJobEvent:
    """A full snapshot of a submitted job's info (Ray writes one at every status change)."""
    sid = _str(data.get("submission_job_id", ""), "submission_job_id")
    if not sid:
        raise MalformedEvent("missing submission_job_id")
    status = _str(data.get("status", "PENDING"), "status")  # PENDING is 0: absent when printed as default
    if status not in JOB_SUBMISSION_STATUSES:
        raise MalformedEvent(f"status: unknown job status {status[:40]!r}")
    ev = SubmissionJobEvent(submission_id=sid, status=status, event_time=ts)
    for key in ("entrypoint", "message", "error_type"):
        value = _str(data.get(key, ""), key)
        if value:
            setattr(ev, key, value)
    for key, attr in (("start_time", "start_time_ms"), ("end_time", "end_time_ms")):
        ms = _int(data.get(key, 0), key)
        if ms:
            setattr(ev, attr, ms)
    if "driver_exit_code" in data:  # optional in Ray's proto: present only once the driver exited
        ev.driver_exit_code = _int(data["driver_exit_code"], "driver_exit_code")
    node = _str(data.get("driver_node_id", ""), "driver_node_id")
    if node:
        ev.driver_node_id = node.lower()
    env = _str(data.get("runtime_env_json", ""), "runtime_env_json")
    if env:
        summary = runtime_env_summary(env)
        if summary:
            ev.runtime_env = summary
    return ev


def _count(value: Any) -> str:
    """How many entries a runtime-env field holds, for the summary ('' when it is one value)."""
    return f"({len(value)})" if isinstance(value, (list, dict)) else ""


def runtime_env_summary(env_json: str) -> str:
    """`runtime_env_json` in one short line: its keys, with how many entries the list/dict ones hold
    (e.g. ``env_vars(2), pip(3), working_dir``). The JSON itself is not shipped: a pip list or env
    vars can be long, and hold secrets. One that is not a JSON object says so, with its size."""
    try:
        env = json.loads(env_json)
    except ValueError:
        return f"unreadable runtime_env_json ({len(env_json)} bytes)"
    if not isinstance(env, dict):
        return f"unreadable runtime_env_json ({len(env_json)} bytes)"
    parts = [f"{key}{_count(value)}" for key, value in sorted(env.items()) if value not in (None, "", [], {})]
    text = ", ".join(parts)
    if len(text) > RUNTIME_ENV_SUMMARY_MAX:
        text = text[: RUNTIME_ENV_SUMMARY_MAX - 1] + "…"
    return text


def _enum(data: dict, key: str, names: tuple[str, ...]) -> str:
    """An enum field printed by name; absent means its zero value (the first name)."""
    value = _str(data.get(key, names[0]), key)
    if value not in names:
        raise MalformedEvent(f"{key}: unknown value {value[:40]!r}")
    return value


def _optional_str(data: dict, key: str) -> str:
    return _str(data.get(key, ""), key)


def _train_run(data: dict, ts: float) -> TrainRunEvent:
    """A full snapshot of a Train run (ExportTrainRunEventData): Ray writes one per status change."""
    run_id = _str(data.get("id", ""), "id")
    if not run_id:
        raise MalformedEvent("missing id")
    ev = TrainRunEvent(run_id=run_id.lower(), name=_optional_str(data, "name"),
                       status=_enum(data, "status", TRAIN_RUN_STATUSES), event_time=ts,
                       start_time_ns=_int(data.get("start_time_ns", 0), "start_time_ns"))
    for key in ("status_detail", "controller_log_file_path"):
        value = _optional_str(data, key)
        if value:
            setattr(ev, key, value)
    if "end_time_ns" in data:  # optional in Ray's proto: present once the run ended
        ev.end_time_ns = _int(data["end_time_ns"], "end_time_ns")
    for key in ("job_id", "controller_actor_id"):
        value = _hex_id(data.get(key, ""), key)
        if value:
            setattr(ev, key, value)
    ev.framework_versions.update(_str_map(data.get("framework_versions", {}), "framework_versions"))
    settings = data.get("run_settings")
    if settings:
        _train_run_settings(ev, _dict(settings, "run_settings"))
    return ev


def _train_run_settings(ev: TrainRunEvent, settings: dict) -> None:
    """The summary of RunSettings a user reads: workers, resources, failures, storage. The rest
    (train_loop_config, data and backend configs) is the user's and can be large: not shipped."""
    scaling = _dict(settings.get("scaling_config", {}), "scaling_config")
    if "num_workers_fixed" in scaling:
        ev.num_workers = _int(scaling["num_workers_fixed"], "scaling_config.num_workers_fixed")
    elif "num_workers_range" in scaling:
        rng = _dict(scaling["num_workers_range"], "scaling_config.num_workers_range")
        ev.min_workers = _int(rng.get("min", 0), "num_workers_range.min")
        ev.max_workers = _int(rng.get("max", 0), "num_workers_range.max")
    per_worker = scaling.get("resources_per_worker")
    if per_worker:
        values = _dict(per_worker, "scaling_config.resources_per_worker").get("values", {})
        ev.resources_per_worker.update(_float_map(values, "resources_per_worker.values"))
    if "use_gpu" in scaling:
        ev.use_gpu = _bool(scaling["use_gpu"], "scaling_config.use_gpu")
    run_config = _dict(settings.get("run_config", {}), "run_config")
    failure = run_config.get("failure_config")
    if failure:
        ev.max_failures = _int(_dict(failure, "failure_config").get("max_failures", 0), "max_failures")
    storage = _str(run_config.get("storage_path", ""), "run_config.storage_path")
    if storage:
        ev.storage_path = storage


def _train_run_attempt(data: dict, ts: float) -> TrainRunAttemptEvent:
    """A full snapshot of a Train run attempt (ExportTrainRunAttemptEventData), workers included."""
    run_id = _str(data.get("run_id", ""), "run_id")
    attempt_id = _str(data.get("attempt_id", ""), "attempt_id")
    if not run_id or not attempt_id:
        raise MalformedEvent("missing run_id or attempt_id")
    ev = TrainRunAttemptEvent(run_id=run_id.lower(), attempt_id=attempt_id.lower(), event_time=ts,
                              status=_enum(data, "status", TRAIN_RUN_ATTEMPT_STATUSES),
                              start_time_ns=_int(data.get("start_time_ns", 0), "start_time_ns"))
    detail = _optional_str(data, "status_detail")
    if detail:
        ev.status_detail = detail
    if "end_time_ns" in data:
        ev.end_time_ns = _int(data["end_time_ns"], "end_time_ns")
    workers = data.get("workers", [])
    if not isinstance(workers, list):
        raise MalformedEvent(f"workers: expected list, got {type(workers).__name__}")
    ev.workers.extend(_train_worker(_dict(w, "workers[]")) for w in workers)
    return ev


def _train_worker(w: dict) -> TrainWorker:
    out = TrainWorker(world_rank=_int(w.get("world_rank", 0), "world_rank"),
                      local_rank=_int(w.get("local_rank", 0), "local_rank"),
                      node_rank=_int(w.get("node_rank", 0), "node_rank"))
    for key in ("actor_id", "node_id"):
        value = _hex_id(w.get(key, ""), f"workers[].{key}")
        if value:
            setattr(out, key, value)
    for key in ("node_ip", "log_file_path"):
        value = _optional_str(w, key)
        if value:
            setattr(out, key, value)
    if w.get("pid"):
        out.pid = _int(w["pid"], "workers[].pid")
    gpu_ids = w.get("gpu_ids", [])
    if not isinstance(gpu_ids, list):
        raise MalformedEvent("workers[].gpu_ids: expected list")
    out.gpu_ids.extend(_int(g, "workers[].gpu_ids[]") for g in gpu_ids)
    if "status" in w:
        out.status = _enum(w, "status", TRAIN_WORKER_STATUSES)
    res = w.get("resources")
    if res:
        out.resources.update(_float_map(_dict(res, "workers[].resources").get("resources", {}),
                                        "workers[].resources.resources"))
    return out


_DECODERS: dict[str, Callable[[dict, float], Event]] = {
    "EXPORT_TASK": _task,
    "EXPORT_ACTOR": _actor,
    "EXPORT_NODE": _node,
    "EXPORT_DRIVER_JOB": _job,
    "EXPORT_SUBMISSION_JOB": _submission_job,
    "EXPORT_TRAIN_RUN": _train_run,
    "EXPORT_TRAIN_RUN_ATTEMPT": _train_run_attempt,
    **data_events.DECODERS,
}


# ------------------------------------------------------------------ entry point


def decode_line(line: bytes) -> Event | None:
    """`decode`, with None for a skipped source type (for callers that need not count them)."""
    ev = decode(line)
    return None if isinstance(ev, Skipped) else ev


def decode(line: bytes) -> Event | Skipped:
    """Decode one export-event line.

    Returns `Skipped` for a source type Rayscope does not decode: one of IGNORED_SOURCES
    (deliberately; none in Ray 2.60) or one unknown to this decoder, so the caller can count
    each apart. Raises MalformedEvent for anything that is not a well-formed Ray export event.
    """
    try:
        env = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from None
    if not isinstance(env, dict):
        raise MalformedEvent(f"envelope: expected object, got {type(env).__name__}")
    source = env.get("source_type")
    if not isinstance(source, str) or not source:
        raise MalformedEvent("missing source_type")
    decoder = _DECODERS.get(source)
    if decoder is None:
        return Skipped(source[:80], source in IGNORED_SOURCES)
    ts = env.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, (int, float, str)):
        raise MalformedEvent("missing or non-numeric timestamp")
    try:
        ts_f = float(ts)
    except ValueError:
        raise MalformedEvent(f"timestamp: not a number: {str(ts)[:40]!r}") from None
    data = env.get("event_data")
    if not isinstance(data, dict):
        raise MalformedEvent("missing event_data")
    try:
        ev = decoder(data, ts_f)
    except data_events.DataEventError as exc:
        raise MalformedEvent(str(exc)) from None
    if isinstance(ev, (TrainRunEvent, TrainRunAttemptEvent)):
        # Train events are kept one by one (a run's status history): Ray's event id keys them.
        ev.event_id = _str(env.get("event_id", ""), "event_id")
        if not ev.event_id:
            raise MalformedEvent("missing event_id")
    return ev
