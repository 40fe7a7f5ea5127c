"""Profiling's reads: which process a request means (resolve_target), the processes a summary dumps,
and the stored dumps and profiles (dashboard/store/schema_profiling.py)."""
from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Any, Optional

from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard.errors import Conflict, NotFound
from rayscope.dashboard.store.listing import Column, ListSpec
from rayscope.dashboard.store.schema import RANK_RUNNING


def _node(conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
    """A node by id, unique id prefix, or IP (the forms `ray list nodes` users copy)."""
    rows = conn.execute("SELECT node_id, node_ip FROM nodes WHERE node_id = ? OR node_ip = ?", (ref, ref)).fetchall()
    if not rows:
        rows = conn.execute("SELECT node_id, node_ip FROM nodes WHERE node_id LIKE ? ESCAPE '\\'",
                            (ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",)).fetchall()
    if not rows:
        raise NotFound(f"no node {ref}")
    if len(rows) > 1:
        raise Conflict(f"node {ref} is ambiguous: {', '.join(r['node_id'][:12] for r in rows)}")
    return rows[0]


def _node_ip(conn: sqlite3.Connection, node_id: str) -> Optional[str]:
    r = conn.execute("SELECT node_ip FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
    return r["node_ip"] if r else None


def resolve_target(conn: sqlite3.Connection, t: pm.Target) -> pm.ResolvedTarget:
    """The live process behind a task, actor, worker or (node, pid). A task or actor that is not running
    has no process to look at: Conflict, saying its state."""
    if t.task_id is not None:
        sql = "SELECT * FROM tasks WHERE task_id = ?" + (" AND attempt = ?" if t.attempt is not None else "")
        args = (t.task_id,) if t.attempt is None else (t.task_id, t.attempt)
        r = conn.execute(sql + " ORDER BY attempt DESC LIMIT 1", args).fetchone()
        if r is None:
            raise NotFound(f"no task {t.task_id}" + (f" attempt {t.attempt}" if t.attempt is not None else ""))
        if r["state_rank"] != RANK_RUNNING:
            raise Conflict(f"task {t.task_id} attempt {r['attempt']} is {r['state']}: it has no running process to look at")
        if r["worker_pid"] is None or r["node_id"] is None:  # its worker's events have not all arrived
            raise Conflict(f"task {t.task_id} attempt {r['attempt']} is {r['state']}, but the head does not know its "
                           "worker's node and pid yet: try again in a moment")
        return pm.ResolvedTarget(node_id=r["node_id"], node_ip=_node_ip(conn, r["node_id"]), pid=r["worker_pid"],
                                 worker_id=r["worker_id"], job_id=r["job_id"], task_id=r["task_id"], attempt=r["attempt"],
                                 actor_id=r["actor_id"], name=r["name"])
    if t.actor_id is not None:
        r = conn.execute("SELECT * FROM actors WHERE actor_id = ?", (t.actor_id,)).fetchone()
        if r is None:
            raise NotFound(f"no actor {t.actor_id}")
        if r["state"] != "ALIVE" or r["pid"] is None or r["node_id"] is None:
            raise Conflict(f"actor {t.actor_id} is {r['state']}: it has no running process to look at")
        return _with_process(conn, r["node_id"], r["pid"], actor_id=t.actor_id, job_id=r["job_id"], name=r["class_name"])
    if t.worker_id is not None:
        r = conn.execute("SELECT * FROM workers WHERE worker_id = ?", (t.worker_id,)).fetchone()
        if r is None:
            raise NotFound(f"no worker {t.worker_id}")
        if not r["is_alive"]:
            raise Conflict(f"worker {t.worker_id} has exited ({r['exit_type'] or 'no exit type'})")
        return _with_process(conn, r["node_id"], r["pid"], worker_id=t.worker_id, job_id=r["job_id"])
    assert t.pid is not None and t.node_id is not None  # Target's validator
    node = _node(conn, t.node_id)
    return _with_process(conn, node["node_id"], t.pid)


def _with_process(conn: sqlite3.Connection, node_id: str, pid: int, **known: Any) -> pm.ResolvedTarget:
    """What the latest process snapshot adds: the running task, the worker and job, a name."""
    p = conn.execute("SELECT * FROM processes_v WHERE node_id = ? AND pid = ?", (node_id, pid)).fetchone()
    fields: dict[str, Any] = dict(node_id=node_id, node_ip=_node_ip(conn, node_id), pid=pid)
    if p is not None:
        fields.update(worker_id=p["worker_id"], job_id=p["job_id"], task_id=p["task_id"], actor_id=p["actor_id"],
                      name=p["task_name"] or p["actor_class"] or p["title"])
    fields.update({k: v for k, v in known.items() if v is not None})
    return pm.ResolvedTarget(**fields)


def summary_targets(conn: sqlite3.Connection, job_id: Optional[str], include_idle: bool) -> list[pm.ResolvedTarget]:
    """The worker processes of the latest snapshots that run a task or host a live actor (all workers
    with include_idle), of one job or the whole cluster; nodes whose agent is gone are left out by the
    snapshot itself (their rows are removed when a node dies)."""
    sql = "SELECT * FROM processes_v WHERE role = 'worker'"
    args: list = []
    if not include_idle:
        sql += " AND (task_id IS NOT NULL OR actor_id IS NOT NULL)"
    if job_id is not None:
        sql += " AND job_id = ?"
        args.append(job_id)
    out = []
    for p in conn.execute(sql + " ORDER BY node_id, pid", args):
        out.append(pm.ResolvedTarget(node_id=p["node_id"], node_ip=_node_ip(conn, p["node_id"]), pid=p["pid"],
                                     worker_id=p["worker_id"], job_id=p["job_id"], task_id=p["task_id"],
                                     actor_id=p["actor_id"], name=p["task_name"] or p["actor_class"] or p["title"]))
    return out


# ---------------------------------------------------------------------- stored dumps and profiles


def stack_dump(conn: sqlite3.Connection, dump_id: str) -> pm.StackDump:
    r = conn.execute("SELECT body FROM stack_dumps WHERE dump_id = ?", (dump_id,)).fetchone()
    if r is None:
        raise NotFound(f"no stack dump {dump_id}")
    return pm.StackDump.model_validate_json(zlib.decompress(r["body"]))


def dump_row(r: sqlite3.Row) -> pm.StackDumpRow:
    full = pm.StackDump.model_validate_json(zlib.decompress(r["body"]))
    return pm.StackDumpRow(dump_id=r["dump_id"], target=full.target, method=r["method"], taken_at=r["taken_at"],
                           headline=r["headline"])


def profile(r: sqlite3.Row) -> pm.Profile:
    return pm.Profile(profile_id=r["profile_id"], kind=r["kind"], status=r["status"],
                      target=pm.ResolvedTarget.model_validate_json(r["target"]), method=r["method"],
                      requested_at=r["requested_at"], duration_s=r["duration_s"], rate_hz=r["rate_hz"],
                      finished_at=r["finished_at"], samples=r["samples"], total_bytes=r["total_bytes"],
                      error=r["error"], warning=r["warning"], size_bytes=r["size_bytes"])


def profile_detail(conn: sqlite3.Connection, profile_id: str) -> pm.ProfileDetail:
    r = conn.execute("SELECT * FROM profiles WHERE profile_id = ?", (profile_id,)).fetchone()
    if r is None:
        raise NotFound(f"no profile {profile_id}")
    tops = json.loads(r["tops"]) if r["tops"] else {}
    return pm.ProfileDetail(**profile(r).model_dump(), **tops)


def speedscope(conn: sqlite3.Connection, profile_id: str) -> bytes:
    r = conn.execute("SELECT status, speedscope FROM profiles WHERE profile_id = ?", (profile_id,)).fetchone()
    if r is None:
        raise NotFound(f"no profile {profile_id}")
    if r["speedscope"] is None:
        raise Conflict(f"profile {profile_id} is {r['status']}: it has no document")
    return zlib.decompress(r["speedscope"])


_TARGET_COLUMNS = {name: Column(name, typ) for name, typ in
                   (("node_id", str), ("pid", int), ("task_id", str), ("actor_id", str), ("job_id", str))}
STACK_DUMPS: ListSpec[pm.StackDumpRow] = ListSpec(
    source="stack_dumps", columns={"dump_id": Column("dump_id", str, False), "taken_at": Column("taken_at", float, False),
                                   "method": Column("method", str, False), **_TARGET_COLUMNS},
    key=("dump_id",), default_sort="-taken_at", to_model=dump_row)
PROFILES: ListSpec[pm.Profile] = ListSpec(
    source="profiles", columns={"profile_id": Column("profile_id", str, False), "kind": Column("kind", str, False),
                                "status": Column("status", str, False), "requested_at": Column("requested_at", float, False),
                                "duration_s": Column("duration_s", float, False), **_TARGET_COLUMNS},
    key=("profile_id",), default_sort="-requested_at", to_model=profile)
