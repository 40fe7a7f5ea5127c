"""The Ray Train tables of the head's store (Ray's EXPORT_TRAIN_RUN / EXPORT_TRAIN_RUN_ATTEMPT).

Ray writes a full snapshot of a run or an attempt at every status change; the tables keep the
latest per id (the newest event_time; on a tie, the one applied last: one process, the train
state actor, writes them all in order to one file) and, in `train_status_history`, every event
once (keyed by Ray's event id): the transitions Ray's own UI forgets. Appended to schema.SCHEMA.
"""
from __future__ import annotations

TRAIN_SCHEMA = """
CREATE TABLE IF NOT EXISTS train_runs (
  run_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  status_detail TEXT,
  start_time REAL,
  end_time REAL,
  job_id TEXT,
  controller_actor_id TEXT,
  controller_log_file_path TEXT,
  framework_versions TEXT NOT NULL DEFAULT '{}',
  num_workers INTEGER,
  min_workers INTEGER,
  max_workers INTEGER,
  resources_per_worker TEXT NOT NULL DEFAULT '{}',
  use_gpu INTEGER,
  max_failures INTEGER,
  storage_path TEXT,
  event_time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS train_run_attempts (
  attempt_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  status TEXT NOT NULL,
  status_detail TEXT,
  start_time REAL,
  end_time REAL,
  event_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS train_run_attempts_by_run ON train_run_attempts(run_id, start_time);
CREATE TABLE IF NOT EXISTS train_workers (
  attempt_id TEXT NOT NULL,
  world_rank INTEGER NOT NULL,
  local_rank INTEGER NOT NULL,
  node_rank INTEGER NOT NULL,
  actor_id TEXT,
  node_id TEXT,
  node_ip TEXT,
  pid INTEGER,
  gpu_ids TEXT NOT NULL DEFAULT '[]',
  status TEXT,
  resources TEXT NOT NULL DEFAULT '{}',
  log_file_path TEXT,
  PRIMARY KEY (attempt_id, world_rank)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS train_status_history (
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  run_id TEXT NOT NULL,
  attempt_id TEXT,
  status TEXT NOT NULL,
  status_detail TEXT,
  event_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS train_status_history_by_run ON train_status_history(run_id, id);
"""

# The runs listing's source (appended to schema.VIEWS, which are dropped and re-created at open).
TRAIN_VIEWS = """
DROP VIEW IF EXISTS train_runs_v;
CREATE VIEW train_runs_v AS
SELECT r.*, (r.end_time - r.start_time) AS duration,
  (SELECT count(*) FROM train_run_attempts a WHERE a.run_id = r.run_id) AS num_attempts
FROM train_runs r;
"""
