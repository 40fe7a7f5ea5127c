"""Profiling's writes, run in the writer process (`await store.writer.run(fn, ...)`): a dump as it is
taken, a profile when asked for (running) and when it ends (done or failed)."""
from __future__ import annotations

import json
import sqlite3
import zlib
from typing import Optional

from rayscope.dashboard import profiling_models as pm


def insert_dump(conn: sqlite3.Connection, dump: pm.StackDump, headline: Optional[str]) -> None:
    t = dump.target
    with conn:
        conn.execute("INSERT OR REPLACE INTO stack_dumps (dump_id, taken_at, node_id, pid, task_id, attempt, actor_id, "
                     "job_id, method, headline, body) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (dump.dump_id, dump.taken_at, t.node_id, t.pid, t.task_id, t.attempt, t.actor_id, t.job_id,
                      dump.method, headline, zlib.compress(dump.model_dump_json().encode(), 6)))


def insert_profile(conn: sqlite3.Connection, p: pm.Profile) -> None:
    t = p.target
    with conn:
        conn.execute("INSERT INTO profiles (profile_id, kind, status, node_id, pid, task_id, attempt, actor_id, job_id, "
                     "target, requested_at, duration_s, rate_hz) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (p.profile_id, p.kind, p.status, t.node_id, t.pid, t.task_id, t.attempt, t.actor_id, t.job_id,
                      t.model_dump_json(), p.requested_at, p.duration_s, p.rate_hz))


def finish_profile(conn: sqlite3.Connection, p: pm.ProfileDetail, document: Optional[bytes]) -> None:
    """Done (with its speedscope document) or failed (with its error)."""
    tops = json.dumps({"top_functions": [f.model_dump() for f in p.top_functions], "top_functions_thread": p.top_functions_thread,
                       "top_allocations": [a.model_dump() for a in p.top_allocations]})
    with conn:
        conn.execute("UPDATE profiles SET status = ?, method = ?, finished_at = ?, samples = ?, total_bytes = ?, "
                     "error = ?, warning = ?, size_bytes = ?, tops = ?, speedscope = ? WHERE profile_id = ?",
                     (p.status, p.method, p.finished_at, p.samples, p.total_bytes, p.error, p.warning,
                      len(document) if document is not None else None, tops,
                      zlib.compress(document, 6) if document is not None else None, p.profile_id))


def fail_unfinished(conn: sqlite3.Connection, now: float) -> int:
    """At a live head's start: profiles a previous head was waiting for will never be answered."""
    with conn:
        return conn.execute("UPDATE profiles SET status = 'failed', finished_at = ?, error = 'the head restarted "
                            "while this profile ran' WHERE status = 'running'", (now,)).rowcount
