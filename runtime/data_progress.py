"""Live Ray Data progress: an ExecutionCallback that samples every operator about once a second.

Why: Ray's own sources refresh every 5-10 s and have no rows output, tasks, actors or resources
without a Prometheus server (docs/ray-integration.md). The executor knows all of it; this
callback, loaded by Ray in the driver when the driver's environment has
``RAY_DATA_EXECUTION_CALLBACKS=rayscope.runtime.data_progress.ProgressCallback``, writes one JSON
line per operator per sample in Ray's export-event envelope to
``<session>/logs/export_events/event_RAYSCOPE_DATA_PROGRESS_<pid>.log``, a file the node's agent
already tails (rotation, checkpoints and drop reports apply); runtime/data_events.py decodes it.

Rules: it never breaks the user's pipeline (every error is caught; the first one is written once
as a line with `error`, which the head shows on the dataset, and sampling stops for that dataset);
the file is bounded (rotated once over MAX_FILE_BYTES, one backup); it imports only the standard
library and Ray. It is opt-in: Ray raises on every dataset if the module in that variable cannot be
imported, so `rayscope start` does not set it for drivers it cannot see.
Reads Ray Data internals (StreamingExecutor, OpRuntimeMetrics, OpState, ResourceManager): checked
against Ray 2.60; a missing attribute reads as absent, not as an error.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from typing import Any, Optional

from ray.data._internal.execution.execution_callback import ExecutionCallback

from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV

SOURCE_TYPE = "RAYSCOPE_DATA_PROGRESS"  # = runtime/data_events.PROGRESS_SOURCE
SAMPLE_INTERVAL_S = 1.0
MAX_FILE_BYTES = 16 << 20
ENV_VALUE = DATA_PROGRESS_ENV["RAY_DATA_EXECUTION_CALLBACKS"]  # this class's own path


class _Writer:
    """The process's one progress file, shared by every dataset's callback (datasets can run in
    several threads at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: Any = None
        self._path = ""

    def _open(self) -> None:
        import ray

        node = ray._private.worker._global_node
        if node is None:
            raise RuntimeError("not in a Ray driver (ray.init was not called)")
        folder = os.path.join(node.get_logs_dir_path(), "export_events")
        os.makedirs(folder, exist_ok=True)
        self._path = os.path.join(folder, f"event_{SOURCE_TYPE}_{os.getpid()}.log")
        self._file = open(self._path, "a", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        now = time.time()
        text = "".join(json.dumps({"event_id": secrets.token_hex(9), "timestamp": int(now),
                                   "source_type": SOURCE_TYPE, "event_data": row}, separators=(",", ":")) + "\n"
                       for row in rows)
        with self._lock:
            if self._file is None:
                self._open()
            self._file.write(text)
            self._file.flush()
            if self._file.tell() > MAX_FILE_BYTES:  # rotate like Ray's RotatingFileHandler, one backup
                self._file.close()
                os.rename(self._path, self._path + ".1")  # a rotation (as Ray's handler does), not a write
                self._file = open(self._path, "a", encoding="utf-8")


_WRITER = _Writer()


def _get(obj: Any, name: str) -> Any:
    """An attribute or zero-argument method's value; None when this Ray has no such thing."""
    value = getattr(obj, name, None)
    if callable(value):
        try:
            value = value()
        except Exception:  # noqa: BLE001 - a figure Ray cannot give now is absent, not an error
            return None
    return value


def _call(fn: Any, *args: Any) -> Any:
    """A resource manager's figure; None when it has none yet (e.g. an operator it has not
    accounted for: `get_op_usage` raises KeyError for the input buffer before its first update)."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001
        return None


def _num(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _inf_to_none(value: Any) -> Optional[float]:
    v = _num(value)
    return v if v is not None and v != float("inf") else None


def operator_sample(dataset_id: str, op: Any, op_id: str, state: Any, resources: Any, now: float) -> dict:
    """One operator's figures as a progress line's event_data."""
    m = op.metrics
    row: dict[str, Any] = {
        "dataset_id": dataset_id, "operator_id": op_id, "operator_uuid": str(getattr(op, "id", "")),
        "sample_time": now,
        "rows_output": int(_num(_get(m, "row_outputs_taken")) or 0),
        "blocks_output": int(_num(_get(m, "num_outputs_taken")) or 0),
        "bytes_output": int(_num(_get(m, "bytes_outputs_taken")) or 0),
        "estimated_rows": _get(op, "num_output_rows_total"),
        "estimated_blocks": _get(op, "num_outputs_total"),
        "queued_blocks": int(_num(_get(state, "total_enqueued_input_blocks")) or 0),
        "tasks_running": int(_num(_get(m, "num_tasks_running")) or 0),
        "tasks_finished": int(_num(_get(m, "num_tasks_finished")) or 0),
        "tasks_failed": int(_num(_get(m, "num_tasks_failed")) or 0),
        "object_store_bytes": int(_num(_get(m, "obj_store_mem_used")) or 0),
        "finished": bool(_get(op, "has_execution_finished")),
    }
    info = _get(op, "get_actor_info")
    row["actors_alive"] = int(_num(getattr(info, "running", 0)) or 0)
    row["actors_pending"] = int(_num(getattr(info, "pending", 0)) or 0)
    usage = _call(resources.get_op_usage, op) if resources is not None else None
    row["cpu"] = _num(getattr(usage, "cpu", 0)) or 0.0
    row["gpu"] = _num(getattr(usage, "gpu", 0)) or 0.0
    budget = _call(resources.get_budget, op) if resources is not None else None
    if budget is not None:
        row["cpu_budget"] = _inf_to_none(getattr(budget, "cpu", None))
        row["gpu_budget"] = _inf_to_none(getattr(budget, "gpu", None))
        store = _inf_to_none(getattr(budget, "object_store_memory", None))
        row["object_store_budget"] = int(store) if store is not None else None
    if resources is not None:
        limits = _call(resources.get_global_limits)
        row["cluster_cpu_limit"] = _inf_to_none(getattr(limits, "cpu", None))
        row["cluster_gpu_limit"] = _inf_to_none(getattr(limits, "gpu", None))
    return row


def executor_samples(executor: Any, now: float) -> list[dict]:
    """Every operator of a StreamingExecutor, in topology order (its ids are Ray's `<name>_<index>`)."""
    topology = executor._topology or {}
    resources = getattr(executor, "_resource_manager", None)
    dataset_id = executor._dataset_id
    return [operator_sample(dataset_id, op, f"{op.name}_{i}", state, resources, now)
            for i, (op, state) in enumerate(topology.items())]


class ProgressCallback(ExecutionCallback):
    """Samples at most once per SAMPLE_INTERVAL_S while running, and at start, success and failure."""

    def __init__(self) -> None:
        self._last = 0.0
        self._failed = False

    def _sample(self, executor: Any, force: bool) -> None:
        if self._failed:
            return
        now = time.time()
        if not force and now - self._last < SAMPLE_INTERVAL_S:
            return
        self._last = now
        try:
            rows = executor_samples(executor, now)
            if rows:
                _WRITER.write(rows)
        except Exception as exc:  # noqa: BLE001 - the user's pipeline must go on
            self._failed = True
            try:
                _WRITER.write([{"dataset_id": str(getattr(executor, "_dataset_id", "")), "sample_time": now,
                                "error": f"Rayscope's Data progress callback stopped: {type(exc).__name__}: {exc}"}])
            except Exception:  # noqa: BLE001 - nowhere left to report it
                pass

    def before_execution_starts(self, executor: Any) -> None:
        self._sample(executor, force=True)

    def on_execution_step(self, executor: Any) -> None:
        self._sample(executor, force=False)

    def after_execution_succeeds(self, executor: Any) -> None:
        self._sample(executor, force=True)

    def after_execution_fails(self, executor: Any, error: Exception) -> None:
        self._sample(executor, force=True)
