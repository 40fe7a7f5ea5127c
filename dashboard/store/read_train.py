"""Reading Ray Train runs from the store (tables in schema_train.py): a listing row, one run
with its attempts, workers and status history, and the map from Ray's absolute log paths to
Rayscope's log file ids (`<node_id>:<path under the session's logs dir>`, as the agents name them)."""
from __future__ import annotations

import json
import sqlite3
from typing import Optional

from rayscope.dashboard.train_models import TrainRun, TrainRunAttempt, TrainRunDetail, TrainStatusChange, TrainWorker

_RUN_JSON = ("resources_per_worker", "framework_versions")


def _run_fields(r: sqlite3.Row) -> dict:
    d = {k: r[k] for k in TrainRun.model_fields}
    for k in _RUN_JSON:
        d[k] = json.loads(d[k])
    if d["use_gpu"] is not None:
        d["use_gpu"] = bool(d["use_gpu"])
    return d


def train_run(r: sqlite3.Row) -> TrainRun:
    return TrainRun(**_run_fields(r))


def log_file_id(conn: sqlite3.Connection, node_id: Optional[str], path: Optional[str]) -> Optional[str]:
    """Rayscope's id of the log file at Ray's absolute `path` on `node_id`, if an agent shipped it."""
    if not node_id or not path:
        return None
    for (session_dir,) in conn.execute("SELECT DISTINCT session_dir FROM agents WHERE node_id = ? "
                                       "AND session_dir IS NOT NULL", (node_id,)):
        prefix = f"{session_dir.rstrip('/')}/logs/"
        if path.startswith(prefix):
            file_id = f"{node_id}:{path[len(prefix):]}"
            if conn.execute("SELECT 1 FROM log_files WHERE file_id = ?", (file_id,)).fetchone():
                return file_id
    return None


def _worker(conn: sqlite3.Connection, r: sqlite3.Row) -> TrainWorker:
    d = {k: r[k] for k in TrainWorker.model_fields if k != "log_file_id"}
    d["gpu_ids"] = json.loads(d["gpu_ids"])
    d["resources"] = json.loads(d["resources"])
    return TrainWorker(**d, log_file_id=log_file_id(conn, r["node_id"], r["log_file_path"]))


def _attempt(conn: sqlite3.Connection, r: sqlite3.Row) -> TrainRunAttempt:
    workers = [_worker(conn, w) for w in conn.execute(
        "SELECT * FROM train_workers WHERE attempt_id = ? ORDER BY world_rank", (r["attempt_id"],))]
    end, start = r["end_time"], r["start_time"]
    return TrainRunAttempt(attempt_id=r["attempt_id"], run_id=r["run_id"], status=r["status"],
                           status_detail=r["status_detail"], start_time=start, end_time=end,
                           duration=(end - start) if end is not None and start is not None else None,
                           workers=workers)


def train_run_detail(conn: sqlite3.Connection, run_id: str) -> Optional[TrainRunDetail]:
    """One run with its attempts (oldest first), their workers and its status history; None if unknown."""
    r = conn.execute("SELECT * FROM train_runs_v WHERE run_id = ?", (run_id,)).fetchone()
    if r is None:
        return None
    attempts = [_attempt(conn, a) for a in conn.execute(
        "SELECT * FROM train_run_attempts WHERE run_id = ? ORDER BY start_time, attempt_id", (run_id,))]
    history = [TrainStatusChange(event_time=h["event_time"], attempt_id=h["attempt_id"], status=h["status"],
                                 status_detail=h["status_detail"])
               for h in conn.execute("SELECT * FROM train_status_history WHERE run_id = ? ORDER BY id", (run_id,))]
    controller = conn.execute("SELECT node_id FROM actors WHERE actor_id = ?", (r["controller_actor_id"],)).fetchone()
    controller_log = log_file_id(conn, controller[0] if controller else None, r["controller_log_file_path"])
    return TrainRunDetail(**_run_fields(r), controller_log_file_id=controller_log, attempts=attempts, history=history)
