"""Profiling's tables in the head's store (issue 14): every stack dump and profile taken through the head.

Kept, not sampled: a dump is what someone asked to see (or what the stuck-task detector took), so
history mode lists them after the cluster is gone. The documents are stored zlib-compressed in the
row (a speedscope document of a 60 s profile is a few hundred KB of JSON, a tenth compressed); rowid
tables, since a blob in a WITHOUT ROWID b-tree would be copied on every page split. Deleted only by
`--retention-hours` with the node samples (dashboard/store/retention.py). Appended to schema.SCHEMA.
"""
from __future__ import annotations

PROFILING_SCHEMA = """
CREATE TABLE IF NOT EXISTS stack_dumps (
  dump_id TEXT PRIMARY KEY,
  taken_at REAL NOT NULL,
  node_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  task_id TEXT,
  attempt INTEGER,
  actor_id TEXT,
  job_id TEXT,
  method TEXT NOT NULL,
  headline TEXT,
  body BLOB NOT NULL  -- the StackDump API model as zlib-compressed JSON
);
CREATE INDEX IF NOT EXISTS stack_dumps_task ON stack_dumps(task_id, taken_at);
CREATE INDEX IF NOT EXISTS stack_dumps_taken ON stack_dumps(taken_at);

CREATE TABLE IF NOT EXISTS profiles (
  profile_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,        -- cpu | memory
  status TEXT NOT NULL,      -- running | done | failed
  node_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  task_id TEXT,
  attempt INTEGER,
  actor_id TEXT,
  job_id TEXT,
  target TEXT NOT NULL,      -- the ResolvedTarget API model as JSON
  requested_at REAL NOT NULL,
  duration_s REAL NOT NULL,
  rate_hz INTEGER,
  method TEXT,
  finished_at REAL,
  samples INTEGER,
  total_bytes INTEGER,
  error TEXT,
  warning TEXT,
  size_bytes INTEGER,        -- the speedscope document's size, uncompressed
  tops TEXT,                 -- {"top_functions": [...], "top_allocations": [...]} as JSON
  speedscope BLOB            -- the speedscope document, zlib-compressed
);
CREATE INDEX IF NOT EXISTS profiles_requested ON profiles(requested_at);
"""
