"""`rayscope list train-runs` and `rayscope get train-run ID`: Ray Train runs over the head's API.

The listing's columns and the run's text detail (attempts, then each attempt's workers, errors in
full, then the status history); `--json` prints the API's models as they are."""
from __future__ import annotations

from typing import Any, Optional

from rayscope.cli.format import Column, banner, human_duration, human_time, render_record, render_table, terminal_width
from rayscope.dashboard.train_models import TrainRun, TrainRunDetail

TRAIN_RUNS_PATH = "/train/runs"


def _workers(run: TrainRun) -> str:
    if run.num_workers is not None:
        return str(run.num_workers)
    if run.min_workers is not None or run.max_workers is not None:
        return f"{run.min_workers}-{run.max_workers}"
    return ""


def _resources(res: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:g}" for k, v in sorted(res.items()))


def _c(header: str, fn: Any, priority: int, shrink: bool = False) -> Column:
    return Column(header, fn, priority=priority, shrink=shrink, align_right=False)


COLUMNS: tuple[Column, ...] = (
    _c("RUN_ID", lambda r: r.run_id, 0), _c("NAME", lambda r: r.name, 1, shrink=True),
    _c("STATUS", lambda r: r.status, 1), _c("ATTEMPTS", lambda r: r.num_attempts, 2),
    _c("WORKERS", _workers, 3), _c("RESOURCES_PER_WORKER", lambda r: _resources(r.resources_per_worker), 6),
    _c("START_TIME", lambda r: human_time(r.start_time), 4), _c("DURATION", lambda r: human_duration(r.duration), 5),
    _c("JOB_ID", lambda r: r.job_id or "", 7), _c("STATUS_DETAIL", lambda r: r.status_detail or "", 20, shrink=True),
)


def _t(ts: Optional[float]) -> str:
    return human_time(ts) if ts is not None else ""


def detail_text(run: TrainRunDetail) -> str:
    """The run, its settings, each attempt with its workers and error, and the status history."""
    out = [banner(f"Train run {run.name} ({run.run_id})")]
    out.append(_record([
        ("status", run.status), ("status_detail", run.status_detail), ("job_id", run.job_id),
        ("start_time", _t(run.start_time)), ("end_time", _t(run.end_time)),
        ("duration", human_duration(run.duration) if run.duration is not None else None),
        ("workers", _workers(run)), ("resources_per_worker", _resources(run.resources_per_worker)),
        ("use_gpu", run.use_gpu), ("max_failures", run.max_failures), ("storage_path", run.storage_path),
        ("controller_actor_id", run.controller_actor_id), ("controller_log", run.controller_log_file_path),
        ("framework_versions", _resources_str(run.framework_versions)),
    ]))
    for i, a in enumerate(run.attempts, 1):
        out.append(f"--- attempt {i}: {a.attempt_id} {a.status} ---")
        out.append(_record([("start_time", _t(a.start_time)), ("end_time", _t(a.end_time)),
                                  ("duration", human_duration(a.duration) if a.duration is not None else None)]))
        if a.workers:
            out.append(render_table(WORKER_COLUMNS, a.workers, terminal_width()))
        if a.status_detail:
            out.append(a.status_detail)
    out.append("--- status history ---")
    for h in run.history:
        who = f"attempt {h.attempt_id[:8]}" if h.attempt_id else "run"
        out.append(f"{human_time(h.event_time)}  {who:<16} {h.status}")
    return "\n".join(out)


def _record(pairs: list[tuple[str, Any]]) -> str:
    return render_record([(k, v) for k, v in pairs if v is not None and v != ""])


def _resources_str(values: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items()))


WORKER_COLUMNS: tuple[Column, ...] = (
    _c("RANK", lambda w: w.world_rank, 0), _c("LOCAL_RANK", lambda w: w.local_rank, 4),
    _c("NODE_RANK", lambda w: w.node_rank, 5), _c("STATUS", lambda w: w.status or "", 1),
    _c("PID", lambda w: w.pid or "", 1), _c("NODE_IP", lambda w: w.node_ip or "", 2),
    _c("RESOURCES", lambda w: _resources(w.resources), 3), _c("NODE_ID", lambda w: w.node_id or "", 6),
    _c("ACTOR_ID", lambda w: w.actor_id or "", 7), _c("LOG_FILE", lambda w: w.log_file_path or "", 8, shrink=True),
)
