"""The profiling tables of the head's store (issue 14): stack dumps taken through the agents.

Why apart from schema.py: one owner for the profiling slice's DDL; schema.py only includes it.
- `stack_dumps`: every stack dump taken (body: the serialized pb.StackDump), newest read per
  task by the stuck-task detector (read_stuck.py: a stuck running task carries its last dump).
"""
from __future__ import annotations

PROFILING_SCHEMA = """
CREATE TABLE IF NOT EXISTS stack_dumps (
  dump_id TEXT PRIMARY KEY,
  taken_at REAL NOT NULL,
  node_id TEXT,
  pid INTEGER,
  task_id TEXT,
  attempt INTEGER,
  actor_id TEXT,
  job_id TEXT,
  method TEXT,
  headline TEXT,
  body BLOB
);  -- a rowid table: bodies are large, and WITHOUT ROWID suits small rows only
-- A task's newest dump (the stuck detector, a task's stack history): a seek, not a scan.
CREATE INDEX IF NOT EXISTS stack_dumps_of_task ON stack_dumps(task_id, taken_at) WHERE task_id IS NOT NULL;
"""
