"""The alerts table (issue 15): every alert the head's own evaluator raised (dashboard/alerting/).

One row per episode of a rule for one thing (a host, a node, a job, the cluster): created when the
condition is first seen (`pending`), `firing` once it held for the rule's `for_s`, `resolved` when it
stopped holding. A pending alert whose condition clears before then is deleted, as Prometheus forgets
it. Pending rows are stored too, so a restarted head resumes each rule's `for` clock where it was,
and firing ones stay firing (Prometheus keeps the same state in its ALERTS_FOR_STATE series).
`key` is what identifies the thing within the rule (alerting/conditions.py: e.g. the host for
RayNodeDown); at most one unresolved row per (name, key). Resolved rows are history, deleted with the
node samples by `--retention-hours` (dashboard/store/retention.py). Appended to schema.SCHEMA.
"""
from __future__ import annotations

ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  alert_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,           -- the rule's name (alerts/rules.py)
  key TEXT NOT NULL,            -- what it concerns, within the rule
  state TEXT NOT NULL,          -- pending | firing | resolved
  severity TEXT NOT NULL,
  summary TEXT NOT NULL,        -- rendered from the rule's template with the latest value
  description TEXT NOT NULL,
  active_since REAL NOT NULL,   -- when the condition was first seen holding (the `for` clock)
  since REAL,                   -- when it started firing (null while pending)
  resolved_at REAL,
  node_id TEXT,
  node_ip TEXT,
  job_id TEXT,
  value REAL,
  labels TEXT NOT NULL          -- JSON object of the alert's labels (alertname and severity included)
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_open ON alerts(name, key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_by_state ON alerts(state, since);
CREATE INDEX IF NOT EXISTS alerts_by_since ON alerts(since);
-- Each alive node's agents, looked up per node by the liveness figures both evaluators read
-- (read_alert_figures.agent_connected, node_up's agents): without it, one scan of every agent per node
-- (1,000 nodes: 300 ms per round, bench/bench_alerts.py).
CREATE INDEX IF NOT EXISTS agents_by_node ON agents(node_id);
"""
