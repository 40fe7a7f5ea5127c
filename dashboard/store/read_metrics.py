"""Node time series, down-sampled in SQL into at most `max_points` buckets per node."""
from __future__ import annotations

import sqlite3
from typing import Optional

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest

_NODE_AGG = """SELECT node_id, CAST((ts - ?) / ? AS INTEGER) AS b, max(ts) AS ts, avg(cpu_percent) AS cpu_percent,
  CAST(avg(mem_used) AS INTEGER) AS mem_used, max(mem_total) AS mem_total,
  CAST(avg(swap_used) AS INTEGER) AS swap_used, max(disk_used) AS disk_used, max(disk_total) AS disk_total,
  max(disk_read_bytes) AS disk_read_bytes, max(disk_write_bytes) AS disk_write_bytes,
  max(net_sent_bytes) AS net_sent_bytes, max(net_recv_bytes) AS net_recv_bytes,
  avg(gpu_utilization_ratio) AS gpu_utilization_ratio, CAST(avg(gpu_memory_used) AS INTEGER) AS gpu_memory_used
FROM node_samples WHERE ts >= ? AND ts <= ? {node} GROUP BY node_id, b ORDER BY node_id, b"""

_STORE_AGG = """SELECT node_id, CAST((ts - ?) / ? AS INTEGER) AS b, CAST(avg(used_bytes) AS INTEGER) AS used,
  max(capacity_bytes) AS capacity, max(spilled_bytes_total) AS spilled
FROM object_store_samples WHERE ts >= ? AND ts <= ? {node} GROUP BY node_id, b"""


def node_series(conn: sqlite3.Connection, node_id: Optional[str], since: float, until: float,
                max_points: int) -> list[m.NodeMetricSeries]:
    if until < since:
        raise BadRequest("until must not be before since")
    if not 1 <= max_points <= 10_000:
        raise BadRequest("max_points must be between 1 and 10000")
    width = max((until - since) / max_points, 1e-6)
    node_sql, extra = ("AND node_id = ?", [node_id]) if node_id else ("", [])
    args = [since, width, since, until, *extra]
    store = {(r["node_id"], r["b"]): r for r in conn.execute(_STORE_AGG.format(node=node_sql), args)}
    series: dict[str, m.NodeMetricSeries] = {}
    # Object-store samples are taken on their own clock: a bucket without one carries the
    # node's previous value forward rather than showing a gap.
    last_store: dict[str, sqlite3.Row] = {}
    for r in conn.execute(_NODE_AGG.format(node=node_sql), args):
        s = series.setdefault(r["node_id"], m.NodeMetricSeries(node_id=r["node_id"], points=[]))
        o = store.get((r["node_id"], r["b"])) or last_store.get(r["node_id"])
        if o is not None:
            last_store[r["node_id"]] = o
        s.points.append(m.NodeMetricPoint(
            ts=r["ts"], cpu_percent=r["cpu_percent"], mem_used=r["mem_used"], mem_total=r["mem_total"],
            swap_used=r["swap_used"], disk_used=r["disk_used"], disk_total=r["disk_total"],
            disk_read_bytes=r["disk_read_bytes"], disk_write_bytes=r["disk_write_bytes"],
            net_sent_bytes=r["net_sent_bytes"], net_recv_bytes=r["net_recv_bytes"],
            object_store_used=o["used"] if o else None, object_store_capacity=o["capacity"] if o else None,
            object_store_spilled=o["spilled"] if o else None,
            gpu_utilization_ratio=r["gpu_utilization_ratio"], gpu_memory_used=r["gpu_memory_used"],
        ))
    return list(series.values())
