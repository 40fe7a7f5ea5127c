"""The Ray Data tables (issue 13): datasets, their operators, schemas, issues and progress samples.

Why apart from schema.py: one owner for the Data slice's DDL; schema.py only includes it.
- `datasets` / `dataset_operators`: the latest EXPORT_DATASET_METADATA per dataset (newest
  event_time wins, a tie going to the later state by state_rank); the summaries Ray sends only in
  the first event are kept when later events come without them.
- `dataset_schemas`: the latest schema per operator uuid.
- `dataset_issues`: every issue Ray Data raised (one row per operator, type and time).
- `dataset_progress`: every sample of Rayscope's Data callback (throughput and the bottleneck hint
  read the recent ones; deleted by retention with the node samples); `dataset_progress_latest`:
  each operator's newest sample, kept for good (history mode shows the final figures). A sample
  with operator_id '' is the callback's failure (its `error`). `source` says where a sample came
  from: 'callback' (~1 s; NULL in a store written before the column) or 'metrics' (Ray's
  `ray_data_*` gauges, ~10 s, only for a dataset with no callback sample: never both for one).
"""
from __future__ import annotations

# A progress sample's figures: the columns `dataset_progress` and `dataset_progress_latest` share.
_SAMPLE_COLUMNS_DDL = """  operator_uuid TEXT NOT NULL,
  rows_output INTEGER, blocks_output INTEGER, bytes_output INTEGER,
  estimated_rows INTEGER, estimated_blocks INTEGER, queued_blocks INTEGER,
  tasks_running INTEGER, tasks_finished INTEGER, tasks_failed INTEGER,
  actors_alive INTEGER, actors_pending INTEGER,
  cpu REAL, gpu REAL, object_store_bytes INTEGER,
  cpu_budget REAL, gpu_budget REAL, object_store_budget INTEGER,
  cluster_cpu_limit REAL, cluster_gpu_limit REAL,
  finished INTEGER,
  error TEXT,
"""

DATA_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
  dataset_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  state TEXT NOT NULL,
  state_rank INTEGER NOT NULL,
  start_time REAL,
  execution_start_time REAL,
  execution_end_time REAL,
  context_summary TEXT,
  event_time REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS datasets_on_job ON datasets(job_id, start_time);

CREATE TABLE IF NOT EXISTS dataset_operators (
  dataset_id TEXT NOT NULL,
  operator_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  uuid TEXT NOT NULL,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  input_dependencies TEXT NOT NULL,  -- JSON list of operator ids
  sub_stages TEXT NOT NULL,          -- JSON list of names
  execution_start_time REAL,
  execution_end_time REAL,
  args_summary TEXT,
  PRIMARY KEY (dataset_id, operator_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dataset_operators_on_uuid ON dataset_operators(uuid);

CREATE TABLE IF NOT EXISTS dataset_schemas (
  operator_uuid TEXT PRIMARY KEY,
  fields TEXT NOT NULL,              -- JSON {column: Arrow type}
  event_time REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dataset_issues (
  dataset_id TEXT NOT NULL,
  operator_id TEXT NOT NULL,
  operator_name TEXT NOT NULL,
  issue_type TEXT NOT NULL,
  message TEXT NOT NULL,
  event_time REAL NOT NULL,
  PRIMARY KEY (dataset_id, operator_id, issue_type, event_time)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dataset_progress (
  dataset_id TEXT NOT NULL,
  operator_id TEXT NOT NULL,
  sample_time REAL NOT NULL,
  -- SAMPLE COLUMNS --
  source TEXT,                       -- 'callback' (NULL in a store written before) or 'metrics'
  PRIMARY KEY (dataset_id, operator_id, sample_time)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dataset_progress_on_time ON dataset_progress(sample_time);

CREATE TABLE IF NOT EXISTS dataset_progress_latest (
  dataset_id TEXT NOT NULL,
  operator_id TEXT NOT NULL,
  sample_time REAL NOT NULL,
  -- SAMPLE COLUMNS --
  first_sample_time REAL NOT NULL,
  source TEXT,
  PRIMARY KEY (dataset_id, operator_id)
) WITHOUT ROWID;
""".replace("  -- SAMPLE COLUMNS --\n", _SAMPLE_COLUMNS_DDL)

# The columns of a progress sample, in table order (both progress tables start with them).
PROGRESS_COLUMNS: tuple[str, ...] = (
    "dataset_id", "operator_id", "sample_time", "operator_uuid", "rows_output", "blocks_output",
    "bytes_output", "estimated_rows", "estimated_blocks", "queued_blocks", "tasks_running", "tasks_finished",
    "tasks_failed", "actors_alive", "actors_pending", "cpu", "gpu", "object_store_bytes", "cpu_budget",
    "gpu_budget", "object_store_budget", "cluster_cpu_limit", "cluster_gpu_limit", "finished", "error",
)

# The listing's rows (GET /datasets): the API model's field names.
DATA_VIEWS = """
DROP VIEW IF EXISTS datasets_v;
CREATE VIEW datasets_v AS
SELECT d.dataset_id, d.job_id, d.state, d.start_time, d.execution_start_time, d.execution_end_time,
  d.context_summary,
  (SELECT count(*) FROM dataset_operators o WHERE o.dataset_id = d.dataset_id) AS operator_count,
  (SELECT count(*) FROM dataset_issues i WHERE i.dataset_id = d.dataset_id) AS issue_count,
  (SELECT max(p.sample_time) FROM dataset_progress_latest p
   WHERE p.dataset_id = d.dataset_id AND p.operator_id != '') AS progress_time,
  (SELECT coalesce(p.source, 'callback') FROM dataset_progress_latest p
   WHERE p.dataset_id = d.dataset_id AND p.operator_id != '' LIMIT 1) AS progress_source,
  (SELECT p.rows_output FROM dataset_operators o JOIN dataset_progress_latest p
     ON p.dataset_id = o.dataset_id AND p.operator_id = o.operator_id
   WHERE o.dataset_id = d.dataset_id ORDER BY o.position DESC LIMIT 1) AS rows_output,
  (SELECT json_group_array(json_object('operator_id', x.operator_id, 'name', x.name, 'state', x.state,
                                       'rows_output', x.rows_output, 'estimated_rows', x.estimated_rows))
   FROM (SELECT o.operator_id, o.name, o.state, p.rows_output, p.estimated_rows
         FROM dataset_operators o LEFT JOIN dataset_progress_latest p
           ON p.dataset_id = o.dataset_id AND p.operator_id = o.operator_id
         WHERE o.dataset_id = d.dataset_id ORDER BY o.position) x) AS operators
FROM datasets d;
"""
