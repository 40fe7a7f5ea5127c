"""The SQLite schema of the head's store: one DDL script, applied idempotently at open.

Why these shapes: tasks are merged from deltas per (task_id, attempt) (a UNIQUE key), but the
table is a rowid table in arrival order: Ray's task ids are hash-like, so a table clustered on
them (WITHOUT ROWID, as before) puts every merge on a random page of the whole table, while a
task's deltas arrive close together in time, i.e. near the end of the rowid order. Listing
indexes end with the rowid (implicitly), the listing's tie-breaker, so keyset pagination
(ORDER BY col, id) seeks instead of sorting. A counter table (kept by apply_tasks.py) answers the
per-function summary without scanning a million rows.
"""
from __future__ import annotations

from rayscope.dashboard.store.schema_alerts import ALERTS_SCHEMA
from rayscope.dashboard.store.schema_data import DATA_SCHEMA, DATA_VIEWS
from rayscope.dashboard.store.schema_profiling import PROFILING_SCHEMA
from rayscope.dashboard.store.schema_rollup import ROLLUP_SCHEMA
from rayscope.dashboard.store.schema_train import TRAIN_SCHEMA, TRAIN_VIEWS
from rayscope.runtime.ray_enums import FAILED_WORKER_EXITS, TASK_STATUS_NAMES

RANK_NIL, RANK_PENDING, RANK_SUBMITTED, RANK_RUNNING, RANK_TERMINAL = 0, 1, 2, 3, 4


def task_state_rank(status: int) -> int:
    """Merge order of task states: terminal > running* > submitted > pending* > NIL."""
    name = TASK_STATUS_NAMES[status]
    if name in ("FINISHED", "FAILED"):
        return RANK_TERMINAL
    if name.startswith("RUNNING"):
        return RANK_RUNNING
    if name == "SUBMITTED_TO_WORKER":
        return RANK_SUBMITTED
    if name == "NIL":
        return RANK_NIL
    return RANK_PENDING


def ts_column(status: int) -> str:
    """Column holding the unix-seconds time a task entered `status`."""
    return "ts_" + TASK_STATUS_NAMES[status].lower()


TS_COLUMNS: tuple[str, ...] = tuple(ts_column(i) for i in range(1, len(TASK_STATUS_NAMES)))

_TASK_TS_DDL = ",\n  ".join(f"{c} REAL" for c in TS_COLUMNS)

# The API's `duration` field as SQL: the listing sorts by it and an index is built on this exact
# expression (SQLite uses an expression index only for the same expression).
TASK_DURATION_SQL = "(end_time - start_time)"

# Workers that ended in a failure, as SQL: the head's rayscope_worker_exits_total counts them per node
# (store/read_alert_figures.py) through the partial index built on this exact condition.
FAILED_EXIT_SQL = f"exit_type IN ({', '.join(repr(t) for t in FAILED_WORKER_EXITS)})"

# Before the rowid layout: (table, indexes, triggers) to migrate away from (connection.py).
OLD_TASK_INDEXES = ("tasks_by_creation", "tasks_by_state", "tasks_by_job", "tasks_by_name", "tasks_by_node",
                    "tasks_by_actor", "tasks_running_on", "tasks_stdout", "tasks_stderr", "tasks_no_job")
TASK_TRIGGERS = ("tasks_count_insert", "tasks_count_update")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS agents (
  agent_id TEXT PRIMARY KEY,
  node_id TEXT,
  node_ip TEXT,
  hostname TEXT,
  session_name TEXT,
  session_dir TEXT,
  metrics_url TEXT,
  version TEXT,
  started_at REAL,
  last_committed_seq INTEGER NOT NULL DEFAULT 0,
  batches_committed INTEGER NOT NULL DEFAULT 0,
  last_seen REAL,
  connected INTEGER NOT NULL DEFAULT 0,
  newest_batch_created_at REAL  -- the agent's clock when it made the newest batch committed (ingest lag)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY,
  node_ip TEXT,
  node_name TEXT,
  hostname TEXT,
  state TEXT NOT NULL DEFAULT 'ALIVE',
  state_time REAL,
  is_head_node INTEGER NOT NULL DEFAULT 0,
  resources_total TEXT,
  labels TEXT,
  start_time REAL,
  end_time REAL,
  death_reason TEXT,
  death_message TEXT,
  metrics_url TEXT,
  cpu_percent REAL,
  mem_used INTEGER,
  mem_total INTEGER,
  object_store_used INTEGER,
  object_store_capacity INTEGER,
  num_gpus INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs (
  job_id TEXT PRIMARY KEY,
  state TEXT NOT NULL DEFAULT 'RUNNING',
  driver_pid INTEGER,
  driver_ip TEXT,
  entrypoint TEXT,
  ray_namespace TEXT,
  start_time REAL,
  end_time REAL,
  submission_id TEXT  -- a submitted job's driver: the join key to submission_jobs
) WITHOUT ROWID;

-- Jobs submitted with `ray job submit` / the job API: the latest snapshot per submission id
-- (newest event_time wins; on a tie the later status, by status_rank). A rowid table: the
-- message can hold 20,000 characters of the driver's last logs.
CREATE TABLE IF NOT EXISTS submission_jobs (
  submission_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  status_rank INTEGER NOT NULL,
  entrypoint TEXT,
  message TEXT,
  error_type TEXT,
  start_time REAL,
  end_time REAL,
  driver_exit_code INTEGER,
  driver_node_id TEXT,
  runtime_env TEXT,
  event_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_submission ON jobs(submission_id) WHERE submission_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  job_id TEXT NOT NULL,
  name TEXT,
  type TEXT,
  language TEXT,
  state TEXT NOT NULL,
  state_rank INTEGER NOT NULL,
  state_ts REAL,
  parent_task_id TEXT,
  actor_id TEXT,
  placement_group_id TEXT,
  node_id TEXT,
  worker_id TEXT,
  worker_pid INTEGER,
  required_resources TEXT,
  creation_time REAL,
  start_time REAL,
  end_time REAL,
  error_type TEXT,
  error_message TEXT,
  is_debugger_paused INTEGER,
  stdout_base TEXT,
  stdout_start INTEGER,
  stdout_end INTEGER,
  stderr_base TEXT,
  stderr_start INTEGER,
  stderr_end INTEGER,
  data_operator_id TEXT,  -- Ray Data's label __data_operator_id: the operator (uuid) it works for
  {_TASK_TS_DDL},
  UNIQUE (task_id, attempt)
);
CREATE INDEX IF NOT EXISTS tasks_on_creation ON tasks(creation_time);
CREATE INDEX IF NOT EXISTS tasks_on_state ON tasks(state, creation_time);
CREATE INDEX IF NOT EXISTS tasks_on_job ON tasks(job_id, creation_time);
CREATE INDEX IF NOT EXISTS tasks_on_name ON tasks(name, creation_time);
CREATE INDEX IF NOT EXISTS tasks_on_node ON tasks(node_id, creation_time);
CREATE INDEX IF NOT EXISTS tasks_on_data_operator ON tasks(data_operator_id, creation_time)
  WHERE data_operator_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_on_actor ON tasks(actor_id, creation_time) WHERE actor_id IS NOT NULL;
-- A task's children (its page's Child tasks tab), and the Tasks page's sorts by start and duration:
-- without these, each was a scan of every task (0.4-0.8 s at 1M tasks, measured).
CREATE INDEX IF NOT EXISTS tasks_on_parent ON tasks(parent_task_id, creation_time)
  WHERE parent_task_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_on_start ON tasks(start_time);
CREATE INDEX IF NOT EXISTS tasks_on_duration ON tasks({TASK_DURATION_SQL});
CREATE INDEX IF NOT EXISTS tasks_running_on ON tasks(node_id, worker_pid) WHERE state_rank = {RANK_RUNNING};
CREATE INDEX IF NOT EXISTS tasks_no_job ON tasks(task_id) WHERE job_id = '';
-- Log attribution (log_attribution.py): a line's task is found among the ranges of its worker.
-- Without these, each line shown scanned every task of its node.
DROP INDEX IF EXISTS tasks_stdout;
DROP INDEX IF EXISTS tasks_stderr;
CREATE INDEX IF NOT EXISTS tasks_stdout_of_worker ON tasks(worker_id, stdout_end) WHERE worker_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_stderr_of_worker ON tasks(worker_id, stderr_end) WHERE worker_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS task_counts (
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (job_id, name, type, state)
) WITHOUT ROWID;

-- Kept exact by apply_tasks.py (per batch, from the rows before and after the merge), not by
-- triggers: a row trigger cost about as much as the merge itself. Older DBs had triggers:
DROP TRIGGER IF EXISTS tasks_count_insert;
DROP TRIGGER IF EXISTS tasks_count_update;

-- Monotonic counters of state entries (kind 'task' by task type, 'actor'): what the head's
-- /metrics exposes as rayscope_task_state_transitions_total etc. Kept by apply_tasks.py and
-- apply_lifecycle.py in the same transaction as the rows they count.
CREATE TABLE IF NOT EXISTS state_transitions (
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  state TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (kind, type, state)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS actors (
  actor_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  state TEXT NOT NULL,
  state_time REAL,
  class_name TEXT,
  name TEXT,
  repr_name TEXT,
  ray_namespace TEXT,
  pid INTEGER,
  node_id TEXT,
  is_detached INTEGER,
  placement_group_id TEXT,
  required_resources TEXT,
  death_cause TEXT,
  num_restarts INTEGER NOT NULL DEFAULT 0,
  start_time REAL,
  end_time REAL,
  data_operator_id TEXT  -- Ray Data's label __data_operator_id: the operator (uuid) it works for
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS actors_on ON actors(node_id, pid);

-- GCS's worker table as the head node's agent read it: every worker and driver ever registered,
-- dead ones with their exit type. Live usage comes from the process snapshots (workers_v).
CREATE TABLE IF NOT EXISTS workers (
  worker_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  node_ip TEXT,
  pid INTEGER NOT NULL,
  worker_type TEXT NOT NULL,
  job_id TEXT,
  is_alive INTEGER NOT NULL,
  exit_type TEXT,
  exit_detail TEXT,
  start_time REAL,
  end_time REAL,
  updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS workers_on ON workers(node_id, pid);
CREATE INDEX IF NOT EXISTS workers_failed_on ON workers(node_id, exit_type) WHERE {FAILED_EXIT_SQL};

CREATE TABLE IF NOT EXISTS log_files (
  file_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  path TEXT NOT NULL,
  basename TEXT NOT NULL,
  kind TEXT NOT NULL,
  worker_id TEXT,
  job_id TEXT,
  pid INTEGER,
  actor_id TEXT,
  submission_id TEXT,
  size INTEGER NOT NULL DEFAULT 0,
  lines INTEGER NOT NULL DEFAULT 0,
  last_line_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_files_by_base ON log_files(node_id, basename);

CREATE TABLE IF NOT EXISTS log_lines (
  id INTEGER PRIMARY KEY,
  file_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  text TEXT NOT NULL,
  is_binary INTEGER NOT NULL DEFAULT 0,
  truncated_bytes INTEGER NOT NULL DEFAULT 0,
  read_at REAL NOT NULL,
  UNIQUE (file_id, generation, offset)
);
CREATE INDEX IF NOT EXISTS log_lines_by_time ON log_lines(read_at);
-- Log search's index (dashboard/store/log_index.py says why it is built this way): trigram postings
-- without positions (detail=none), filled once per writer transaction, not by a per-row trigger;
-- log_fts_indexed.upto is the last log_lines id in it.
CREATE VIRTUAL TABLE IF NOT EXISTS log_fts USING fts5(
  text, content='log_lines', content_rowid='id', tokenize='trigram case_sensitive 0', detail=none
);
CREATE TABLE IF NOT EXISTS log_fts_indexed (one INTEGER PRIMARY KEY CHECK (one = 1), upto INTEGER NOT NULL);
INSERT OR IGNORE INTO log_fts_indexed (one, upto) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS log_lines_fts_delete AFTER DELETE ON log_lines
WHEN old.id <= (SELECT upto FROM log_fts_indexed) BEGIN
  INSERT INTO log_fts(log_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TABLE IF NOT EXISTS node_samples (
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  cpu_percent REAL NOT NULL,
  cpu_count INTEGER,
  mem_total INTEGER NOT NULL,
  mem_used INTEGER NOT NULL,
  mem_available INTEGER,
  swap_total INTEGER,
  swap_used INTEGER NOT NULL,
  disk_total INTEGER NOT NULL,
  disk_used INTEGER NOT NULL,
  disk_read_bytes INTEGER NOT NULL,
  disk_write_bytes INTEGER NOT NULL,
  net_sent_bytes INTEGER NOT NULL,
  net_recv_bytes INTEGER NOT NULL,
  load1 REAL,
  gpu_count INTEGER NOT NULL DEFAULT 0,
  gpu_utilization_ratio REAL,
  gpu_memory_used INTEGER,
  gpus TEXT,
  PRIMARY KEY (node_id, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_samples_by_time ON node_samples(ts);

CREATE TABLE IF NOT EXISTS object_store_samples (
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  used_bytes INTEGER NOT NULL,
  capacity_bytes INTEGER NOT NULL,
  spilled_bytes_total INTEGER NOT NULL,
  restored_bytes_total INTEGER NOT NULL,
  num_objects INTEGER NOT NULL,
  fallback_bytes INTEGER NOT NULL,
  PRIMARY KEY (node_id, ts)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS object_store_samples_by_time ON object_store_samples(ts);

-- Application metrics (ray.util.metrics, agent/collectors/app_metrics.py): one row per metric, every
-- scrape's value per (tags, node) with tags as canonical JSON (sorted keys), and the latest value per
-- (tags, node) kept by apply_app_metrics.py so the listing reads no history. Histograms keep their
-- cumulative buckets as JSON [[le, count], ...] with "+Inf" for the last bound.
CREATE TABLE IF NOT EXISTS app_metrics (
  name TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS app_metric_samples (
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  value REAL,
  hist_sum REAL,
  hist_count REAL,
  buckets TEXT,
  PRIMARY KEY (name, ts, tags, node_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS app_metric_samples_by_time ON app_metric_samples(ts);
CREATE TABLE IF NOT EXISTS app_metric_latest (
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  value REAL,
  hist_sum REAL,
  hist_count REAL,
  buckets TEXT,
  PRIMARY KEY (name, tags, node_id)
) WITHOUT ROWID;

-- Ray Serve (issue 13; dashboard/store/apply_serve.py): one row per application with its latest
-- document from the Serve controller (JSON, the poller's compact form), the history of changes
-- between documents, and the request families' samples (like app_metric_samples).
CREATE TABLE IF NOT EXISTS serve_apps (
  name TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT '',
  route_prefix TEXT,
  ingress_deployment TEXT,
  source TEXT,
  last_deployed_time REAL,
  present INTEGER NOT NULL,
  first_seen REAL NOT NULL,
  updated_at REAL NOT NULL,
  removed_at REAL,
  doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS serve_events (
  id INTEGER PRIMARY KEY,
  ts REAL NOT NULL,
  app TEXT NOT NULL,
  deployment TEXT,
  replica_id TEXT,
  kind TEXT NOT NULL,
  status TEXT,
  previous TEXT,
  message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS serve_events_by_app ON serve_events(app, ts);
CREATE TABLE IF NOT EXISTS serve_metric_samples (
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  value REAL,
  buckets TEXT,
  PRIMARY KEY (name, ts, tags, node_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS serve_metric_samples_by_time ON serve_metric_samples(ts);
CREATE TABLE IF NOT EXISTS serve_metric_latest (
  name TEXT NOT NULL,
  tags TEXT NOT NULL,
  node_id TEXT NOT NULL,
  ts REAL NOT NULL,
  value REAL,
  buckets TEXT,
  PRIMARY KEY (name, tags, node_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS processes (
  node_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  ppid INTEGER,
  role TEXT NOT NULL,
  title TEXT,
  cmdline TEXT,
  cpu_percent REAL NOT NULL,
  rss INTEGER NOT NULL,
  uss INTEGER NOT NULL,
  num_fds INTEGER NOT NULL,
  num_threads INTEGER NOT NULL,
  create_time REAL,
  worker_id TEXT,
  job_id TEXT,
  task_name TEXT,
  actor_class TEXT,
  gpu_memory_used INTEGER NOT NULL DEFAULT 0,
  sampled_at REAL NOT NULL,
  PRIMARY KEY (node_id, pid)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS object_refs (
  node_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  object_id TEXT NOT NULL,
  node_ip TEXT,
  pid INTEGER NOT NULL,
  worker_type TEXT,
  job_id TEXT,
  worker_id TEXT,
  call_site TEXT,
  task_status TEXT,
  attempt INTEGER,
  object_size INTEGER,
  reference_type TEXT NOT NULL,
  sampled_at REAL NOT NULL,
  PRIMARY KEY (node_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS drops (
  node_id TEXT NOT NULL,
  source TEXT NOT NULL,
  reason TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  last_detail TEXT,
  last_at REAL NOT NULL,
  PRIMARY KEY (node_id, source, reason)
) WITHOUT ROWID;
{DATA_SCHEMA}
"""

# Views the listings read: the API model's field names over the stored columns. The running
# task of a process is the latest-started RUNNING* attempt on that node and pid; its actor is
# the live actor whose creation put it on that pid.
VIEWS = f"""
{DATA_VIEWS}
DROP VIEW IF EXISTS jobs_v;
-- The API's Job: driver jobs with the submission that started them, if any; then submissions no
-- driver job names (yet): PENDING, or ended before a driver connected. Such a row has no job_id;
-- its state is the submission's (PENDING/RUNNING: RUNNING, an end: FINISHED) and its entrypoint and
-- times are the submission's. row_key (unique, never null) is the listing's tie-breaker.
CREATE VIEW jobs_v AS
SELECT 'job:' || j.job_id AS row_key, j.job_id, j.state, j.driver_pid, j.driver_ip, j.entrypoint, j.ray_namespace,
       j.start_time, j.end_time,
       j.submission_id, s.status AS submission_status, s.entrypoint AS submission_entrypoint,
       s.message AS submission_message, s.error_type AS submission_error_type,
       s.start_time AS submission_start_time, s.end_time AS submission_end_time,
       s.driver_exit_code, s.runtime_env
FROM jobs j LEFT JOIN submission_jobs s ON s.submission_id = j.submission_id
UNION ALL
SELECT 'submission:' || s.submission_id, NULL, CASE WHEN s.status_rank < 2 THEN 'RUNNING' ELSE 'FINISHED' END,
       NULL, NULL, s.entrypoint, NULL, s.start_time, s.end_time,
       s.submission_id, s.status, s.entrypoint, s.message, s.error_type, s.start_time, s.end_time,
       s.driver_exit_code, s.runtime_env
FROM submission_jobs s WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.submission_id = s.submission_id);

DROP VIEW IF EXISTS processes_v;
CREATE VIEW processes_v AS
SELECT p.node_id, p.pid, p.ppid, p.role, p.title, p.cmdline, p.cpu_percent, p.rss, p.uss,
       p.num_fds, p.num_threads, p.create_time, coalesce(p.worker_id, t.worker_id) AS worker_id,
       coalesce(p.job_id, t.job_id) AS job_id,
       t.task_id AS task_id, coalesce(t.name, p.task_name) AS task_name,
       coalesce(t.actor_id, a.actor_id) AS actor_id,
       coalesce(a.class_name, p.actor_class) AS actor_class,
       p.gpu_memory_used, p.sampled_at
FROM processes p
LEFT JOIN tasks t ON (t.task_id, t.attempt) = (
  SELECT r.task_id, r.attempt FROM tasks r
  WHERE r.node_id = p.node_id AND r.worker_pid = p.pid AND r.state_rank = {RANK_RUNNING}
  ORDER BY r.start_time DESC LIMIT 1)
LEFT JOIN actors a ON a.node_id = p.node_id AND a.pid = p.pid AND a.state != 'DEAD';

DROP VIEW IF EXISTS workers_v;
-- Every worker ever seen: GCS's rows (dead ones keep their exit type), joined to the live process
-- of the same node and pid while GCS says it is alive; plus worker/driver processes of the latest
-- snapshots that no GCS row describes (not reported yet, or a cluster whose head agent cannot read
-- GCS). A GCS row describes a process of its node and pid unless it ended before that process was
-- created (the pid was reused). row_key is unique per row.
CREATE VIEW workers_v AS
SELECT w.worker_id AS row_key, w.worker_id, w.node_id, w.pid, w.worker_type, w.job_id, w.is_alive,
       w.exit_type, w.exit_detail, w.start_time, w.end_time,
       p.task_id, p.task_name, p.actor_id, p.cpu_percent, p.rss, p.uss
FROM workers w LEFT JOIN processes_v p ON w.is_alive AND p.node_id = w.node_id AND p.pid = w.pid
UNION ALL
SELECT 'pid:' || p.node_id || ':' || p.pid AS row_key, p.worker_id, p.node_id, p.pid,
       CASE p.role WHEN 'driver' THEN 'DRIVER' ELSE 'WORKER' END AS worker_type,
       p.job_id, 1 AS is_alive, NULL AS exit_type, NULL AS exit_detail, p.create_time AS start_time,
       NULL AS end_time, p.task_id, p.task_name, p.actor_id, p.cpu_percent, p.rss, p.uss
FROM processes_v p
WHERE p.role IN ('worker', 'driver')
  AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.node_id = p.node_id AND w.pid = p.pid
                  AND (w.is_alive OR w.worker_id = p.worker_id OR w.end_time IS NULL OR p.create_time IS NULL
                       OR p.create_time <= w.end_time));
"""

# Ray Train's tables and view live in their own module (one owner per library).
SCHEMA += TRAIN_SCHEMA
VIEWS += TRAIN_VIEWS
# Profiling's tables (issue 14): dumps and profiles taken through the head.
SCHEMA += PROFILING_SCHEMA
# The head's own alerts (issue 15): what its evaluator raised.
SCHEMA += ALERTS_SCHEMA
# Node samples rolled up per 15 s, time first: the distributions across nodes (issue 15).
SCHEMA += ROLLUP_SCHEMA
