"""One agent batch = one SQLite transaction, including the agent's committed seq.

That is the whole delivery guarantee on the head side: either the batch and its seq are both
durable, or neither is and the agent resends it. Under load several queued batches (from any
agents) share one transaction (apply_batches), which commits every included seq with them; none
is acked before that commit.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Optional

from rayscope.dashboard.store.apply_app_metrics import apply_app_metrics
from rayscope.dashboard.store.apply_data import (
    apply_dataset_issues,
    apply_dataset_progress,
    apply_dataset_schemas,
    apply_datasets,
)
from rayscope.dashboard.store.apply_data_metrics import apply_data_metrics
from rayscope.dashboard.store.apply_lifecycle import (
    apply_actors,
    apply_jobs,
    apply_nodes,
    apply_submission_jobs,
    apply_workers,
)
from rayscope.dashboard.store.apply_logs import apply_log_files, apply_log_lines
from rayscope.dashboard.store.apply_metrics import (
    apply_drop_reports,
    apply_node_samples,
    apply_object_store,
    apply_objects,
    apply_processes,
    record_head_drops,
)
from rayscope.dashboard.store.apply_serve import apply_serve_metrics, apply_serve_status
from rayscope.dashboard.store.apply_tasks import apply_task_events
from rayscope.dashboard.store.apply_train import apply_train_run_attempts, apply_train_runs
from rayscope.dashboard.store.context import ApplyContext
from rayscope.dashboard.store.log_index import index_new_lines
from rayscope.dashboard.store.task_rows import TaskRows, prepare_task_rows
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.batch_items import batch_items

log = logging.getLogger(__name__)


@dataclass
class CommitResult:
    applied: bool  # False: the seq was already committed, nothing re-applied
    last_committed_seq: int
    head_drops: int = 0
    deltas: dict[str, list[dict]] = field(default_factory=dict)


def committed_seq(conn: sqlite3.Connection, agent_id: str) -> int:
    row = conn.execute("SELECT last_committed_seq FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    return int(row[0]) if row else 0


def record_hello(conn: sqlite3.Connection, hello: pb.AgentHello, now: float) -> int:
    """Register (or refresh) an agent; returns its last committed seq for the HelloAck."""
    conn.execute(
        """INSERT INTO agents (agent_id, node_id, node_ip, hostname, session_name, session_dir, metrics_url,
             version, started_at, last_seen, connected)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
           ON CONFLICT (agent_id) DO UPDATE SET node_id = excluded.node_id, node_ip = excluded.node_ip,
             hostname = excluded.hostname, session_name = excluded.session_name,
             session_dir = excluded.session_dir, metrics_url = excluded.metrics_url,
             version = excluded.version, started_at = excluded.started_at,
             last_seen = excluded.last_seen, connected = 1""",
        (hello.agent_id, hello.node_id, hello.node_ip or None, hello.hostname or None, hello.session_name or None,
         hello.session_dir or None, hello.metrics_url or None, hello.version or None, hello.started_at or None, now))
    conn.execute(
        """INSERT INTO nodes (node_id, node_ip, hostname, state, is_head_node, metrics_url)
           VALUES (?, ?, ?, 'ALIVE', ?, ?)
           ON CONFLICT (node_id) DO UPDATE SET node_ip = coalesce(nodes.node_ip, excluded.node_ip),
             hostname = excluded.hostname, metrics_url = excluded.metrics_url,
             is_head_node = max(nodes.is_head_node, excluded.is_head_node)""",
        (hello.node_id, hello.node_ip or None, hello.hostname or None, int(hello.is_head_node),
         hello.metrics_url or None))
    return committed_seq(conn, hello.agent_id)


def set_disconnected(conn: sqlite3.Connection, agent_id: str) -> None:
    conn.execute("UPDATE agents SET connected = 0 WHERE agent_id = ?", (agent_id,))


def apply_batch(conn: sqlite3.Connection, agent_id: str, node_id: str, batch: pb.Batch,
                collect_deltas: bool = True, collapse: bool = True) -> CommitResult:
    """One batch in its own transaction (see apply_batches)."""
    return apply_batches(conn, [(agent_id, node_id, batch, collect_deltas)], collapse)[0]


Item = tuple[str, str, pb.Batch, bool]  # agent_id, node_id, batch, collect_deltas


@dataclass
class PreparedBatches:
    """Batches of one transaction with their database-free work done (see prepare_batches)."""

    items: list[Item]
    ctxs: list[ApplyContext]  # one per item
    tasks: TaskRows
    collapse: bool


def prepare_batches(items: list[Item], collapse: bool = True) -> PreparedBatches:
    """What needs no database: the task deltas validated, collapsed and turned into rows."""
    now = time.time()
    ctxs = [ApplyContext(conn=None, node_id=node_id, now=now, collect_deltas=collect)  # type: ignore[arg-type]  # set when applied
            for _, node_id, _, collect in items]
    tasks = prepare_task_rows([(ctx, ev) for ctx, item in zip(ctxs, items) for ev in item[2].tasks], collapse)
    return PreparedBatches(items, ctxs, tasks, collapse)


def apply_batches(conn: sqlite3.Connection, items: list[Item], collapse: bool = True) -> list[CommitResult]:
    """Several batches, in arrival order, in ONE transaction: what apply_batch does for each, with the
    task deltas of all of them merged together (collapsed per task attempt, see collapse_deltas),
    and every applied batch's seq committed in the same transaction. A batch at or below its agent's
    committed seq (counting the batches before it here) is not re-applied."""
    return apply_prepared(conn, prepare_batches(items, collapse))


def _fresh(conn: sqlite3.Connection, items: list[Item]) -> tuple[list[bool], list[int]]:
    """Per item: whether its seq is above its agent's committed one (counting the items before it),
    and that agent's committed seq as of the item."""
    last: dict[str, int] = {}
    fresh, seqs = [], []
    for agent_id, _, batch, _ in items:
        seq = last.get(agent_id)
        if seq is None:
            seq = last[agent_id] = committed_seq(conn, agent_id)
        ok = batch.seq > seq
        if ok:
            last[agent_id] = batch.seq
        fresh.append(ok)
        seqs.append(batch.seq if ok else seq)
    return fresh, seqs


def apply_prepared(conn: sqlite3.Connection, prepared: PreparedBatches) -> list[CommitResult]:
    """Commit prepared batches in one transaction. If some of them turn out to be resends (rare: after
    a reconnect), the rest is prepared again without them, so a resend never merges twice."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        fresh, seqs = _fresh(conn, prepared.items)
        if not all(fresh):
            resent = {it[0] for it, ok in zip(prepared.items, fresh) if not ok}
            conn.executemany("UPDATE agents SET last_seen = ? WHERE agent_id = ?",
                             [(time.time(), agent_id) for agent_id in resent])
            prepared = prepare_batches([it for it, ok in zip(prepared.items, fresh) if ok], prepared.collapse)
        _apply_fresh(conn, prepared)
        index_new_lines(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    ctxs = iter(prepared.ctxs)
    results = []
    for ok, seq in zip(fresh, seqs):
        if not ok:
            results.append(CommitResult(applied=False, last_committed_seq=seq))
            continue
        ctx = next(ctxs)
        results.append(CommitResult(applied=True, last_committed_seq=seq, head_drops=len(ctx.drops),
                                    deltas=ctx.deltas))
    return results


class BatchFailed(RuntimeError):
    """A batch the writer could not apply even alone (its message says why)."""


def apply_transaction(conn: sqlite3.Connection, items: list[Item],
                      prepared: Optional[PreparedBatches]) -> list[CommitResult | BatchFailed]:
    """The writer's job for one coalesced transaction: all batches in one transaction, or, if that
    fails, each batch alone, so one bad batch fails only itself (the servicer counts it as a drop).
    prepared is None when preparing failed in the head."""
    if prepared is not None:
        try:
            return list(apply_prepared(conn, prepared))
        except Exception:  # noqa: BLE001 - retried one by one below
            log.warning("coalesced commit of %d batches failed; applying them one by one", len(items),
                        exc_info=True)
    outcomes: list[CommitResult | BatchFailed] = []
    for item in items:
        try:
            outcomes.append(apply_batch(conn, *item))
        except Exception as err:  # noqa: BLE001 - reported to the servicer
            outcomes.append(BatchFailed(f"{type(err).__name__}: {err}"))
    return outcomes


def mark_all_disconnected(conn: sqlite3.Connection) -> None:
    """At head start: no agent is connected until it says hello again."""
    conn.execute("UPDATE agents SET connected = 0")


def _apply_fresh(conn: sqlite3.Connection, prepared: PreparedBatches) -> None:
    """Inside the transaction: every kind of item of every batch, then the agents' seqs."""
    now = time.time()
    counts: dict[str, tuple[int, int, float]] = {}  # agent -> (highest seq, batches, newest created_at)
    for (agent_id, _, batch, _), ctx in zip(prepared.items, prepared.ctxs):
        ctx.conn = conn
        apply_nodes(ctx, batch.nodes)
        apply_jobs(ctx, batch.jobs)
        apply_submission_jobs(ctx, batch.submission_jobs)
        apply_train_runs(ctx, batch.train_runs)
        apply_train_run_attempts(ctx, batch.train_run_attempts)
        apply_actors(ctx, batch.actors)
        apply_workers(ctx, batch.workers)
        apply_log_files(ctx, batch.log_files)
        apply_log_lines(ctx, batch.log_lines)
        apply_node_samples(ctx, batch.node_samples)
        apply_object_store(ctx, batch.object_store)
        apply_app_metrics(ctx, batch.app_metrics)
        apply_datasets(ctx, batch.datasets)  # Ray Data
        apply_dataset_schemas(ctx, batch.dataset_schemas)
        apply_dataset_issues(ctx, batch.dataset_issues)
        apply_dataset_progress(ctx, batch.dataset_progress)
        apply_data_metrics(ctx, batch.data_metrics)  # after the callback's samples: those win
        apply_serve_status(ctx, batch.serve_status)
        apply_serve_metrics(ctx, batch.serve_metrics)
        if batch.HasField("processes"):
            apply_processes(ctx, batch.processes)
        if batch.HasField("objects"):
            apply_objects(ctx, batch.objects)
        apply_drop_reports(ctx, batch.drops)
        _, n, created = counts.get(agent_id, (0, 0, 0.0))
        counts[agent_id] = (batch.seq, n + 1, max(created, batch.created_at))
    apply_task_events(conn, prepared.tasks)  # the tasks table is touched by nothing else
    for ctx in prepared.ctxs:
        record_head_drops(ctx)
    for agent_id, (seq, n, created) in counts.items():  # created: the ingest lag's start (read_alert_figures.py)
        conn.execute("UPDATE agents SET last_committed_seq = ?, batches_committed = batches_committed + ?, "
                     "last_seen = ?, newest_batch_created_at = max(coalesce(newest_batch_created_at, 0), ?) "
                     "WHERE agent_id = ?", (seq, n, now, created, agent_id))


def skip_batch(conn: sqlite3.Connection, agent_id: str, node_id: str, batch: pb.Batch, error: str) -> None:
    """A batch the head failed to apply (a head bug, not bad items): count it whole as a drop and
    commit its seq, so one poison batch cannot stall the agent's stream forever."""
    now = time.time()
    n = batch_items(batch).total
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT INTO drops (node_id, source, reason, count, bytes, last_detail, last_at) "
            "VALUES (?, 'batch', 'head failed to apply batch', ?, ?, ?, ?) "
            "ON CONFLICT (node_id, source, reason) DO UPDATE SET count = drops.count + excluded.count, "
            "bytes = drops.bytes + excluded.bytes, last_detail = excluded.last_detail, last_at = excluded.last_at",
            (node_id, n, batch.ByteSize(), f"seq {batch.seq}: {error}"[:500], now))
        conn.execute("UPDATE agents SET last_committed_seq = max(last_committed_seq, ?), last_seen = ? "
                     "WHERE agent_id = ?", (batch.seq, now, agent_id))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
