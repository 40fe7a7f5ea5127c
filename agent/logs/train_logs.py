"""Ray Train's own log files, `<session>/logs/train/` (one per controller and per worker actor).

The node's main tailer reads only the top of `<session>/logs/`; Ray Train 2.60 writes each run's
controller and worker logs (`ray-train-app-controller-*.log`, `ray-train-app-worker-*.log`, with
what the train function prints, through Train's print patch) one level down. Their Rayscope file
ids are `<node_id>:train/<name>`, the path under `<session>/logs` like every other file's, so the
head maps Train's absolute `log_file_path` to them (dashboard/store/read_train.py). Where Train is
not used the directory does not exist and each poll costs one failed `scandir`.
"""
from __future__ import annotations

import os

from rayscope.agent.logs.files import is_log_file
from rayscope.agent.logs.tailer import PollResult, Tailer

TRAIN_LOG_DIR = "train"


def train_log_tailer(session_dir: str, node_id: str) -> Tailer:
    return Tailer(os.path.join(session_dir, "logs", TRAIN_LOG_DIR), node_id, accept=is_log_file,
                  path_prefix=f"{TRAIN_LOG_DIR}/")


def rel_paths(res: PollResult) -> list[str]:
    """The new files of a poll as paths under `<session>/logs` (what `describe` names them by)."""
    return [f"{TRAIN_LOG_DIR}/{p}" for p in res.new_files]
