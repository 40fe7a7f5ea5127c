"""Listing specs per resource: which model fields can be filtered/sorted and how they map to SQL."""
from __future__ import annotations

from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.store import read_data, read_train, rows
from rayscope.dashboard.store.agent_liveness import live_agent_sql, liveness_cutoff
from rayscope.dashboard.store.listing import Column, ListSpec
from rayscope.dashboard.store.schema import TASK_DURATION_SQL
from rayscope.dashboard.train_models import TrainRun


def _cols(model, overrides: dict[str, Column] | None = None, skip: tuple[str, ...] = ()) -> dict[str, Column]:
    """Every scalar field of the model as a column of the same name, typed from its annotation."""
    out: dict[str, Column] = {}
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        base = next((a for a in (ann, *args) if a in (str, int, float, bool)), str)
        if getattr(ann, "__origin__", None) in (dict, list):
            continue
        nullable = type(None) in args
        out[name] = Column(name, base, nullable)
    out.update(overrides or {})
    return out


TASKS: ListSpec[m.Task] = ListSpec(
    source="tasks",
    columns=_cols(m.Task, {"duration": Column(TASK_DURATION_SQL, float),
                           "state": Column("state", str, nullable=False),
                           "is_debugger_paused": Column("is_debugger_paused", bool)},
                 skip=("stuck",)),  # computed at read time (read_stuck.py): no column
    key=("id",),  # the rowid: unique, and implicitly the last column of every listing index
    default_sort="-creation_time",
    to_model=rows.task,
)

ACTORS: ListSpec[m.Actor] = ListSpec(
    source="actors", columns=_cols(m.Actor), key=("actor_id",), default_sort="-start_time", to_model=rows.actor)

DATASETS: ListSpec[m.Dataset] = ListSpec(
    source="datasets_v", columns=_cols(m.Dataset), key=("dataset_id",), default_sort="-start_time",
    to_model=read_data.dataset_row)

# Drivers in a `_ray_internal` namespace are Ray's (and Rayscope's Serve poller, runtime/serve_poller.py):
# hidden from the listing as Ray's own UI hides them; /jobs/{id} still answers for them. A submission
# without a driver job has job_id null: row_key (schema.py, jobs_v) keeps the cursor's key unique.
JOBS: ListSpec[m.Job] = ListSpec(
    source="(SELECT * FROM jobs_v WHERE coalesce(ray_namespace, '') NOT LIKE '\\_ray\\_internal%' ESCAPE '\\')",
    columns=_cols(m.Job), key=("row_key",), default_sort="-start_time", to_model=rows.job)


TRAIN_RUNS: ListSpec[TrainRun] = ListSpec(
    source="train_runs_v", columns=_cols(TrainRun), key=("run_id",), default_sort="-start_time",
    to_model=read_train.train_run)


# A node's latest sample as a share of its capacity, for "which nodes are at least this busy"
# (the nodes table's hot-node filter: the listing's own filters only test equality).
NODE_PERCENT_SQL = {
    "cpu": "n.cpu_percent",
    "mem": "100.0 * n.mem_used / NULLIF(n.mem_total, 0)",
    "store": "100.0 * n.object_store_used / NULLIF(n.object_store_capacity, 0)",
}


def nodes_spec(live: bool, now: float, min_percent: Optional[dict[str, float]] = None) -> ListSpec[m.Node]:
    """Nodes with agent liveness: connected means a stream is open and it spoke recently.
    `min_percent` keeps the nodes whose latest figure is at least that percent (keys of NODE_PERCENT_SQL)."""
    connected = f"coalesce({live_agent_sql('a')}, 0)" if live else "0"
    floors = sorted((min_percent or {}).items())
    where = " AND ".join(f"{NODE_PERCENT_SQL[k]} >= ?" for k, _ in floors)
    source = (f"(SELECT n.*, {connected} AS agent_connected, a.last_seen AS agent_last_seen FROM nodes n "
              "LEFT JOIN (SELECT node_id, max(connected) AS connected, max(last_seen) AS last_seen "
              f"FROM agents GROUP BY node_id) a USING (node_id){' WHERE ' + where if where else ''})")
    params = ((liveness_cutoff(now),) if live else ()) + tuple(v for _, v in floors)
    return ListSpec(source=source, columns=_cols(m.Node), key=("node_id",), default_sort="node_id",
                    to_model=rows.node, params=params)


PROCESSES: ListSpec[m.Process] = ListSpec(
    source="processes_v", columns=_cols(m.Process), key=("node_id", "pid"), default_sort="node_id",
    to_model=rows.process)

_WORKER_FIELDS = ", ".join(f for f in m.Worker.model_fields if f != "is_alive")


def workers_spec(live: bool) -> ListSpec[m.Worker]:
    """Every worker ever seen. A finished cluster (history mode) has no live worker: one whose death
    was never reported (the cluster stopped before the next read of GCS) is not shown alive."""
    source = "workers_v" if live else f"(SELECT row_key, {_WORKER_FIELDS}, 0 AS is_alive FROM workers_v)"
    return ListSpec(source=source, columns=_cols(m.Worker), key=("row_key",), default_sort="node_id",
                    to_model=rows.worker)

OBJECTS: ListSpec[m.ObjectRef] = ListSpec(
    source="object_refs", columns=_cols(m.ObjectRef), key=("node_id", "seq"), default_sort="node_id",
    to_model=rows.object_ref)

LOG_FILES: ListSpec[m.LogFile] = ListSpec(
    source="log_files", columns=_cols(m.LogFile), key=("file_id",), default_sort="path", to_model=rows.log_file)

# The head's alerts as the API shows them: firing and resolved (pending ones have not fired yet:
# dashboard/alerting/machine.py). Newest first.
ALERTS: ListSpec[m.Alert] = ListSpec(
    source="(SELECT * FROM alerts WHERE state != 'pending')", columns=_cols(m.Alert), key=("alert_id",),
    default_sort="-since", to_model=rows.alert)
