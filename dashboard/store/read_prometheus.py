"""The few aggregate reads behind the head's /metrics and its Prometheus service discovery.

Every query here reads a small table (counters, per-state groups, agents), never a scan of
tasks or log lines, so a scrape costs the same with ten tasks or ten million.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from rayscope.dashboard.store.agent_liveness import count_connected_agents, live_agent_sql, liveness_cutoff
from rayscope.runtime.ray_enums import ACTOR_STATES, JOB_STATES, NODE_STATES

HEAD_DROP_PREFIX = "malformed at head"


@dataclass(frozen=True)
class ClusterCounts:
    tasks_entered: list[tuple[str, str, int]] = field(default_factory=list)  # (type, state, n)
    tasks_in_state: list[tuple[str, str, int]] = field(default_factory=list)  # (type, state, n)
    actors_entered: list[tuple[str, int]] = field(default_factory=list)  # (state, n)
    actors_in_state: list[tuple[str, int]] = field(default_factory=list)
    jobs_in_state: list[tuple[str, int]] = field(default_factory=list)
    jobs_total: int = 0
    nodes_in_state: list[tuple[str, int]] = field(default_factory=list)
    agents_connected: int = 0
    batches_committed: int = 0
    drops: list[tuple[str, str, int, int]] = field(default_factory=list)  # (source, stage, count, bytes)


# Known label values get a 0 sample even before anything happened: a series that appears only
# on its first event breaks rate() and dashboards (Prometheus' advice for known label sets).
DROP_SOURCES = ("events", "logs", "metrics", "objects", "processes", "batch")
DROP_STAGES = ("agent", "head")


def _with_zeros(rows: list[tuple], keys: list[tuple], n_values: int = 1) -> list[tuple]:
    """rows of (*key, *values) plus a zero row for every key not present; sorted by key."""
    have = {r[:len(keys[0])] for r in rows}
    return sorted(rows + [(*k, *([0] * n_values)) for k in keys if k not in have])


def cluster_counts(conn: sqlite3.Connection, live: bool, now: float) -> ClusterCounts:
    def pairs(sql: str) -> list:
        return [tuple(r) for r in conn.execute(sql)]

    states = lambda names: [(n,) for n in names]  # noqa: E731

    connected = count_connected_agents(conn, live, now)
    return ClusterCounts(
        tasks_entered=pairs("SELECT type, state, n FROM state_transitions WHERE kind = 'task' ORDER BY 1, 2"),
        tasks_in_state=pairs("SELECT type, state, sum(n) FROM task_counts GROUP BY 1, 2 HAVING sum(n) > 0 "
                             "ORDER BY 1, 2"),
        actors_entered=_with_zeros(pairs("SELECT state, n FROM state_transitions WHERE kind = 'actor'"),
                                   states(ACTOR_STATES)),
        actors_in_state=_with_zeros(pairs("SELECT state, count(*) FROM actors GROUP BY 1"), states(ACTOR_STATES)),
        jobs_in_state=_with_zeros(pairs("SELECT state, count(*) FROM jobs GROUP BY 1"), states(JOB_STATES)),
        jobs_total=conn.execute("SELECT count(*) FROM jobs").fetchone()[0],
        nodes_in_state=_with_zeros(pairs("SELECT state, count(*) FROM nodes GROUP BY 1"), states(NODE_STATES)),
        agents_connected=connected,
        batches_committed=conn.execute("SELECT coalesce(sum(batches_committed), 0) FROM agents").fetchone()[0],
        drops=_with_zeros(
            pairs(f"SELECT source, CASE WHEN reason LIKE '{HEAD_DROP_PREFIX}%' THEN 'head' ELSE 'agent' END, "
                  "sum(count), sum(bytes) FROM drops GROUP BY 1, 2"),
            [(src, stage) for src in DROP_SOURCES for stage in DROP_STAGES], n_values=2),
    )


@dataclass(frozen=True)
class AgentTarget:
    node_id: str
    node_ip: str | None
    metrics_url: str
    session_name: str | None
    is_head_node: bool


def live_agent_targets(conn: sqlite3.Connection, now: float) -> list[AgentTarget]:
    """Agents with an open stream heard from recently, on nodes not known DEAD: a killed node's
    agent drops out within agent_liveness.AGENT_LIVENESS_S, so Prometheus stops scraping it and its series go stale."""
    rows = conn.execute(
        "SELECT a.node_id, a.node_ip, a.metrics_url, a.session_name, coalesce(n.is_head_node, 0) "
        "FROM agents a LEFT JOIN nodes n USING (node_id) "
        f"WHERE {live_agent_sql('a')} AND a.metrics_url IS NOT NULL AND coalesce(n.state, '') != 'DEAD' "
        "ORDER BY a.node_id", (liveness_cutoff(now),))
    return [AgentTarget(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]


def object_store_totals(conn: sqlite3.Connection) -> tuple[int, ...]:
    """(nodes, used, capacity, objects, spilled, restored, fallback) over alive nodes' latest samples:
    one index seek per node."""
    totals = [0] * 7
    for (node_id,) in conn.execute("SELECT node_id FROM nodes WHERE state = 'ALIVE'").fetchall():
        r = conn.execute("SELECT used_bytes, capacity_bytes, num_objects, spilled_bytes_total, restored_bytes_total, "
                         "fallback_bytes FROM object_store_samples WHERE node_id = ? ORDER BY ts DESC LIMIT 1",
                         (node_id,)).fetchone()
        if r is not None:
            totals[0] += 1
            for i, v in enumerate(r, start=1):
                totals[i] += v
    return tuple(totals)
