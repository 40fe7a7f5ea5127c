"""Every view of "is this agent connected" gives one answer (dashboard/store/agent_liveness.py):
the node listing, ingest health, the head's /metrics counts and Prometheus discovery."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rayscope.dashboard.store import specs
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.listing import ListQuery, list_page
from rayscope.dashboard.store.read_health import ingest_health
from rayscope.dashboard.store.read_prometheus import cluster_counts, live_agent_targets

NOW = 1_800_000_000.0


def test_all_views_agree_on_which_agents_are_connected(tmp_path: Path) -> None:
    conn = open_writer(tmp_path / "head.db")
    conn.row_factory = sqlite3.Row
    # (node, connected, seconds since last heard): live, stream open but silent 16 s, stream closed,
    # and one silent 14 s (still live: the limit is 15 s).
    agents = {"n1": (1, 1.0), "n2": (1, 16.0), "n3": (0, 1.0), "n4": (1, 14.0)}
    for node, (connected, ago) in agents.items():
        conn.execute("INSERT INTO nodes (node_id, state) VALUES (?, 'ALIVE')", (node,))
        conn.execute("INSERT INTO agents (agent_id, node_id, metrics_url, last_seen, connected) VALUES (?, ?, ?, ?, ?)",
                     (f"{node}@s", node, f"http://{node}:1/metrics", NOW - ago, connected))
    conn.commit()
    live = {"n1", "n4"}

    nodes, _ = list_page(conn, specs.nodes_spec(True, NOW), ListQuery(limit=100))
    assert {n.node_id for n in nodes if n.agent_connected} == live
    assert ingest_health(conn, True, NOW).agents_connected == len(live)
    assert cluster_counts(conn, True, NOW).agents_connected == len(live)
    assert {t.node_id for t in live_agent_targets(conn, NOW)} == live
    # A head serving history has nothing connected, whatever the table says.
    nodes, _ = list_page(conn, specs.nodes_spec(False, NOW), ListQuery(limit=100))
    assert not any(n.agent_connected for n in nodes)
    assert ingest_health(conn, False, NOW).agents_connected == 0
    assert cluster_counts(conn, False, NOW).agents_connected == 0
