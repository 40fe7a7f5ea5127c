"""Storing node samples, object-store samples and the per-node snapshots (processes, objects)."""
from __future__ import annotations

import json
import math
from typing import Iterable

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.wire import rayscope_ingest_pb2 as pb

INSERT_SAMPLE = """
INSERT OR IGNORE INTO node_samples (node_id, ts, cpu_percent, cpu_count, mem_total, mem_used,
  mem_available, swap_total, swap_used, disk_total, disk_used, disk_read_bytes, disk_write_bytes,
  net_sent_bytes, net_recv_bytes, load1, gpu_count, gpu_utilization_ratio, gpu_memory_used, gpus)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _check_ts(ts: float) -> None:
    if not math.isfinite(ts) or ts <= 0:
        raise MalformedItem("sample without a valid ts")


def sample_row(node_id: str, s: pb.NodeSample) -> tuple:
    _check_ts(s.ts)
    gpus = list(s.gpus)
    util = sum(g.utilization_ratio for g in gpus) / len(gpus) if gpus else None
    gmem = sum(g.memory_used for g in gpus) if gpus else None
    gjson = json.dumps([
        {"index": g.index, "uuid": g.uuid, "name": g.name, "utilization_ratio": g.utilization_ratio,
         "memory_used": g.memory_used, "memory_total": g.memory_total,
         "temperature_celsius": g.temperature_celsius, "power_watts": g.power_watts,
         "processes": [{"pid": p.pid, "memory_used": p.memory_used} for p in g.processes]}
        for g in gpus]) if gpus else None
    return (node_id, s.ts, s.cpu_percent, s.cpu_count, s.mem_total, s.mem_used, s.mem_available,
            s.swap_total, s.swap_used, s.disk_total, s.disk_used, s.disk_read_bytes, s.disk_write_bytes,
            s.net_sent_bytes, s.net_recv_bytes, s.load1, len(gpus), util, gmem, gjson)


def _ensure_node(ctx: ApplyContext) -> None:
    ctx.conn.execute("INSERT OR IGNORE INTO nodes (node_id, state) VALUES (?, 'ALIVE')", (ctx.node_id,))


def apply_node_samples(ctx: ApplyContext, samples: Iterable[pb.NodeSample]) -> None:
    latest = None
    for s in samples:
        try:
            row = sample_row(ctx.node_id, s)
        except MalformedItem as err:
            ctx.drop("metrics", err, f"node sample ts={s.ts}")
            continue
        ctx.conn.execute(INSERT_SAMPLE, row)
        if latest is None or s.ts >= latest.ts:
            latest = s
    if latest is not None:
        _ensure_node(ctx)
        ctx.conn.execute(
            "UPDATE nodes SET cpu_percent = ?, mem_used = ?, mem_total = ?, num_gpus = ? WHERE node_id = ?",
            (latest.cpu_percent, latest.mem_used, latest.mem_total, len(latest.gpus), ctx.node_id))
        ctx.delta("metrics", {"node_id": ctx.node_id, "ts": latest.ts})


def apply_object_store(ctx: ApplyContext, samples: Iterable[pb.ObjectStoreSample]) -> None:
    latest = None
    for s in samples:
        try:
            _check_ts(s.ts)
        except MalformedItem as err:
            ctx.drop("metrics", err, f"object store sample ts={s.ts}")
            continue
        ctx.conn.execute(
            "INSERT OR IGNORE INTO object_store_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ctx.node_id, s.ts, s.used_bytes, s.capacity_bytes, s.spilled_bytes_total,
             s.restored_bytes_total, s.num_objects, s.fallback_bytes))
        if latest is None or s.ts >= latest.ts:
            latest = s
    if latest is not None:
        _ensure_node(ctx)
        ctx.conn.execute(
            "UPDATE nodes SET object_store_used = ?, object_store_capacity = ? WHERE node_id = ?",
            (latest.used_bytes, latest.capacity_bytes, ctx.node_id))


INSERT_PROCESS = """
INSERT OR REPLACE INTO processes (node_id, pid, ppid, role, title, cmdline, cpu_percent, rss, uss,
  num_fds, num_threads, create_time, worker_id, job_id, task_name, actor_class, gpu_memory_used, sampled_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def apply_processes(ctx: ApplyContext, snap: pb.ProcessSnapshot) -> None:
    """The snapshot replaces the node's previous one: processes that are gone disappear."""
    ctx.conn.execute("DELETE FROM processes WHERE node_id = ?", (ctx.node_id,))
    for p in snap.processes:
        if p.pid <= 0 or not p.role:
            ctx.drop("processes", MalformedItem("process without pid or role"), f"pid {p.pid}")
            continue
        ctx.conn.execute(INSERT_PROCESS, (
            ctx.node_id, p.pid, p.ppid or None, p.role, p.title or None, p.cmdline or None, p.cpu_percent,
            p.rss, p.uss, p.num_fds, p.num_threads, p.create_time or None,
            (p.worker_id if p.HasField("worker_id") else None) or None,
            (p.job_id if p.HasField("job_id") else None) or None,
            (p.task_name if p.HasField("task_name") else None) or None,
            (p.actor_class if p.HasField("actor_class") else None) or None,
            p.gpu_memory_used, snap.ts))
    ctx.delta("processes", {"node_id": ctx.node_id, "count": len(snap.processes)})


def apply_objects(ctx: ApplyContext, snap: pb.ObjectSnapshot) -> None:
    ctx.conn.execute("DELETE FROM object_refs WHERE node_id = ?", (ctx.node_id,))
    for i, r in enumerate(snap.refs):
        try:
            require_hex(r.object_id, "object_id")
        except MalformedItem as err:
            ctx.drop("objects", err, f"object ref {r.object_id[:60]!r}")
            continue
        ctx.conn.execute(
            "INSERT INTO object_refs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ctx.node_id, i, r.object_id, r.node_ip or None, r.pid, r.worker_type or None,
             (r.job_id if r.HasField("job_id") else None) or None,
             (r.worker_id if r.HasField("worker_id") else None) or None,
             r.call_site or None, r.task_status or None, r.attempt,
             r.object_size if r.object_size >= 0 else None, r.reference_type or "UNKNOWN", snap.ts))


UPSERT_DROP = """
INSERT INTO drops (node_id, source, reason, count, bytes, last_detail, last_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (node_id, source, reason) DO UPDATE SET
  count = drops.count + excluded.count, bytes = drops.bytes + excluded.bytes,
  last_detail = CASE WHEN excluded.last_detail != '' THEN excluded.last_detail ELSE drops.last_detail END,
  last_at = max(drops.last_at, excluded.last_at)
"""


def apply_drop_reports(ctx: ApplyContext, reports: Iterable[pb.DropReport]) -> None:
    for d in reports:
        ts = d.ts if math.isfinite(d.ts) and d.ts > 0 else ctx.now
        ctx.conn.execute(UPSERT_DROP, (ctx.node_id, d.source or "unknown", d.reason or "unknown",
                                       d.count, d.bytes, d.detail[:500], ts))
        ctx.delta("drops", {"node_id": ctx.node_id, "source": d.source, "reason": d.reason})


def record_head_drops(ctx: ApplyContext) -> None:
    """What the head itself refused in this batch, aggregated like the agent's reports."""
    for d in ctx.drops:
        ctx.conn.execute(UPSERT_DROP, (ctx.node_id, d.source, d.reason, d.count, d.bytes, d.detail, ctx.now))
        ctx.delta("drops", {"node_id": ctx.node_id, "source": d.source, "reason": d.reason})
