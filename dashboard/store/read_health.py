"""Ingest health: connected agents, committed batches and every drop, by node/source/reason."""
from __future__ import annotations

import sqlite3

from rayscope.dashboard import models as m
from rayscope.dashboard.store.agent_liveness import count_connected_agents


def ingest_health(conn: sqlite3.Connection, live: bool, now: float) -> m.IngestHealth:
    connected = count_connected_agents(conn, live, now)
    batches = conn.execute("SELECT coalesce(sum(batches_committed), 0) FROM agents").fetchone()[0]
    drops = [m.DropCount(node_id=r["node_id"] or None, source=r["source"], reason=r["reason"], count=r["count"],
                         bytes=r["bytes"], last_detail=r["last_detail"] or None, last_at=r["last_at"])
             for r in conn.execute("SELECT * FROM drops ORDER BY last_at DESC")]
    return m.IngestHealth(agents_connected=connected, batches_committed=batches, drops=drops)


def latest_session_name(conn: sqlite3.Connection) -> str | None:
    r = conn.execute("SELECT session_name FROM agents WHERE session_name IS NOT NULL "
                     "ORDER BY last_seen DESC LIMIT 1").fetchone()
    return r[0] if r else None
