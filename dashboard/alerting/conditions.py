"""Each rule of alerts/rules.py as the head judges it from its own store, keyed by the rule's name.

The rule table owns the thresholds and `for_s`; a condition here only says which things (hosts, nodes,
jobs) cross the rule's threshold now, with their value, and the state machine (machine.py) applies
`for_s`. Each reads what the head already stores, through indexed lookups bounded by the number of
nodes or jobs (never a scan of the tasks or samples): what the Prometheus expr of the same rule reads
from the head's and the agents' /metrics, the head reads from the rows those series are made of.

What each one reads (docs/alerts.md has the table):
- node liveness: `nodes` (GCS's node table: state, death reason, start time) and `agents` (the one
  liveness rule, store/agent_liveness.py);
- a node's latest sample (`node_samples`, `object_store_samples`), if fresher than SAMPLE_STALE_S (an
  agent that stopped sending is RayscopeAgentDown's business, not a full disk's);
- GCS's worker table (`workers`: exit type and end time) for OOM kills and worker failures;
- the stuck-task rules (store/read_stuck.py) for pending and infeasible tasks;
- counters (`task_counts`, `drops`) for rates over a window: their increase since the snapshot taken
  a window ago, which each condition keeps in its Memory between rounds.
"""
from __future__ import annotations

import json
import sqlite3
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional

from rayscope.alerts.rules import AlertRule
from rayscope.dashboard.alerting.machine import Observation
from rayscope.dashboard.store.agent_liveness import AGENT_LIVENESS_S, live_agent_sql, liveness_cutoff
from rayscope.dashboard.store.read_stuck import Judge, StuckRules, pending_verdicts_by_job
from rayscope.dashboard.store.schema import RANK_RUNNING
from rayscope.runtime.ray_enums import INTENDED_NODE_DEATHS

__all__ = ["CONDITIONS", "Condition", "Memory", "Observation"]

SAMPLE_STALE_S = 60.0  # a node's latest sample older than this judges nothing
# After the head starts, agents need a moment to reconnect (the head marks them all disconnected at
# start): conditions on agent liveness wait this long before judging.
AGENT_WARMUP_S = AGENT_LIVENESS_S + 15.0


class Memory:
    """What a condition keeps between rounds: snapshots of counter totals by key, to tell how much each
    increased over the last `window_s` (Prometheus' increase()). A head that just started has no
    snapshot a window old: the increase is counted from its first round."""

    def __init__(self) -> None:
        self._snaps: deque[tuple[float, dict[str, float]]] = deque()

    def increase(self, now: float, totals: Mapping[str, float], window_s: float) -> dict[str, float]:
        self._snaps.append((now, dict(totals)))
        while len(self._snaps) >= 2 and self._snaps[1][0] <= now - window_s:
            self._snaps.popleft()  # keep the newest snapshot at or before the window's start
        if len(self._snaps) == 1:
            return {k: 0.0 for k in totals}
        base = self._snaps[0][1]
        return {k: max(0.0, v - base.get(k, 0.0)) for k, v in totals.items()}  # a drop (reset) counts as 0


Find = Callable[[sqlite3.Connection, AlertRule, float, Memory], list[Observation]]


@dataclass(frozen=True)
class Condition:
    find: Find
    warmup_s: float = 0.0  # after the head starts, judge nothing for this long (the alerts stay as they are)


def _labels(node_id: Optional[str] = None, node_ip: Optional[str] = None, **more: Optional[str]) -> dict[str, str]:
    out = {"node_id": node_id or "", "node_ip": node_ip or "", **{k: v or "" for k, v in more.items()}}
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------ node liveness

def node_down(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """Per host (node_ip): a node GCS declared dead for a reason nobody asked for (not `ray stop`, not the
    autoscaler removing an idle node), with no node started on that host since it started. Keyed by host,
    so it resolves when the host runs a Ray node again (a restarted node has a new node id).
    Since: when the node was last heard from (its agent's last contact), else when GCS declared it dead."""
    intended = ", ".join("?" * len(INTENDED_NODE_DEATHS))
    rows = conn.execute(
        "SELECT d.node_id, d.node_ip, d.node_name, coalesce(d.end_time, d.state_time) AS died, "
        "(SELECT max(a.last_seen) FROM agents a WHERE a.node_id = d.node_id) AS heard "
        f"FROM nodes d WHERE d.state = 'DEAD' AND coalesce(d.death_reason, '') NOT IN ({intended}) "
        "AND d.node_ip IS NOT NULL AND NOT EXISTS (SELECT 1 FROM nodes b WHERE b.node_ip = d.node_ip "
        "AND b.state = 'ALIVE' AND coalesce(b.start_time, 0) > coalesce(d.start_time, 0)) "
        "ORDER BY d.start_time", INTENDED_NODE_DEATHS).fetchall()
    by_host: dict[str, list[sqlite3.Row]] = {}
    for r in rows:
        by_host.setdefault(r["node_ip"], []).append(r)
    out = []
    for ip, dead in by_host.items():
        last = dead[-1]  # the newest node of the host
        times = [t for t in (last["heard"], last["died"]) if t is not None]
        out.append(Observation(key=ip, value=float(len(dead)), since=min(times) if times else None,
                               labels=_labels(last["node_id"], ip, node_name=last["node_name"])))
    return out


def agent_down(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """Per node: GCS says the node is alive, but no agent of it is live (store/agent_liveness.py). Value:
    seconds since its agent was last heard from (0: never)."""
    rows = conn.execute(
        "SELECT n.node_id, n.node_ip, (SELECT max(a.last_seen) FROM agents a WHERE a.node_id = n.node_id) AS heard "
        "FROM nodes n WHERE n.state = 'ALIVE' AND NOT EXISTS "
        f"(SELECT 1 FROM agents a WHERE a.node_id = n.node_id AND {live_agent_sql('a')})",
        (liveness_cutoff(now),)).fetchall()
    return [Observation(key=r["node_id"], value=now - r["heard"] if r["heard"] else 0.0,
                        labels=_labels(r["node_id"], r["node_ip"])) for r in rows]


# ------------------------------------------------------------------ workers that ended badly

def _worker_exits(exit_type: str, window_s: float) -> Find:
    def find(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
        rows = conn.execute(
            "SELECT w.node_id, coalesce(max(w.node_ip), (SELECT node_ip FROM nodes n WHERE n.node_id = w.node_id)) "
            "AS node_ip, count(*) AS n FROM workers w WHERE w.end_time > ? AND w.exit_type = ? "
            "GROUP BY w.node_id", (now - window_s, exit_type)).fetchall()
        return [Observation(key=r["node_id"], value=float(r["n"]), labels=_labels(r["node_id"], r["node_ip"]))
                for r in rows if r["n"] > rule.threshold]
    find.__doc__ = (f"Per node: workers GCS recorded as ended with exit type {exit_type} in the last "
                    f"{window_s:.0f} s, more than the rule's threshold. Value: how many.")
    return find


# ------------------------------------------------------------------ a node's latest samples

def _latest(conn: sqlite3.Connection, table: str, columns: str, now: float) -> list[sqlite3.Row]:
    """Each alive node's newest row of `table` (one seek per node on its (node_id, ts) key), if fresh."""
    return conn.execute(
        f"SELECT n.node_id, n.node_ip, {columns} FROM nodes n JOIN {table} s ON s.node_id = n.node_id "
        f"AND s.ts = (SELECT max(ts) FROM {table} WHERE node_id = n.node_id) "
        "WHERE n.state = 'ALIVE' AND s.ts > ?", (now - SAMPLE_STALE_S,)).fetchall()


def _fraction_over(table: str, used: str, total: str) -> Find:
    def find(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
        out = []
        for r in _latest(conn, table, f"s.{used} AS used, s.{total} AS total", now):
            if r["total"] and r["used"] / r["total"] > rule.threshold:
                out.append(Observation(key=r["node_id"], value=r["used"] / r["total"],
                                       labels=_labels(r["node_id"], r["node_ip"])))
        return out
    find.__doc__ = f"Per alive node: its latest {table}.{used} / {total} above the rule's threshold (0..1)."
    return find


def object_spilling(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """Per alive node: bytes spilled to external storage over the rule's window (the spilled-bytes counter
    of its newest sample minus that of its newest sample a window ago, else its oldest), above the
    threshold. Read from the samples, so a restarted head judges the same."""
    window = rule_window(rule)
    out = []
    for r in _latest(conn, "object_store_samples", "s.spilled_bytes_total AS total", now):
        base = conn.execute(
            "SELECT spilled_bytes_total FROM object_store_samples WHERE node_id = ? AND ts <= ? ORDER BY ts DESC "
            "LIMIT 1", (r["node_id"], now - window)).fetchone() or conn.execute(
            "SELECT spilled_bytes_total FROM object_store_samples WHERE node_id = ? ORDER BY ts LIMIT 1",
            (r["node_id"],)).fetchone()
        spilled = max(0, r["total"] - base[0])
        if spilled > rule.threshold:
            out.append(Observation(key=r["node_id"], value=float(spilled), labels=_labels(r["node_id"], r["node_ip"])))
    return out


def gpu_reserved_idle(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """Per alive node with GPUs: a running task or a live actor holds a GPU there, and the node's latest
    mean GPU utilization (0..1) is below the rule's threshold."""
    holders: set[str] = set()
    for node_id, req in conn.execute(f"SELECT node_id, required_resources FROM tasks WHERE state_rank = {RANK_RUNNING} "
                                     "AND node_id IS NOT NULL AND required_resources LIKE '%GPU%'"):
        if json.loads(req or "{}").get("GPU", 0) > 0:
            holders.add(node_id)
    for node_id, req in conn.execute("SELECT node_id, required_resources FROM actors WHERE state = 'ALIVE' "
                                     "AND node_id IS NOT NULL AND required_resources LIKE '%GPU%'"):
        if json.loads(req or "{}").get("GPU", 0) > 0:
            holders.add(node_id)
    if not holders:
        return []
    out = []
    for r in _latest(conn, "node_samples", "s.gpu_count, s.gpu_utilization_ratio AS util", now):
        if r["node_id"] in holders and r["gpu_count"] and r["util"] is not None and r["util"] < rule.threshold:
            out.append(Observation(key=r["node_id"], value=r["util"], labels=_labels(r["node_id"], r["node_ip"])))
    return out


def ingest_lag(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
    """Per node whose agent is live: seconds from its newest node sample's creation to now (the agent
    samples every second and ships each sample with its next batch, so this is how far behind what the
    head has committed is), above the rule's threshold."""
    rows = conn.execute(
        "SELECT n.node_id, n.node_ip, (SELECT max(ts) FROM node_samples s WHERE s.node_id = n.node_id) AS newest "
        "FROM nodes n WHERE n.state = 'ALIVE' AND EXISTS "
        f"(SELECT 1 FROM agents a WHERE a.node_id = n.node_id AND {live_agent_sql('a')})",
        (liveness_cutoff(now),)).fetchall()
    return [Observation(key=r["node_id"], value=now - r["newest"], labels=_labels(r["node_id"], r["node_ip"]))
            for r in rows if r["newest"] is not None and now - r["newest"] > rule.threshold]


# ------------------------------------------------------------------ counters over a window

def data_dropped(conn: sqlite3.Connection, rule: AlertRule, now: float, memory: Memory) -> list[Observation]:
    """Per node: items its agent (or the head, for its batches) reported dropped over the rule's window,
    above the threshold (the `drops` table's counts, by node, from the snapshot a window ago)."""
    totals = {r[0]: float(r[1]) for r in conn.execute("SELECT node_id, sum(count) FROM drops GROUP BY node_id")}
    grown = memory.increase(now, totals, rule_window(rule))
    ips = _node_ips(conn, [k for k, v in grown.items() if v > rule.threshold])
    return [Observation(key=k, value=v, labels=_labels(k, ips.get(k))) for k, v in grown.items() if v > rule.threshold]


def task_failure_rate(conn: sqlite3.Connection, rule: AlertRule, now: float, memory: Memory) -> list[Observation]:
    """Per job: failed / (failed + finished) task attempts that ended over the rule's window, above the
    threshold, once at least MIN_ENDED of them ended (a job with 1 failure of 2 is not a rate).
    From the per-job state counts the head keeps exact (task_counts), not a scan of the tasks."""
    totals: dict[str, float] = {}
    for job_id, state, n in conn.execute("SELECT job_id, state, sum(n) FROM task_counts "
                                         "WHERE state IN ('FAILED', 'FINISHED') GROUP BY job_id, state"):
        totals[f"{state}:{job_id}"] = float(n)
    grown = memory.increase(now, totals, rule_window(rule))
    out = []
    for job_id in {k.split(":", 1)[1] for k in grown}:
        failed, finished = grown.get(f"FAILED:{job_id}", 0.0), grown.get(f"FINISHED:{job_id}", 0.0)
        ended = failed + finished
        if ended >= MIN_ENDED and failed / ended > rule.threshold:
            out.append(Observation(key=job_id, value=failed / ended, labels=_labels(job_id=job_id)))
    return out


MIN_ENDED = 20


# ------------------------------------------------------------------ tasks waiting for a node

def _stuck_pending(kind: str) -> Find:
    def find(conn: sqlite3.Connection, rule: AlertRule, now: float, _: Memory) -> list[Observation]:
        judge = Judge(conn, StuckRules(), now)
        out = []
        for job_id, verdicts in pending_verdicts_by_job(judge).items():
            mine = [v for v in verdicts if v.kind == kind]
            if len(mine) > rule.threshold:
                out.append(Observation(key=job_id, value=float(len(mine)), labels=_labels(job_id=job_id),
                                       since=min(v.since for v in mine)))
        return out
    find.__doc__ = f"Per job: its tasks the stuck-task rules (store/read_stuck.py) call {kind}. Value: how many."
    return find


# ------------------------------------------------------------------ helpers

def rule_window(rule: AlertRule) -> float:
    return float(rule.window_s)


def _node_ips(conn: sqlite3.Connection, node_ids: Iterable[str]) -> dict[str, str]:
    ids = [n for n in node_ids if n]
    if not ids:
        return {}
    return {r[0]: r[1] for r in conn.execute(
        f"SELECT node_id, node_ip FROM nodes WHERE node_id IN ({', '.join('?' * len(ids))})", ids)}


CONDITIONS: dict[str, Condition] = {
    "RayNodeDown": Condition(node_down),
    "RayscopeAgentDown": Condition(agent_down, warmup_s=AGENT_WARMUP_S),
    "RayOOMKills": Condition(_worker_exits("NODE_OUT_OF_MEMORY", 600.0)),
    "RayWorkerFailures": Condition(_worker_exits("SYSTEM_ERROR", 600.0)),
    "RayNodeMemoryPressure": Condition(_fraction_over("node_samples", "mem_used", "mem_total")),
    "RayObjectStoreNearlyFull": Condition(_fraction_over("object_store_samples", "used_bytes", "capacity_bytes")),
    "RayObjectSpilling": Condition(object_spilling),
    "RayNodeDiskFull": Condition(_fraction_over("node_samples", "disk_used", "disk_total")),
    "RayTasksPendingTooLong": Condition(_stuck_pending("pending_long")),
    "RayTasksInfeasible": Condition(_stuck_pending("infeasible")),
    "RayTaskFailureRate": Condition(task_failure_rate),
    "RayGPUReservedButIdle": Condition(gpu_reserved_idle),
    "RayscopeIngestLag": Condition(ingest_lag, warmup_s=AGENT_WARMUP_S),
    "RayscopeDataDropped": Condition(data_dropped),
}
