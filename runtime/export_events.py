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
from rayscope.runtime.ray_enums import JOB_SUBMISSION_STATUSES, TASK_STATUS
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent, JobEvent, NodeEvent, SubmissionJobEvent, TaskEvent

__all__ = ["MalformedEvent", "Event", "Skipped", "decode", "decode_line", "IGNORED_SOURCES"]

Event = Union[TaskEvent, ActorEvent, NodeEvent, JobEvent, SubmissionJobEvent, data_events.DataEvent]

# Source types Ray 2.60 writes that Rayscope does not read yet, on purpose: the Ray libraries'
# (ExportEvent.SourceType 5-6; issue 13 reads them; Ray Data's 7-9: data_events.py). Their lines are counted as ignored by design;
# any other source type is unknown to this decoder (a newer Ray) and counted apart.
IGNORED_SOURCES = frozenset(
    {
        "EXPORT_TRAIN_RUN",
        "EXPORT_TRAIN_RUN_ATTEMPT",
    }
)

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


_DECODERS: dict[str, Callable[[dict, float], Event]] = {
    "EXPORT_TASK": _task,
    "EXPORT_ACTOR": _actor,
    "EXPORT_NODE": _node,
    "EXPORT_DRIVER_JOB": _job,
    "EXPORT_SUBMISSION_JOB": _submission_job,
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
    (the Ray libraries', deliberately) or one unknown to this decoder, so the caller can count
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
        return decoder(data, ts_f)
    except data_events.DataEventError as exc:
        raise MalformedEvent(str(exc)) from None
