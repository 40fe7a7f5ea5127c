"""Each rule of alerts/rules.py as the head judges it from its own store, keyed by the rule's name.

The rule table owns the thresholds, windows and `for_s`; a condition here only says which things
(hosts' nodes, nodes, jobs) cross the rule's threshold now, with the value the rule's summary shows,
and the state machine (machine.py) applies `for_s`. A condition reads the same figures as the rule's
Prometheus expr:
- the head's per-node and per-job series (rayscope_node_up, rayscope_node_agent_connected,
  rayscope_node_ingest_lag_seconds, rayscope_worker_exits_total, rayscope_node_dropped_items_total,
  rayscope_node_gpus_reserved, rayscope_job_*) come from store/read_alert_figures.py, and so do the
  conditions: one function computes each figure for both;
- the agents' node series (memory, disk, object store, spilled bytes, GPU utilization) are the
  samples the head stores: a condition reads each alive node's newest sample, if fresher than
  SAMPLE_STALE_S (an agent that stopped sending is RayscopeAgentDown's business, not a full disk's).
Counters over a window (Prometheus' increase() and rate()) are the increase since the snapshot the
condition took a window ago (Memory); a head that just started counts from its first round. The
spilled-bytes rate is read from the stored samples instead (they span the window already).

docs/alerts.md has the table of what each condition reads.
"""
from __future__ import annotations

import json
import sqlite3
from collections import deque
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from rayscope.alerts.rules import AlertRule
from rayscope.dashboard.alerting.machine import Observation
from rayscope.dashboard.store import read_alert_figures as fig
from rayscope.dashboard.store.agent_liveness import AGENT_LIVENESS_S
from rayscope.dashboard.store.read_stuck import StuckRules
from rayscope.runtime.ray_enums import WorkerExitType

__all__ = ["CONDITIONS", "Condition", "Memory", "SAMPLE_STALE_S", "AGENT_WARMUP_S"]

SAMPLE_STALE_S = 60.0  # a node's newest sample older than this judges nothing
# The head marks every agent disconnected when it starts, and the agents need a moment to reconnect:
# the conditions on agent liveness wait this long after the head's start before judging.
AGENT_WARMUP_S = AGENT_LIVENESS_S + 15.0


class Memory:
    """What a condition keeps between rounds: snapshots of counter totals by key, to tell how much each
    increased over the last `window_s` (Prometheus' increase()). With no snapshot a window old yet (a
    head that just started), the increase is counted from the oldest one."""

    def __init__(self) -> None:
        self._snaps: deque[tuple[float, dict[str, float]]] = deque()

    def increase(self, now: float, totals: Mapping[str, float], window_s: float) -> dict[str, float]:
        self._snaps.append((now, dict(totals)))
        while len(self._snaps) >= 2 and self._snaps[1][0] <= now - window_s:
            self._snaps.popleft()  # keep the newest snapshot at or before the window's start
        if len(self._snaps) == 1:
            return {k: 0.0 for k in totals}
        base = self._snaps[0][1]
        # A key new since the baseline counts from 0; a total that went down (a reset) counts as 0.
        return {k: max(0.0, v - base.get(k, 0.0)) for k, v in totals.items()}


Find = Callable[[sqlite3.Connection, AlertRule, float, Memory], list[Observation]]


@dataclass(frozen=True)
class Condition:
    find: Find
    warmup_s: float = 0.0  # after the head starts, judge nothing for this long (its alerts stay as they are)


def _node(node_id: str, node_ip: Optional[str], value: float) -> Observation:
    labels = {"node_id": node_id, "node_ip": node_ip or ""}
    return Observation(key=node_id, value=value, labels={k: v for k, v in labels.items() if v})


def _job(job_id: str, value: float) -> Observation:
    return Observation(key=job_id, value=value, labels={"job_id": job_id})


# ------------------------------------------------------------------ the head's own figures

def node_down(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_node_up == 0: per host, its newest node died without being asked to stop and no node of
    that host is alive (read_alert_figures.node_up). Keyed by the host (node_ip), so a node restarted on
    it (a new node id) resolves the alert."""
    out = []
    for f in fig.node_up(conn):
        if f.value == 0:
            o = _node(f.node_id, f.node_ip, 0.0)
            out.append(Observation(key=f.node_ip or f.node_id, value=0.0, labels=o.labels))
    return out


def agent_down(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_node_agent_connected == 0: an alive node without a live agent."""
    return [_node(f.node_id, f.node_ip, 0.0) for f in fig.agent_connected(conn, now) if f.value == 0]


def ingest_lag(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_node_ingest_lag_seconds > threshold: the newest batch committed from a live agent is that old."""
    return [_node(f.node_id, f.node_ip, f.value) for f in fig.ingest_lag(conn, now) if f.value > rule.threshold]


def _worker_exits(exit_type: WorkerExitType) -> Find:
    def find(conn: sqlite3.Connection, rule: AlertRule, now: float, memory: Memory) -> list[Observation]:
        exits = [w for w in fig.worker_exits(conn) if w.exit_type == exit_type]
        grown = memory.increase(now, {w.node_id: float(w.n) for w in exits}, rule.window_s)
        return [_node(w.node_id, w.node_ip, grown[w.node_id]) for w in exits if grown[w.node_id] > rule.threshold]
    find.__doc__ = (f"increase(rayscope_worker_exits_total{{exit_type=\"{exit_type}\"}}[window]) > threshold: "
                    "workers of the node GCS recorded as ended that way, over the rule's window.")
    return find


def data_dropped(conn: sqlite3.Connection, rule: AlertRule, now: float, memory: Memory) -> list[Observation]:
    """increase(rayscope_node_dropped_items_total[window]) > threshold: items from the node dropped before
    storage (every source and stage), over the rule's window."""
    drops = fig.node_drops(conn)
    grown = memory.increase(now, {f.node_id: f.value for f in drops}, rule.window_s)
    return [_node(f.node_id, f.node_ip, grown[f.node_id]) for f in drops if grown[f.node_id] > rule.threshold]


def tasks_pending_too_long(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_job_oldest_pending_task_seconds > threshold: the job's longest-waiting task that some node
    could run has waited that long for a node (the stuck-task rules, store/read_stuck.py)."""
    oldest, _infeasible = fig.job_pending(conn, now, StuckRules(pending_long_s=rule.threshold))
    return [_job(f.job_id, f.value) for f in oldest if f.value > rule.threshold]


def tasks_infeasible(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_job_infeasible_tasks > threshold: the job's tasks that ask for resources no alive node has."""
    _oldest, infeasible = fig.job_pending(conn, now)
    return [_job(f.job_id, f.value) for f in infeasible if f.value > rule.threshold]


def task_failure_rate(conn: sqlite3.Connection, rule: AlertRule, now: float, memory: Memory) -> list[Observation]:
    """Per running job: failed / ended task attempts over the rule's window (rayscope_job_tasks_ended_total's
    increase) above the threshold, once at least `min_count` attempts ended in it."""
    ended = fig.job_tasks_ended(conn)
    grown = memory.increase(now, {f"{t.state}:{t.job_id}": float(t.n) for t in ended}, rule.window_s)
    out = []
    for job_id in sorted({t.job_id for t in ended}):
        failed = grown.get(f"FAILED:{job_id}", 0.0)
        total = sum(grown.get(f"{s}:{job_id}", 0.0) for s in fig.ENDED_STATES)
        if total >= rule.min_count and total > 0 and failed / total > rule.threshold:
            out.append(_job(job_id, failed / total))
    return out


# ------------------------------------------------------------------ the agents' figures, from the samples

def _newest(conn: sqlite3.Connection, table: str, columns: str, now: float) -> list[sqlite3.Row]:
    """Each alive node's newest row of `table`, if fresh: two seeks per node on the (node_id, ts) key.
    CROSS JOIN pins that order: left to itself SQLite started from the ts index, running the correlated
    max(ts) for every fresh sample of every node (60 a node), 20x the time at 1,000 nodes."""
    return conn.execute(
        f"SELECT n.node_id, n.node_ip, {columns} FROM nodes n CROSS JOIN {table} s ON s.node_id = n.node_id "
        f"AND s.ts = (SELECT max(ts) FROM {table} WHERE node_id = n.node_id) "
        "WHERE n.state = 'ALIVE' AND s.ts > ?", (now - SAMPLE_STALE_S,)).fetchall()


def _fraction_over(table: str, used: str, total: str) -> Find:
    def find(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
        return [_node(r["node_id"], r["node_ip"], r["used"] / r["total"])
                for r in _newest(conn, table, f"s.{used} AS used, s.{total} AS total", now)
                if r["total"] and r["used"] / r["total"] > rule.threshold]
    find.__doc__ = f"The alive node's newest {table}.{used} / {total} above the rule's threshold (0..1)."
    return find


def object_spilling(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rate(rayscope_object_store_spilled_bytes_total[window]) > threshold: bytes per second the node spilled,
    between its newest object-store sample and its newest one at least a window older (else its oldest);
    both found in one statement (seeks on the (node_id, ts) key), not two queries per node."""
    base_ts = ("coalesce((SELECT max(ts) FROM object_store_samples WHERE node_id = n.node_id AND ts <= s.ts - :window), "
               "(SELECT min(ts) FROM object_store_samples WHERE node_id = n.node_id))")
    rows = conn.execute(
        "SELECT n.node_id, n.node_ip, s.ts, s.spilled_bytes_total AS total, b.ts AS base_ts, "
        "b.spilled_bytes_total AS base_total FROM nodes n CROSS JOIN object_store_samples s ON s.node_id = n.node_id "
        "AND s.ts = (SELECT max(ts) FROM object_store_samples WHERE node_id = n.node_id) "
        f"CROSS JOIN object_store_samples b ON b.node_id = n.node_id AND b.ts = {base_ts} "
        "WHERE n.state = 'ALIVE' AND s.ts > :fresh", {"window": rule.window_s, "fresh": now - SAMPLE_STALE_S}).fetchall()
    out = []
    for r in rows:
        span = r["ts"] - r["base_ts"]
        rate = max(0, r["total"] - r["base_total"]) / span if span > 0 else 0.0
        if rate > rule.threshold:
            out.append(_node(r["node_id"], r["node_ip"], rate))
    return out


def _busiest_gpu(gpus_json: Optional[str]) -> Optional[float]:
    gpus = json.loads(gpus_json or "[]")
    utils = [g.get("utilization_ratio") for g in gpus if isinstance(g, dict)]
    known = [u for u in utils if u is not None]
    return max(known) if known else None


def gpu_reserved_idle(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """rayscope_node_gpus_reserved > 0 and every GPU of the node under the threshold (its busiest GPU's
    utilization in the newest sample, 0..1). Value: the GPUs reserved."""
    reserved = {f.node_id: f for f in fig.gpus_reserved(conn) if f.value > 0}
    if not reserved:
        return []
    out = []
    for r in _newest(conn, "node_samples", "s.gpus", now):
        f = reserved.get(r["node_id"])
        busiest = _busiest_gpu(r["gpus"])
        if f is not None and busiest is not None and busiest < rule.threshold:
            out.append(_node(f.node_id, f.node_ip, f.value))
    return out


CONDITIONS: dict[str, Condition] = {
    "RayNodeDown": Condition(node_down),
    "RayscopeAgentDown": Condition(agent_down, warmup_s=AGENT_WARMUP_S),
    "RayOOMKills": Condition(_worker_exits("NODE_OUT_OF_MEMORY")),
    "RayWorkerFailures": Condition(_worker_exits("SYSTEM_ERROR")),
    "RayNodeMemoryPressure": Condition(_fraction_over("node_samples", "mem_used", "mem_total")),
    "RayObjectStoreNearlyFull": Condition(_fraction_over("object_store_samples", "used_bytes", "capacity_bytes")),
    "RayObjectSpilling": Condition(object_spilling),
    "RayNodeDiskFull": Condition(_fraction_over("node_samples", "disk_used", "disk_total")),
    "RayTasksPendingTooLong": Condition(tasks_pending_too_long),
    "RayTasksInfeasible": Condition(tasks_infeasible),
    "RayTaskFailureRate": Condition(task_failure_rate),
    "RayGPUReservedButIdle": Condition(gpu_reserved_idle),
    "RayscopeIngestLag": Condition(ingest_lag, warmup_s=AGENT_WARMUP_S),
    "RayscopeDataDropped": Condition(data_dropped),
}
