"""When the head counts an agent as connected: its stream is open and it spoke recently.

Why one module: the node listing (`agent_connected`), ingest health, the head's `/metrics` gauge and
Prometheus discovery all answer "is this agent alive"; with the rule written once they cannot
disagree about a node (docs/architecture.md, Liveness across hosts).
"""
from __future__ import annotations

import sqlite3

__all__ = ["AGENT_LIVENESS_S", "live_agent_sql", "liveness_cutoff", "count_connected_agents"]

AGENT_LIVENESS_S = 15.0  # an agent not heard from for this long counts as disconnected


def live_agent_sql(alias: str) -> str:
    """SQL true for a live agent row of `agents` (or of a row with its `connected`, `last_seen`
    columns) named `alias`; bind `liveness_cutoff(now)` to its one `?`."""
    return f"{alias}.connected AND {alias}.last_seen > ?"


def liveness_cutoff(now: float) -> float:
    """Agents last heard from at or before this time are not live."""
    return now - AGENT_LIVENESS_S


def count_connected_agents(conn: sqlite3.Connection, live: bool, now: float) -> int:
    """Live agents; 0 for a head serving history (`--history`: nothing is connected)."""
    if not live:
        return 0
    return conn.execute(f"SELECT count(*) FROM agents a WHERE {live_agent_sql('a')}",
                        (liveness_cutoff(now),)).fetchone()[0]
