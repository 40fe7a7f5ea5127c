"""`rayscope list datasets` columns and `rayscope get dataset ID`'s text: one dataset's header, its
operators as a table (the web UI's columns), its issues and bottleneck hint. --json prints the API's
DatasetDetail as is (state_cli.py)."""
from __future__ import annotations

from typing import Any, Optional

from rayscope.cli.format import Column, banner, human_bytes, human_time, render_record, render_table, terminal_width
from rayscope.dashboard.models import DatasetDetail, DatasetOperator


def _of(done: Optional[float], total: Optional[float]) -> str:
    if done is None and total is None:
        return ""
    return f"{'?' if done is None else f'{done:g}'} / {'?' if total is None else f'{total:g}'}"


def _rate(v: Optional[float]) -> str:
    return "" if v is None else f"{v:.1f}"


def _resources(o: DatasetOperator) -> str:
    if o.cpu is None:
        return ""
    # allocated = in use + the executor's remaining budget for the operator
    text = f"CPU {_of(o.cpu, None if o.cpu_budget is None else o.cpu + o.cpu_budget)}"
    if o.gpu or o.gpu_budget:
        gpu = o.gpu or 0.0
        text += f", GPU {_of(gpu, None if o.gpu_budget is None else gpu + o.gpu_budget)}"
    if o.object_store_bytes:
        text += f", store {human_bytes(o.object_store_bytes)}"
    return text


def _col(header: str, fn: Any, priority: int, shrink: bool = False) -> Column:
    return Column(header, fn, priority=priority, shrink=shrink)


OPERATOR_COLUMNS = (
    _col("OPERATOR", lambda o: o.operator_id, 0, shrink=True),
    _col("STATE", lambda o: o.state, 0),
    _col("ROWS", lambda o: _of(o.rows_output, o.estimated_rows), 1),
    _col("BLOCKS", lambda o: _of(o.blocks_output, o.estimated_blocks), 2),
    _col("QUEUED", lambda o: o.queued_blocks, 3),
    _col("TASKS/ACTORS", lambda o: f"{o.ray_tasks_active} / {o.ray_actors_alive}", 4),
    _col("ROWS/S NOW/AVG", lambda o: f"{_rate(o.throughput_current)} / {_rate(o.throughput_avg)}", 5),
    _col("RESOURCES", _resources, 6, shrink=True),
    _col("INPUTS", lambda o: ", ".join(o.input_dependencies), 8, shrink=True),
)


def dataset_text(d: DatasetDetail) -> str:
    head = [("dataset_id", d.dataset_id), ("job_id", d.job_id), ("state", d.state),
            ("start_time", human_time(d.start_time)), ("execution_end_time", human_time(d.execution_end_time)),
            ("progress", d.progress_source_text), ("bottleneck", d.bottleneck), ("progress_error", d.progress_error),
            ("progress_hint", d.progress_hint)]
    parts = [banner(f"Dataset {d.dataset_id}"), render_record([(k, v) for k, v in head if v]), "",
             render_table(OPERATOR_COLUMNS, d.operators, width=terminal_width())]
    for o in d.operators:
        if o.output_schema:
            parts.append(f"schema of {o.operator_id}: " + ", ".join(f"{k}: {v}" for k, v in o.output_schema.items()))
    for i in d.issues:
        parts.append(f"issue {i.issue_type} at {human_time(i.event_time)} in {i.operator_id}: {i.message}")
    return "\n".join(parts)
