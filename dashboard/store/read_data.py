"""Reading one dataset (GET /datasets/{id}): its operators with their latest figures, schemas,
issues, Ray task/actor counts by label, throughput and the bottleneck hint. Reads only the store,
so a stopped cluster's store (history mode) answers the same."""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from rayscope.dashboard import data_insights as di
from rayscope.dashboard import data_models as dm
from rayscope.dashboard.store.schema_data import PROGRESS_COLUMNS

_FIGURES = tuple(c for c in PROGRESS_COLUMNS[2:] if c not in ("operator_uuid", "finished", "error",
                                                            "cluster_cpu_limit", "cluster_gpu_limit"))
_SAMPLE_FIELDS = ("rows_output", "queued_blocks", "tasks_running", "actors_alive", "cpu", "gpu",
                  "cluster_cpu_limit", "cluster_gpu_limit")


def dataset_row(r: sqlite3.Row) -> dm.Dataset:
    fields = {k: r[k] for k in dm.DatasetBase.model_fields}
    return dm.Dataset(**fields, operators=json.loads(r["operators"] or "[]"))


def _recent_samples(conn: sqlite3.Connection, dataset_id: str, operator_id: str,
                    until: float) -> list[di.Sample]:
    rows = conn.execute(
        f"SELECT sample_time, finished, {', '.join(_SAMPLE_FIELDS)} FROM dataset_progress "
        "WHERE dataset_id = ? AND operator_id = ? AND sample_time >= ? ORDER BY sample_time",
        (dataset_id, operator_id, until - di.WINDOW_S)).fetchall()
    return [di.Sample(t=r["sample_time"], finished=bool(r["finished"]),
                      **{k: r[k] if r[k] is not None or k.startswith("cluster_") else 0 for k in _SAMPLE_FIELDS})
            for r in rows]


def _label_counts(conn: sqlite3.Connection, uuids: list[str]) -> tuple[dict, dict]:
    if not uuids:
        return {}, {}
    marks = ",".join("?" * len(uuids))
    tasks = {r[0]: r[1:] for r in conn.execute(
        "SELECT data_operator_id, count(*), sum(state NOT IN ('FINISHED', 'FAILED')), sum(state = 'FAILED') "
        f"FROM tasks WHERE data_operator_id IN ({marks}) GROUP BY data_operator_id", uuids)}
    actors = {r[0]: r[1:] for r in conn.execute(
        "SELECT data_operator_id, count(*), sum(state = 'ALIVE') "
        f"FROM actors WHERE data_operator_id IN ({marks}) GROUP BY data_operator_id", uuids)}
    return tasks, actors


def dataset_detail(conn: sqlite3.Connection, dataset_id: str) -> Optional[dm.DatasetDetail]:
    head = conn.execute("SELECT * FROM datasets_v WHERE dataset_id = ?", (dataset_id,)).fetchone()
    if head is None:
        return None
    ops = conn.execute(
        "SELECT o.*, s.fields AS schema_fields, p.sample_time AS p_time, p.first_sample_time, p.finished, "
        f"{', '.join('p.' + c + ' AS p_' + c for c in _FIGURES)} "
        "FROM dataset_operators o LEFT JOIN dataset_schemas s ON s.operator_uuid = o.uuid "
        "LEFT JOIN dataset_progress_latest p ON p.dataset_id = o.dataset_id AND p.operator_id = o.operator_id "
        "WHERE o.dataset_id = ? ORDER BY o.position", (dataset_id,)).fetchall()
    tasks, actors = _label_counts(conn, [r["uuid"] for r in ops if r["uuid"]])
    names = {r["operator_id"]: r["name"] for r in ops}
    operators, samples = [], []
    for r in ops:
        recent = _recent_samples(conn, dataset_id, r["operator_id"], r["p_time"]) if r["p_time"] else []
        t, a = tasks.get(r["uuid"], (0, 0, 0)), actors.get(r["uuid"], (0, 0))
        figures = {c: r["p_" + c] for c in _FIGURES if c != "sample_time"}
        start = r["execution_start_time"] or r["first_sample_time"]
        end = r["execution_end_time"] if r["state"] in ("FINISHED", "FAILED") and r["execution_end_time"] else r["p_time"]
        deps = json.loads(r["input_dependencies"])
        operators.append(dm.DatasetOperator(
            operator_id=r["operator_id"], uuid=r["uuid"], name=r["name"], state=r["state"], position=r["position"],
            input_dependencies=deps, sub_stages=json.loads(r["sub_stages"]),
            execution_start_time=r["execution_start_time"], execution_end_time=r["execution_end_time"],
            args_summary=r["args_summary"],
            output_schema=json.loads(r["schema_fields"]) if r["schema_fields"] else None,
            sample_time=r["p_time"], **figures,
            throughput_current=di.throughput_current(recent) if r["state"] == "RUNNING" else None,
            throughput_avg=di.throughput_avg(r["p_rows_output"], start, end),
            ray_tasks=t[0] or 0, ray_tasks_active=t[1] or 0, ray_tasks_failed=t[2] or 0,
            ray_actors=a[0] or 0, ray_actors_alive=a[1] or 0))
        samples.append(di.OperatorSamples(r["operator_id"], r["name"], recent,
                                          tuple(names.get(d, d) for d in deps)))
    issues = [dm.DatasetIssue(operator_id=r[0], operator_name=r[1], issue_type=r[2], message=r[3], event_time=r[4])
              for r in conn.execute("SELECT operator_id, operator_name, issue_type, message, event_time "
                                    "FROM dataset_issues WHERE dataset_id = ? ORDER BY event_time", (dataset_id,))]
    err = conn.execute("SELECT error FROM dataset_progress_latest WHERE dataset_id = ? AND operator_id = ''",
                       (dataset_id,)).fetchone()
    has_progress = head["progress_time"] is not None
    source = head["progress_source"]
    return dm.DatasetDetail(
        **{k: head[k] for k in dm.DatasetBase.model_fields}, operators=operators, issues=issues,
        bottleneck=di.bottleneck(head["state"], samples), has_progress=has_progress,
        progress_error=err[0] if err else None,
        progress_hint=None if source == "callback" else dm.PROGRESS_HINT,
        progress_source_text=dm.PROGRESS_SOURCE_TEXT.get(source) if source else None)
