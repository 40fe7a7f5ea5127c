"""Stored rows -> API models (dashboard/models.py); the only place that knows both shapes."""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.store.schema import TS_COLUMNS
from rayscope.runtime.ray_enums import TASK_STATUS_NAMES


def _json(v: Optional[str]) -> dict:
    return json.loads(v) if v else {}


def _bool(v) -> Optional[bool]:
    return None if v is None else bool(v)


def task(r: sqlite3.Row) -> m.Task:
    start, end = r["start_time"], r["end_time"]
    times = {TASK_STATUS_NAMES[i + 1]: r[c] for i, c in enumerate(TS_COLUMNS) if r[c] is not None}
    return m.Task(
        task_id=r["task_id"], attempt=r["attempt"], job_id=r["job_id"], name=r["name"], type=r["type"],
        language=r["language"], state=r["state"], parent_task_id=r["parent_task_id"], actor_id=r["actor_id"],
        placement_group_id=r["placement_group_id"], node_id=r["node_id"], worker_id=r["worker_id"],
        worker_pid=r["worker_pid"], required_resources=_json(r["required_resources"]),
        creation_time=r["creation_time"], start_time=start, end_time=end,
        duration=(end - start) if start is not None and end is not None else None,
        error_type=r["error_type"], error_message=r["error_message"], state_times=times,
        is_debugger_paused=_bool(r["is_debugger_paused"]), data_operator_id=r["data_operator_id"],
    )


def actor(r: sqlite3.Row) -> m.Actor:
    return m.Actor(
        actor_id=r["actor_id"], job_id=r["job_id"], state=r["state"], class_name=r["class_name"], name=r["name"],
        repr_name=r["repr_name"], ray_namespace=r["ray_namespace"], pid=r["pid"], node_id=r["node_id"],
        is_detached=_bool(r["is_detached"]), required_resources=_json(r["required_resources"]),
        death_cause=r["death_cause"], num_restarts=r["num_restarts"], start_time=r["start_time"],
        end_time=r["end_time"], data_operator_id=r["data_operator_id"],
    )


def node(r: sqlite3.Row) -> m.Node:
    return m.Node(
        node_id=r["node_id"], node_ip=r["node_ip"], node_name=r["node_name"], hostname=r["hostname"],
        state=r["state"], is_head_node=bool(r["is_head_node"]), resources_total=_json(r["resources_total"]),
        labels=_json(r["labels"]), start_time=r["start_time"], end_time=r["end_time"],
        death_reason=r["death_reason"], death_message=r["death_message"],
        agent_connected=bool(r["agent_connected"]), agent_last_seen=r["agent_last_seen"],
        metrics_url=r["metrics_url"], cpu_percent=r["cpu_percent"], mem_used=r["mem_used"],
        mem_total=r["mem_total"], object_store_used=r["object_store_used"],
        object_store_capacity=r["object_store_capacity"], num_gpus=r["num_gpus"],
    )


def job(r: sqlite3.Row) -> m.Job:
    return m.Job(**{k: r[k] for k in m.Job.model_fields})


def process(r: sqlite3.Row) -> m.Process:
    return m.Process(**{k: r[k] for k in m.Process.model_fields})


def worker(r: sqlite3.Row) -> m.Worker:
    d = {k: r[k] for k in m.Worker.model_fields}
    d["is_alive"] = bool(d["is_alive"])
    return m.Worker(**d)


def object_ref(r: sqlite3.Row) -> m.ObjectRef:
    return m.ObjectRef(**{k: r[k] for k in m.ObjectRef.model_fields})


def log_file(r: sqlite3.Row) -> m.LogFile:
    return m.LogFile(**{k: r[k] for k in m.LogFile.model_fields})


def alert(r: sqlite3.Row) -> m.Alert:
    return m.Alert(
        alert_id=r["alert_id"], name=r["name"], state=r["state"], severity=r["severity"], summary=r["summary"],
        description=r["description"], since=r["since"], resolved_at=r["resolved_at"], node_id=r["node_id"],
        node_ip=r["node_ip"], job_id=r["job_id"], value=r["value"], labels=_json(r["labels"]),
    )
