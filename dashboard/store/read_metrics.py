"""Node time series: recent samples at full resolution, older ones down-sampled in SQL.

Why two tiers: the agent samples every second, and a chart of the last hour in 360 buckets drew a
young cluster as a handful of 10-second averages joined by straight lines. So the range is first
fitted to the data that exists (a 6-minute-old cluster's "last hour" is its 6 minutes; a finished
run is its whole run), the newest `raw_s` seconds of it come as the samples themselves, and only
what is older is averaged into at most `max_points` buckets per node.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Sequence

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import BadRequest

# The agent reads the object store in the same tick as the node, just after it: a store sample up to
# this much later than a node sample belongs to it.
SAME_TICK_S = 0.5
DEFAULT_RAW_S = 600.0  # the newest 10 minutes at full resolution (600 points per node at 1 Hz)
MAX_RAW_S = 3600.0
MAX_NODE_IDS = 1000
MAX_LATEST = 10

# Bucket key `b`: the sample's own ts at or after :raw_from (one group per sample), else the start
# of its bucket (always before :raw_from). Both order in time, so the two tiers merge by key.
_KEY = ("CASE WHEN ts >= :raw_from THEN ts "
        "ELSE :since + CAST((ts - :since) / :width AS INTEGER) * :width END")

_NODE_AGG = f"""SELECT node_id, {_KEY} AS b, max(ts) AS ts, avg(cpu_percent) AS cpu_percent,
  CAST(avg(mem_used) AS INTEGER) AS mem_used, max(mem_total) AS mem_total,
  CAST(avg(swap_used) AS INTEGER) AS swap_used, max(disk_used) AS disk_used, max(disk_total) AS disk_total,
  max(disk_read_bytes) AS disk_read_bytes, max(disk_write_bytes) AS disk_write_bytes,
  max(net_sent_bytes) AS net_sent_bytes, max(net_recv_bytes) AS net_recv_bytes,
  avg(gpu_utilization_ratio) AS gpu_utilization_ratio, CAST(avg(gpu_memory_used) AS INTEGER) AS gpu_memory_used
FROM node_samples WHERE ts >= :since AND ts <= :until {{node}} GROUP BY node_id, b ORDER BY node_id, b"""

_STORE_AGG = f"""SELECT node_id, {_KEY} AS b, CAST(avg(used_bytes) AS INTEGER) AS used,
  max(capacity_bytes) AS capacity, max(spilled_bytes_total) AS spilled
FROM object_store_samples WHERE ts >= :since AND ts <= :until {{node}} GROUP BY node_id, b ORDER BY node_id, b"""

# Each node's newest samples: the n-th newest ts found by a key seek, then the rows from it on.
_LATEST_FROM = "(SELECT ts FROM {table} WHERE node_id = i.node_id ORDER BY ts DESC LIMIT 1 OFFSET :skip)"
_NODE_LATEST = """SELECT s.node_id, s.ts AS b, s.ts, s.cpu_percent, s.mem_used, s.mem_total, s.swap_used, s.disk_used,
  s.disk_total, s.disk_read_bytes, s.disk_write_bytes, s.net_sent_bytes, s.net_recv_bytes, s.gpu_utilization_ratio,
  s.gpu_memory_used
FROM ({ids}) i CROSS JOIN node_samples s ON s.node_id = i.node_id
  AND s.ts >= coalesce(""" + _LATEST_FROM.format(table="node_samples") + """, 0)
ORDER BY s.node_id, s.ts"""
_STORE_LATEST = """SELECT s.node_id, s.ts AS b, s.used_bytes AS used, s.capacity_bytes AS capacity,
  s.spilled_bytes_total AS spilled
FROM ({ids}) i CROSS JOIN object_store_samples s ON s.node_id = i.node_id
  AND s.ts >= coalesce(""" + _LATEST_FROM.format(table="object_store_samples") + """, 0)
ORDER BY s.node_id, s.ts"""

_EXTENT = "SELECT min(ts), max(ts) FROM node_samples WHERE ts >= :since AND ts <= :until {node}"


def node_series(conn: sqlite3.Connection, node_ids: Sequence[str], since: float, until: float,
                max_points: int, raw_s: float = DEFAULT_RAW_S) -> list[m.NodeMetricSeries]:
    """Every node's series, or those of `node_ids` (a page of a table: not 1,000 nodes' worth)."""
    if until < since:
        raise BadRequest("until must not be before since")
    if not 1 <= max_points <= 10_000:
        raise BadRequest("max_points must be between 1 and 10000")
    if not 0 <= raw_s <= MAX_RAW_S:
        raise BadRequest(f"raw_s must be between 0 and {MAX_RAW_S:.0f}")
    if len(node_ids) > MAX_NODE_IDS:
        raise BadRequest(f"at most {MAX_NODE_IDS} node ids")
    node_sql = "AND node_id IN (SELECT value FROM json_each(:node_ids))" if node_ids else ""
    ids = json.dumps(list(node_ids))
    first, last = conn.execute(_EXTENT.format(node=node_sql), {"since": since, "until": until, "node_ids": ids}).fetchone()
    if first is None:
        return []
    # Fit the range to the data, so the buckets divide what exists, not an empty hour before it.
    raw_from = max(first, last - raw_s) if raw_s > 0 else last + 1.0
    width = max((raw_from - first) / max_points, 1e-6)
    args = {"since": first, "until": last, "raw_from": raw_from, "width": width, "node_ids": ids}
    return _series(conn.execute(_NODE_AGG.format(node=node_sql), args),
                   conn.execute(_STORE_AGG.format(node=node_sql), args))


def node_latest(conn: sqlite3.Connection, node_ids: Sequence[str], latest: int) -> list[m.NodeMetricSeries]:
    """Each node's newest `latest` samples (of `node_ids`, else every node): what a table's "now" and
    "per second" columns need (the nodes page's disk and network rates), two key seeks per node
    instead of a window of every node's samples (bench/bench_scale.py: 100 nodes' 15 s was the
    slowest page call at 1,000 nodes)."""
    if not 1 <= latest <= MAX_LATEST:
        raise BadRequest(f"latest must be between 1 and {MAX_LATEST}")
    if len(node_ids) > MAX_NODE_IDS:
        raise BadRequest(f"at most {MAX_NODE_IDS} node ids")
    ids = "SELECT value AS node_id FROM json_each(:node_ids)" if node_ids else "SELECT node_id FROM nodes"
    args = {"node_ids": json.dumps(list(node_ids)), "skip": latest - 1}
    return _series(conn.execute(_NODE_LATEST.format(ids=ids), args), conn.execute(_STORE_LATEST.format(ids=ids), args))


def _series(node_rows: Iterable[sqlite3.Row], store_rows: Iterable[sqlite3.Row]) -> list[m.NodeMetricSeries]:
    """Points from node rows and object-store rows, both keyed `b` and ordered by (node_id, b)."""
    stores: dict[str, list[sqlite3.Row]] = {}
    for r in store_rows:
        stores.setdefault(r["node_id"], []).append(r)
    series: dict[str, m.NodeMetricSeries] = {}
    # Object-store samples are taken on their own clock: a point takes the node's latest store row
    # up to its key (plus SAME_TICK_S), carried forward rather than shown as a gap.
    cursor: dict[str, int] = {}
    for r in node_rows:
        nid = r["node_id"]
        s = series.setdefault(nid, m.NodeMetricSeries(node_id=nid, points=[]))
        rows, i = stores.get(nid, []), cursor.get(nid, -1)
        while i + 1 < len(rows) and rows[i + 1]["b"] <= r["b"] + SAME_TICK_S:
            i += 1
        cursor[nid] = i
        o = rows[i] if i >= 0 else None
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
