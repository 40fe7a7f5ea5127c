"""The per-node and per-job figures the alert rules (alerts/rules.py) read, from the head's store.

The head's /metrics exposes them (dashboard/metrics_endpoint.py) so that a Prometheus evaluates the
exported rules on them; the head's own evaluator can read the same functions. Labels stay bounded:
per-node series exist for the nodes alive now (plus, for liveness, one dead node per host that has
no live node), per-job series for the jobs running now; no task or worker ids.

Costs per call, whatever the store holds: the nodes, agents and running jobs (small tables); the
failed workers through a partial index; the running task attempts and the PENDING_SCAN oldest
pending ones (as the stuck-task listing reads them); the alive actors that ask for GPUs.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Optional

from rayscope.dashboard.store.agent_liveness import live_agent_sql, liveness_cutoff
from rayscope.dashboard.store.read_stuck import Judge, StuckRules, pending_by_job
from rayscope.dashboard.store.schema import FAILED_EXIT_SQL, RANK_RUNNING
from rayscope.runtime.ray_enums import FAILED_WORKER_EXITS, INTENDED_NODE_DEATHS

__all__ = ["NodeFigure", "JobFigure", "WorkerExits", "JobTasksEnded", "AlertFigures", "alert_figures",
           "node_up", "agent_connected", "ingest_lag", "worker_exits", "node_drops", "gpus_reserved",
           "job_pending", "job_tasks_ended", "ENDED_STATES"]

ENDED_STATES = ("FINISHED", "FAILED")  # what rayscope_job_tasks_ended_total counts, by state
_INTENDED = ", ".join(repr(r) for r in INTENDED_NODE_DEATHS)


@dataclass(frozen=True)
class NodeFigure:
    node_id: str
    node_ip: str  # '' when unknown
    value: float


@dataclass(frozen=True)
class JobFigure:
    job_id: str
    value: float


@dataclass(frozen=True)
class WorkerExits:
    node_id: str
    node_ip: str
    exit_type: str
    n: int


@dataclass(frozen=True)
class JobTasksEnded:
    job_id: str
    state: str
    n: int


@dataclass(frozen=True)
class AlertFigures:
    node_up: list[NodeFigure] = field(default_factory=list)
    agent_connected: list[NodeFigure] = field(default_factory=list)
    ingest_lag_s: list[NodeFigure] = field(default_factory=list)
    worker_exits: list[WorkerExits] = field(default_factory=list)
    node_drops: list[NodeFigure] = field(default_factory=list)
    gpus_reserved: list[NodeFigure] = field(default_factory=list)
    oldest_pending_s: list[JobFigure] = field(default_factory=list)
    infeasible: list[JobFigure] = field(default_factory=list)
    tasks_ended: list[JobTasksEnded] = field(default_factory=list)


def node_up(conn: sqlite3.Connection) -> list[NodeFigure]:
    """1 for every ALIVE node; 0 for the newest dead node of each host (node_ip) that has no ALIVE node,
    when that death was not intended (a `ray stop`, the autoscaler's idle drain). Why per host: a
    restarted Ray node gets a new node_id, and its return must end its predecessor's outage; and a dead
    node's series must not outlive that, or a cluster that replaces nodes would grow one series per
    death forever."""
    rows = conn.execute(
        "SELECT node_id, coalesce(node_ip, ''), 1 FROM nodes WHERE state = 'ALIVE' "
        "UNION ALL "
        "SELECT node_id, ip, 0 FROM ("
        "  SELECT node_id, coalesce(node_ip, '') AS ip, death_reason, row_number() OVER ("
        "    PARTITION BY coalesce(node_ip, '') ORDER BY coalesce(end_time, state_time, 0) DESC, node_id) AS k "
        "  FROM nodes WHERE state = 'DEAD' AND coalesce(node_ip, '') NOT IN ("  # one lookup table, not a scan each
        "    SELECT coalesce(node_ip, '') FROM nodes WHERE state = 'ALIVE')"
        f") WHERE k = 1 AND coalesce(death_reason, '') NOT IN ({_INTENDED}) "
        "ORDER BY 1")
    return [NodeFigure(*r) for r in rows]


def agent_connected(conn: sqlite3.Connection, now: float) -> list[NodeFigure]:
    """Per ALIVE node: 1 when an agent of that node is live (agent_liveness.py), else 0."""
    rows = conn.execute(
        "SELECT n.node_id, coalesce(n.node_ip, ''), a.node_id IS NOT NULL FROM nodes n LEFT JOIN ("
        f"  SELECT DISTINCT node_id FROM agents a WHERE {live_agent_sql('a')}) a USING (node_id) "
        "WHERE n.state = 'ALIVE' ORDER BY 1", (liveness_cutoff(now),))
    return [NodeFigure(r[0], r[1], float(r[2])) for r in rows]


def ingest_lag(conn: sqlite3.Connection, now: float) -> list[NodeFigure]:
    """Per node with a live agent: seconds from the creation of the newest batch the head committed from
    it to now (agent clock to head clock: skew between hosts adds to it; never below 0). An agent sends
    a batch every sampling tick, so this stays near the tick while the head keeps up, and grows while the
    head falls behind or the agent replays a backlog from its spool."""
    rows = conn.execute(
        "SELECT a.node_id, coalesce(n.node_ip, a.node_ip, ''), max(a.newest_batch_created_at) "
        "FROM agents a LEFT JOIN nodes n USING (node_id) "
        f"WHERE {live_agent_sql('a')} AND a.newest_batch_created_at IS NOT NULL GROUP BY a.node_id ORDER BY 1",
        (liveness_cutoff(now),))
    return [NodeFigure(r[0], r[1], max(0.0, now - r[2])) for r in rows]


def worker_exits(conn: sqlite3.Connection) -> list[WorkerExits]:
    """Workers that ended in a failure, per node and exit type: a counter (workers are never deleted and
    keep their exit type once known). Every ALIVE node has a row per failed exit type, 0 until one
    happens, so that Prometheus' increase() sees the first one."""
    counted = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
        "SELECT w.node_id, w.exit_type, coalesce(n.node_ip, ''), count(*) "
        f"FROM workers w LEFT JOIN nodes n USING (node_id) WHERE w.{FAILED_EXIT_SQL} GROUP BY 1, 2")}
    for node_id, ip in conn.execute("SELECT node_id, coalesce(node_ip, '') FROM nodes WHERE state = 'ALIVE'"):
        for t in FAILED_WORKER_EXITS:
            counted.setdefault((node_id, t), (ip, 0))
    return [WorkerExits(node_id, ip, t, n) for (node_id, t), (ip, n) in sorted(counted.items())]


def node_drops(conn: sqlite3.Connection) -> list[NodeFigure]:
    """Items dropped before storage, per node (all sources and stages): a counter, 0 for ALIVE nodes
    with none. The per-source split is the cluster-wide rayscope_dropped_items_total."""
    rows = conn.execute(
        "SELECT node_id, coalesce(n.node_ip, ''), sum(d.count) FROM drops d LEFT JOIN nodes n USING (node_id) "
        "GROUP BY 1 "
        "UNION ALL "
        "SELECT node_id, coalesce(node_ip, ''), 0 FROM nodes n WHERE state = 'ALIVE' "
        "AND NOT EXISTS (SELECT 1 FROM drops d WHERE d.node_id = n.node_id) ORDER BY 1")
    return [NodeFigure(*r) for r in rows]


def _gpus(required: str) -> float:
    """GPUs a resource request holds: its GPU, or in a placement group its bundles' GPU_group_* share
    (Ray asks for both the wildcard `GPU_group_<pg>` and `GPU_group_<i>_<pg>`; the largest is the amount)."""
    req = json.loads(required or "{}")
    if req.get("GPU"):
        return float(req["GPU"])
    return max((float(v) for k, v in req.items() if k.startswith("GPU_group_")), default=0.0)


def gpus_reserved(conn: sqlite3.Connection) -> list[NodeFigure]:
    """Per ALIVE node: GPUs held by its ALIVE actors plus its running non-actor task attempts (an actor's
    own tasks use the actor's GPUs). 0 for nodes where nothing holds one. Only nodes that have GPUs in
    Ray's resources are read (nothing can hold one elsewhere): a CPU cluster costs nothing here."""
    held: dict[str, float] = {}
    gpu_nodes = ("SELECT node_id FROM nodes WHERE state = 'ALIVE' "
                 "AND coalesce(json_extract(resources_total, '$.GPU'), 0) > 0")
    for node_id, required, n in conn.execute(  # grouped by resource set: each distinct set parsed once per node
            f"SELECT node_id, required_resources, count(*) FROM actors WHERE state = 'ALIVE' AND node_id IN ({gpu_nodes}) "
            "AND required_resources LIKE '%GPU%' GROUP BY 1, 2 "
            "UNION ALL "
            f"SELECT node_id, required_resources, count(*) FROM tasks WHERE state_rank = {RANK_RUNNING} "
            f"AND node_id IN ({gpu_nodes}) AND actor_id IS NULL AND required_resources LIKE '%GPU%' GROUP BY 1, 2"):
        held[node_id] = held.get(node_id, 0.0) + n * _gpus(required)
    return [NodeFigure(node_id, ip, held.get(node_id, 0.0)) for node_id, ip in conn.execute(
        "SELECT node_id, coalesce(node_ip, '') FROM nodes WHERE state = 'ALIVE' ORDER BY 1")]


def job_pending(conn: sqlite3.Connection, now: float,
                rules: Optional[StuckRules] = None) -> tuple[list[JobFigure], list[JobFigure]]:
    """(oldest pending, infeasible): per job, the seconds its oldest feasible attempt has waited for a
    node (jobs with one), and the count of its attempts no alive node can run (every running job, 0
    when none). Judged as the stuck-task listing judges them (read_stuck.py)."""
    by_job = pending_by_job(Judge(conn, rules or StuckRules(), now))
    running = [r[0] for r in conn.execute("SELECT job_id FROM jobs WHERE state = 'RUNNING' ORDER BY 1")]
    oldest = [JobFigure(j, max(0.0, now - p.oldest_since)) for j, p in sorted(by_job.items())
              if p.oldest_since is not None]
    infeasible = {j: float(p.infeasible) for j, p in by_job.items() if p.infeasible}
    for j in running:
        infeasible.setdefault(j, 0.0)
    return oldest, [JobFigure(j, n) for j, n in sorted(infeasible.items())]


def job_tasks_ended(conn: sqlite3.Connection) -> list[JobTasksEnded]:
    """Per running job: task attempts (drivers' excluded) that ended FINISHED or FAILED, a counter (tasks
    are never deleted; an ended attempt stays ended). Zeros included, so increase() sees the first."""
    states = ", ".join(repr(s) for s in ENDED_STATES)
    counted = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT c.job_id, c.state, sum(c.n) FROM jobs j JOIN task_counts c ON c.job_id = j.job_id "
        f"WHERE j.state = 'RUNNING' AND c.state IN ({states}) AND c.type != 'DRIVER_TASK' GROUP BY 1, 2")}
    for (job_id,) in conn.execute("SELECT job_id FROM jobs WHERE state = 'RUNNING'"):
        for s in ENDED_STATES:
            counted.setdefault((job_id, s), 0)
    return [JobTasksEnded(j, s, n) for (j, s), n in sorted(counted.items())]


def alert_figures(conn: sqlite3.Connection, live: bool, now: float) -> AlertFigures:
    """All of them; nothing for a head serving history (`--history`: nothing is down or pending "now")."""
    if not live:
        return AlertFigures()
    oldest, infeasible = job_pending(conn, now)
    return AlertFigures(
        node_up=node_up(conn), agent_connected=agent_connected(conn, now), ingest_lag_s=ingest_lag(conn, now),
        worker_exits=worker_exits(conn), node_drops=node_drops(conn), gpus_reserved=gpus_reserved(conn),
        oldest_pending_s=oldest, infeasible=infeasible, tasks_ended=job_tasks_ended(conn))
