"""The stuck-task detector: which tasks look stuck now, computed at read time (nothing stored).

Rules (constants in StuckRules; the `/tasks/stuck` listing takes them as query parameters):
- running_long: a RUNNING* attempt (RUNNING, RUNNING_IN_RAY_GET, RUNNING_IN_RAY_WAIT; not one paused
  in the debugger) running longer than max(FACTOR x p95, MIN_RUNNING_S), where p95 is over the
  durations of the FINISHED attempts of the same function name, cluster-wide (a function's typical
  duration is a property of its code, and a new job's first hang has no history in its own job).
  FACTOR 3: p95 already is the slow tail, and three times it is far outside what the function does.
  MIN_RUNNING_S 60 s: a 0.1 s function that takes 2 s is slow, not stuck. Fewer than MIN_SAMPLES (5)
  finished runs: never flagged; an absolute threshold would flag every long training or batch
  task, and a badge that is usually wrong teaches users to ignore it. The samples are the finished
  ones among the WINDOW (1,000) oldest and WINDOW newest attempts of the name (two bounded seeks on
  tasks_on_name, not a scan of a million-task function; see typical()).
- infeasible: PENDING_NODE_ASSIGNMENT (the state in which Ray waits for resources) whose
  required_resources no ALIVE node's resources_total satisfies (e.g. {"GPU": 1} on a CPU-only
  cluster, {"CPU": 64} on 8-CPU nodes). Placement-group resources (`*_group_*`) exist only once
  the group is placed, so such tasks are never called infeasible. With no alive node known
  (nodes not reported yet), nothing is infeasible.
- pending_long: PENDING_NODE_ASSIGNMENT for longer than pending_long_s (10 min: the threshold of the alert
  RayTasksPendingTooLong in alerts/rules.py, its one owner, so the badge and the alert agree) and not infeasible:
  feasible but not placed (resources held by others, an autoscaler that does not scale).
`since` is when the attempt entered the state (start_time; the PENDING_NODE_ASSIGNMENT time), and
the stuck listing is longest first. The listing examines every running attempt (bounded by the
cluster's slots; the partial index tasks_running_on) and the PENDING_SCAN (10,000) longest-pending
ones (tasks_on_state); rows of the ordinary listings are each judged as they are shown.
Only a live head flags tasks: in history mode the cluster is gone and nothing is stuck "now".
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

from rayscope.alerts.rules import rule as alert_rule
from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest
from rayscope.dashboard.store import rows
from rayscope.dashboard.store.listing import MAX_LIMIT, decode_cursor, encode_cursor
from rayscope.dashboard.store.schema import RANK_RUNNING
from rayscope.runtime.ray_enums import AWAITING_NODE

PENDING_STATE = AWAITING_NODE
_PENDING_TS = "ts_pending_node_assignment"


@dataclass(frozen=True)
class StuckRules:
    """The rules' constants (module docstring says why these values); GET /tasks/stuck overrides
    factor, min_running_s, min_samples and pending_long_s per request."""

    factor: float = 3.0
    min_running_s: float = 60.0
    min_samples: int = 5
    window: int = 1000
    pending_long_s: float = alert_rule("RayTasksPendingTooLong").threshold
    pending_scan: int = 10_000

    def check(self) -> "StuckRules":
        """BadRequest (one line) for values that make no rule."""
        if not (self.factor > 0 and self.min_running_s >= 0 and self.pending_long_s >= 0 and self.min_samples >= 1):
            raise BadRequest("stuck rules: factor must be > 0, min_running_s and pending_long_s >= 0, "
                             "min_samples >= 1")
        return self


@dataclass(frozen=True)
class Typical:
    p95: float
    samples: int


def p95(durations: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (no interpolation: a value that really occurred)."""
    s = sorted(durations)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def typical(conn: sqlite3.Connection, name: str, rules: StuckRules) -> Optional[Typical]:
    """p95 of the finished runs of `name` among its WINDOW oldest and WINDOW newest attempts; None
    under MIN_SAMPLES. Both ends: in a big job still draining its queue the newest attempts are all
    pending (the oldest ones ran), and on a long-lived cluster the newest runs are the current code."""
    seen: set[int] = set()
    ds: list[float] = []
    for direction in ("ASC", "DESC"):
        for tid, d in conn.execute(
                f"SELECT id, end_time - start_time FROM (SELECT id, state, start_time, end_time FROM tasks "
                f"WHERE name = ? ORDER BY creation_time {direction} LIMIT ?) WHERE state = 'FINISHED' "
                "AND start_time IS NOT NULL AND end_time IS NOT NULL", (name, rules.window)):
            if tid not in seen:  # a function with fewer than 2 x WINDOW attempts: both ends overlap
                seen.add(tid)
                ds.append(max(0.0, d))
    if len(ds) < rules.min_samples:
        return None
    return Typical(p95(ds), len(ds))


def alive_resources(conn: sqlite3.Connection) -> list[dict[str, float]]:
    return [json.loads(r[0] or "{}") for r in
            conn.execute("SELECT resources_total FROM nodes WHERE state = 'ALIVE'")]


def feasible(required: dict[str, float], nodes: list[dict[str, float]]) -> bool:
    """Some alive node has every required resource in the amount asked (its total, not what is free)."""
    need = {k: v for k, v in required.items() if v > 0}
    return any(all(n.get(k, 0.0) >= v for k, v in need.items()) for n in nodes)


def fmt_duration(s: float) -> str:
    """`2.1 s`, `14m 3s`, `2h 5m`: the reason line's durations."""
    if s < 60:
        return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60)}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60)}m"


def _fmt_resources(req: dict[str, float]) -> str:
    return ", ".join(f"{k}: {v:g}" for k, v in sorted(req.items()))


class Attempt(NamedTuple):
    """What the rules read of a task attempt: from a listing's model, or from a narrow row (the stuck
    listing judges thousands of candidates and builds models only for the page it returns)."""

    id: int  # tasks.id (0 when judged from a model)
    task_id: str
    attempt: int
    state: str
    name: Optional[str]
    start_time: Optional[float]
    paused: bool
    pending_since: Optional[float]
    required: str  # required_resources as stored (JSON): feasibility is judged once per distinct set

    @classmethod
    def of_task(cls, t: m.Task) -> "Attempt":
        return cls(0, t.task_id, t.attempt, t.state, t.name, t.start_time, bool(t.is_debugger_paused),
                   t.state_times.get(PENDING_STATE, t.creation_time),
                   json.dumps(t.required_resources, sort_keys=True))


# The columns of Attempt, in order, for the stuck listing's candidate queries.
_ATTEMPT_SQL = (f"SELECT id, task_id, attempt, state, name, start_time, coalesce(is_debugger_paused, 0), "
                f"coalesce({_PENDING_TS}, creation_time), coalesce(required_resources, '{{}}') FROM tasks")


class Judge:
    """Judges task attempts against the rules, with each function's typical duration, the alive
    nodes and each resource set's feasibility read once per request."""

    def __init__(self, conn: sqlite3.Connection, rules: StuckRules, now: float) -> None:
        self.conn, self.rules, self.now = conn, rules, now
        self._typical: dict[str, Optional[Typical]] = {}
        self._nodes: Optional[list[dict[str, float]]] = None
        self._infeasible_sets: dict[str, Optional[dict[str, float]]] = {}

    def _typical_of(self, name: str) -> Optional[Typical]:
        if name not in self._typical:
            self._typical[name] = typical(self.conn, name, self.rules)
        return self._typical[name]

    def _alive(self) -> list[dict[str, float]]:
        if self._nodes is None:
            self._nodes = alive_resources(self.conn)
        return self._nodes

    def judge(self, a: Attempt) -> Optional[m.TaskStuck]:
        """The verdict, without last_stack_dump_id (last_dump: only for the rows returned)."""
        kind = self.classify(a)
        return None if kind is None else self.explain(a, kind)

    def classify(self, a: Attempt) -> Optional[str]:
        """The kind of stuck, or None: cheap (no model, no text), for thousands of candidates."""
        if a.state.startswith("RUNNING"):
            limit = self._running_limit(a)
            return "running_long" if limit is not None and a.start_time is not None and (
                self.now - a.start_time > limit) else None
        if a.state != PENDING_STATE or a.pending_since is None:
            return None
        if self.infeasible(a.required) is not None:
            return "infeasible"
        return "pending_long" if self.now - a.pending_since > self.rules.pending_long_s else None

    def since(self, a: Attempt) -> float:
        """When the attempt entered the state it is stuck in (classify said it is)."""
        since = a.start_time if a.state.startswith("RUNNING") else a.pending_since
        assert since is not None
        return since

    def _running_limit(self, a: Attempt) -> Optional[float]:
        if a.start_time is None or not a.name or a.paused:
            return None
        typ = self._typical_of(a.name)
        return None if typ is None else max(self.rules.factor * typ.p95, self.rules.min_running_s)

    def explain(self, a: Attempt, kind: str) -> m.TaskStuck:
        """The verdict with its one-line reason."""
        since = self.since(a)
        took = fmt_duration(self.now - since)
        if kind == "running_long":
            typ = self._typical_of(a.name or "")
            assert typ is not None
            reason = (f"{a.state} {took}; {a.name} usually takes {fmt_duration(typ.p95)} "
                      f"(p95 of {typ.samples} runs)")
            return m.TaskStuck(kind="running_long", reason=reason, since=since, typical_s=typ.p95,
                               samples=typ.samples, threshold_s=self._running_limit(a))
        req = _fmt_resources(json.loads(a.required))
        if kind == "infeasible":
            reason = f"{PENDING_STATE} {took}; needs {{{req}}}, which no alive node has ({len(self._alive())} alive)"
            return m.TaskStuck(kind="infeasible", reason=reason, since=since)
        reason = (f"{PENDING_STATE} {took}; waiting for a node with {{{req}}} for longer than "
                  f"{fmt_duration(self.rules.pending_long_s)}")
        return m.TaskStuck(kind="pending_long", reason=reason, since=since, threshold_s=self.rules.pending_long_s)

    def infeasible(self, required: str) -> Optional[dict[str, float]]:
        """The resource set when no alive node can ever run it; None when some can (or we cannot tell)."""
        if required not in self._infeasible_sets:
            req = json.loads(required)
            nodes = self._alive()
            ok = not nodes or any("_group_" in k for k in req) or feasible(req, nodes)
            self._infeasible_sets[required] = None if ok else req
        return self._infeasible_sets[required]

    def last_dump(self, t: m.Task) -> None:
        """Sets a running_long verdict's last_stack_dump_id: the attempt's newest stack dump."""
        if t.stuck is None or t.stuck.kind != "running_long":
            return
        r = self.conn.execute(
            "SELECT dump_id FROM stack_dumps WHERE task_id = ? AND coalesce(attempt, ?) = ? "
            "ORDER BY taken_at DESC LIMIT 1", (t.task_id, t.attempt, t.attempt)).fetchone()
        t.stuck.last_stack_dump_id = r[0] if r else None


def annotate(conn: sqlite3.Connection, tasks: Sequence[m.Task], rules: StuckRules, now: float) -> None:
    """Sets `stuck` on the tasks that look stuck (a listing's page, a task's attempts)."""
    judge = Judge(conn, rules, now)
    for t in tasks:
        t.stuck = judge.judge(Attempt.of_task(t))
        judge.last_dump(t)


@dataclass(frozen=True)
class Verdict:
    attempt: Attempt
    kind: str
    since: float

    @property
    def order(self) -> tuple[float, str, int]:
        """Longest stuck first; task id and attempt break ties (and make the cursor exact)."""
        return (self.since, self.attempt.task_id, self.attempt.attempt)


def stuck_verdicts(judge: Judge, job_id: Optional[str] = None, kind: Optional[str] = None) -> list[Verdict]:
    """Every stuck attempt among the running ones and the PENDING_SCAN longest-pending ones, longest
    stuck first."""
    conn, rules = judge.conn, judge.rules
    # `+job_id`: the job filter must not steer SQLite to tasks_on_job (every task of a big job)
    job_sql, job_params = (" AND +job_id = ?", (job_id,)) if job_id else ("", ())
    cands = [Attempt(*r) for r in conn.execute(f"{_ATTEMPT_SQL} WHERE state_rank = {RANK_RUNNING}{job_sql}",
                                               job_params)]
    cands += [Attempt(*r) for r in conn.execute(f"{_ATTEMPT_SQL} WHERE state = ?{job_sql} ORDER BY creation_time "
                                                "LIMIT ?", (PENDING_STATE, *job_params, rules.pending_scan))]
    out = []
    for a in cands:
        k = judge.classify(a)
        if k is not None and (kind is None or k == kind):
            out.append(Verdict(a, k, judge.since(a)))
    out.sort(key=lambda v: v.order)
    return out


@dataclass
class JobPending:
    """A job's attempts waiting for a node, as the rules judge them (pending_by_job)."""

    oldest_since: Optional[float] = None  # when its longest-waiting feasible attempt started waiting
    infeasible: int = 0  # attempts no alive node can run


def pending_by_job(judge: Judge) -> dict[str, JobPending]:
    """Per job with attempts in PENDING_STATE among the PENDING_SCAN longest-pending ones: the oldest
    feasible one's start of waiting and the count of infeasible ones (the head's alert figures,
    read_alert_figures.py: the stuck listing's rules, per job)."""
    out: dict[str, JobPending] = {}
    # grouped in SQL by job and resource set (feasibility is a property of the set): a few rows, not 10,000
    for job_id, required, since, n in judge.conn.execute(
            f"SELECT job_id, required, min(since), count(*) FROM (SELECT job_id, "
            f"coalesce({_PENDING_TS}, creation_time) AS since, coalesce(required_resources, '{{}}') AS required "
            "FROM tasks WHERE state = ? ORDER BY creation_time LIMIT ?) WHERE since IS NOT NULL GROUP BY 1, 2",
            (PENDING_STATE, judge.rules.pending_scan)):
        p = out.setdefault(job_id, JobPending())
        if judge.infeasible(required) is not None:
            p.infeasible += n
        elif p.oldest_since is None or since < p.oldest_since:
            p.oldest_since = since
    return out


def _models(judge: Judge, verdicts: Sequence[Verdict]) -> list[m.Task]:
    """The verdicts' tasks as API models (full rows read by rowid), in the verdicts' order."""
    by_id = {}
    ids = [v.attempt.id for v in verdicts]
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        for r in judge.conn.execute(f"SELECT * FROM tasks WHERE id IN ({', '.join('?' * len(chunk))})", chunk):
            by_id[r["id"]] = r
    out = []
    for v in verdicts:
        r = by_id.get(v.attempt.id)
        if r is None:  # deleted by retention meanwhile
            continue
        t = rows.task(r)
        t.stuck = judge.explain(v.attempt, v.kind)
        judge.last_dump(t)
        out.append(t)
    return out


def stuck_tasks(conn: sqlite3.Connection, rules: StuckRules, now: float, job_id: Optional[str] = None,
                kind: Optional[str] = None) -> list[m.Task]:
    """Every stuck attempt (stuck_verdicts) as API models."""
    judge = Judge(conn, rules, now)
    return _models(judge, stuck_verdicts(judge, job_id, kind))


def stuck_page(conn: sqlite3.Connection, rules: StuckRules, now: float, limit: int, cursor: Optional[str],
               job_id: Optional[str] = None, kind: Optional[str] = None) -> m.Page[m.Task]:
    """One page of the stuck attempts; the cursor is the last row's (since, task_id, attempt)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    judge = Judge(conn, rules, now)
    found = stuck_verdicts(judge, job_id, kind)
    if cursor:
        state = decode_cursor(cursor)
        try:
            after = (float(state["v"]), str(state["k"][0]), int(state["k"][1]))
        except (KeyError, IndexError, TypeError, ValueError):
            raise BadRequest("bad cursor: pass next_cursor from the previous page unchanged") from None
        found = [v for v in found if v.order > after]
    page = found[:limit]
    nxt = None
    if len(found) > limit:
        since, task_id, attempt = page[-1].order
        nxt = encode_cursor({"s": "stuck", "v": since, "k": [task_id, attempt]})
    return m.Page(rows=_models(judge, page), next_cursor=nxt)
