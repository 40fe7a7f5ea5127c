"""The head's SQLite store: rows prepared here, committed by the writer process; per-thread readers
returning API models."""
from __future__ import annotations

import asyncio
import collections
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import NotFound
from rayscope.dashboard.store import (
    read_app_metrics,
    read_data,
    read_health,
    read_logs,
    read_metrics,
    read_node_distribution,
    read_serve,
    read_tasks,
    rows,
    specs,
)
from rayscope.dashboard.store.apply_batch import (
    CommitResult,
    PreparedBatches,
    apply_transaction,
    mark_all_disconnected,
    prepare_batches,
    record_hello,
    set_disconnected,
    skip_batch,
)
from rayscope.dashboard.store.connection import ReaderPool
from rayscope.dashboard.store.listing import ListQuery, ListSpec, list_page
from rayscope.dashboard.store.read_stuck import StuckRules, annotate, stuck_page
from rayscope.dashboard.store.retention import RetentionPolicy, enforce
from rayscope.dashboard.store.snapshot_throttle import SnapshotThrottle
from rayscope.dashboard.store.writer import Writer
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.batch_items import batch_items

__all__ = ["Store", "CommitResult", "ListQuery"]

log = logging.getLogger(__name__)

# Under load, batches queued for the writer (from any agents) share one transaction, up to:
# (the batch cap was 32; with 1,000 agents each shipping a small batch a second that forced >= 31
# commits a second, each a WAL sync and a flush of the log search index, before any row was written:
# the item cap is what bounds a transaction's size, bench/bench_scale.py)
COALESCE_MAX_BATCHES = 1024
COALESCE_MAX_ITEMS = 160_000  # task deltas + log lines + samples
# Prepared transactions handed to the writer process and not yet committed: one being applied and
# one waiting, so the head prepares the next while the writer commits.
TRANSACTIONS_IN_FLIGHT = 2


def _coalesce_cost(batch: pb.Batch) -> int:
    """A batch's share of COALESCE_MAX_ITEMS: its items, plus one for its own bookkeeping (an empty
    batch still commits its seq)."""
    return batch_items(batch).total + 1


def _resolve_all(taken: list, outcomes: list) -> None:
    for (_, fut, loop), out in zip(taken, outcomes):
        try:
            loop.call_soon_threadsafe(_resolve, fut, out)
        except RuntimeError:  # that event loop is closed: nobody is waiting
            pass


def _resolve(fut: asyncio.Future, out) -> None:
    if fut.done():  # the caller went away (stream cancelled)
        return
    if isinstance(out, BaseException):
        fut.set_exception(out)
    else:
        fut.set_result(out)


class Store:
    def __init__(self, db_path: Path, live: bool = True) -> None:
        self.db_path = Path(db_path)
        self.live = live
        self.writer = Writer(self.db_path)  # creates the schema, so readers can open after it
        if live:
            self.writer.call(mark_all_disconnected)
        self._readers = ReaderPool(self.db_path)
        self._queued: collections.deque = collections.deque()  # batches waiting for the preparer
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rayscope-store-prepare")
        self._in_flight = threading.Semaphore(TRANSACTIONS_IN_FLIGHT)
        self.snapshots = SnapshotThrottle()  # on the preparer thread: which process snapshots to store
        self.distributions = read_node_distribution.DistributionCache()

    def close(self) -> None:
        self._preparer.shutdown(wait=True)
        self._readers.close_all()
        self.writer.close()

    # ------------------------------------------------------------------ writes (async, writer process)
    async def hello(self, hello: pb.AgentHello) -> int:
        self.snapshots.forget(hello.node_id)
        return await self.writer.run(record_hello, hello, time.time())

    async def commit(self, agent_id: str, node_id: str, batch: pb.Batch, collect_deltas: bool) -> CommitResult:
        """Returns once the batch and its seq are durably committed (then the caller acks it).
        Each call queues its batch and one drain job on the preparer thread; a drain takes whatever
        is queued by then (up to the caps) into one transaction. At low load that is just this
        batch, so nothing waits for company; under load the transactions grow. One drain per batch,
        each taking at least one if any is left, so every queued batch is taken by some drain."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queued.append(((agent_id, node_id, batch, collect_deltas), fut, loop))
        self._preparer.submit(self._drain)
        out = await fut
        self._saw_samples(batch)
        return out

    def _saw_samples(self, batch: pb.Batch) -> None:
        """Committed samples older than the distribution cache's complete steps invalidate them."""
        oldest = min((s.ts for s in batch.node_samples), default=math.inf)
        oldest = min(oldest, min((s.ts for s in batch.object_store), default=math.inf))
        if oldest != math.inf:
            self.distributions.saw_samples(oldest, time.time())

    def _drain(self) -> None:
        """On the preparer thread: turn what is queued now into one prepared transaction and hand it
        to the writer process; its reply resolves each caller's future (_committed). Waits while
        TRANSACTIONS_IN_FLIGHT are with the writer, so batches keep coalescing meanwhile."""
        self._in_flight.acquire()
        taken: list = []
        n = 0
        while self._queued and len(taken) < COALESCE_MAX_BATCHES:
            if taken and n + _coalesce_cost(self._queued[0][0][2]) > COALESCE_MAX_ITEMS:
                break
            entry = self._queued.popleft()
            n += _coalesce_cost(entry[0][2])
            taken.append(entry)
        if not taken:
            self._in_flight.release()
            return
        items = [e[0] for e in taken]
        now = time.time()
        for _, node_id, batch, _ in items:
            if batch.HasField("processes") and not self.snapshots.admit(node_id, batch.processes, now):
                batch.ClearField("processes")  # the node's stored snapshot stays (snapshot_throttle.py)
        try:
            prepared: Optional[PreparedBatches] = prepare_batches(items)
        except Exception:  # noqa: BLE001 - the writer applies them one by one instead
            log.exception("preparing %d batches failed", len(items))
            prepared = None
        try:
            job = self.writer.submit(apply_transaction, items, prepared)
        except BaseException as err:  # noqa: BLE001 - e.g. not picklable: each caller gets the error
            self._in_flight.release()
            _resolve_all(taken, [err] * len(taken))
            return
        job.add_done_callback(lambda done: self._committed(taken, done))

    def _committed(self, taken: list, job: Future) -> None:
        self._in_flight.release()
        try:
            outcomes = job.result()
        except BaseException as err:  # noqa: BLE001 - e.g. WriterDied: every caller gets it
            outcomes = [err] * len(taken)
        _resolve_all(taken, outcomes)

    async def skip(self, agent_id: str, node_id: str, batch: pb.Batch, error: str) -> None:
        await self.writer.run(skip_batch, agent_id, node_id, batch, error)

    async def disconnected(self, agent_id: str) -> None:
        await self.writer.run(set_disconnected, agent_id)

    async def enforce_retention(self, policy: RetentionPolicy) -> int:
        return await self.writer.run(enforce, policy, time.time())

    # ------------------------------------------------------------------ reads (sync, request threads)
    @property
    def conn(self):
        return self._readers.get()

    def page(self, spec: ListSpec, q: ListQuery):
        rows_, nxt = list_page(self.conn, spec, q)
        return m.Page(rows=rows_, next_cursor=nxt)

    def workers_spec(self) -> ListSpec:
        return specs.workers_spec(self.live)

    def nodes_spec(self, min_percent: Optional[dict[str, float]] = None) -> ListSpec:
        return specs.nodes_spec(self.live, time.time(), min_percent)

    def node_summary(self) -> m.NodeSummary:
        states = {r[0]: r[1] for r in self.conn.execute("SELECT state, count(*) FROM nodes GROUP BY state")}
        return m.NodeSummary(total=sum(states.values()), states=states)

    def node(self, node_id: str) -> m.Node:
        page = list_page(self.conn, self.nodes_spec(), ListQuery(filters=[f"node_id={node_id}"], limit=1))[0]
        if not page:
            raise NotFound(f"no node {node_id}")
        return page[0]

    def job(self, job_id: str) -> m.Job:
        """By job id, else by submission id: the submission's row (its driver's, once one exists;
        the latest started if its entrypoint started several drivers)."""
        r = read_tasks.get_one(self.conn, "jobs_v", "job_id", job_id) or self.conn.execute(
            "SELECT * FROM jobs_v WHERE submission_id = ? ORDER BY start_time DESC, row_key DESC LIMIT 1",
            (job_id,)).fetchone()
        if r is None:
            raise NotFound(f"no job {job_id}")
        return rows.job(r)

    def actor(self, actor_id: str) -> m.Actor:
        r = read_tasks.get_one(self.conn, "actors", "actor_id", actor_id)
        if r is None:
            raise NotFound(f"no actor {actor_id}")
        return rows.actor(r)

    def task_attempts(self, task_id: str) -> list[m.Task]:
        out = read_tasks.task_attempts(self.conn, task_id)
        if not out:
            raise NotFound(f"no task {task_id}")
        self._annotate_stuck(out)
        return out

    def tasks_page(self, spec: ListSpec, q: ListQuery) -> m.Page[m.Task]:
        """A task listing's page, each row judged by the stuck-task rules (read_stuck.py)."""
        page = self.page(spec, q)
        self._annotate_stuck(page.rows)
        return page

    def _annotate_stuck(self, tasks: list[m.Task]) -> None:
        if self.live:  # a gone cluster's tasks are stuck in nothing "now" (read_stuck.py)
            annotate(self.conn, tasks, StuckRules(), time.time())

    def stuck_tasks(self, rules: StuckRules, limit: int, cursor: Optional[str], job_id: Optional[str],
                    kind: Optional[str]) -> m.Page[m.Task]:
        if not self.live:
            return m.Page(rows=[], next_cursor=None)
        return stuck_page(self.conn, rules.check(), time.time(), limit, cursor, job_id, kind)

    def task_summary(self, job_id: Optional[str]) -> m.TaskSummary:
        return read_tasks.task_summary(self.conn, job_id)

    def actor_summary(self, job_id: Optional[str]) -> m.ActorSummary:
        return read_tasks.actor_summary(self.conn, job_id)

    def log_lines(self, sel: read_logs.LineSelector, limit: int, cursor: Optional[str]) -> m.Page[m.LogLine]:
        rows_, nxt = read_logs.log_lines(self.conn, sel, limit, cursor)
        return m.Page[m.LogLine](rows=rows_, next_cursor=nxt)

    def log_search(self, sq: read_logs.SearchQuery) -> m.Page[m.LogSearchHit]:
        hits, nxt = read_logs.search(self.conn, sq)
        return m.Page[m.LogSearchHit](rows=hits, next_cursor=nxt)

    def node_series(self, node_ids: list[str], since: float, until: float, max_points: int,
                    raw_s: float = read_metrics.DEFAULT_RAW_S):
        return read_metrics.node_series(self.conn, node_ids, since, until, max_points, raw_s)

    def node_latest(self, node_ids: list[str], latest: int):
        return read_metrics.node_latest(self.conn, node_ids, latest)

    def node_distributions(self, metrics: Sequence[str], since: float, until: float, step: Optional[float],
                           max_points: int) -> m.NodeDistributions:
        return read_node_distribution.node_distributions(self.conn, self.distributions, metrics, since, until, step,
                                                         max_points, time.time(), self.live)

    def distribution_cell(self, metric: str, ts: float, step: float, bucket: int, limit: int) -> m.DistributionCell:
        return read_node_distribution.distribution_cell(self.conn, metric, ts, step, bucket, limit)

    def dataset(self, dataset_id: str) -> m.DatasetDetail:
        out = read_data.dataset_detail(self.conn, dataset_id)
        if out is None:
            raise NotFound(f"no dataset {dataset_id}")
        return out

    def app_metrics(self) -> list[m.AppMetric]:
        return read_app_metrics.list_app_metrics(self.conn)

    def app_metric_series(self, name: str, since: float, until: float, group_by: Optional[str],
                          max_points: int) -> list[m.AppMetricGroup]:
        return read_app_metrics.app_metric_series(self.conn, name, since, until, group_by, max_points)

    def serve_apps(self, q: ListQuery) -> m.Page[m.ServeApplication]:
        rows_, nxt = list_page(self.conn, read_serve.SERVE_APPS, q)
        read_serve.add_figures(self.conn, rows_, read_serve.figures_end(self.conn, self.live, time.time()))
        return m.Page[m.ServeApplication](rows=rows_, next_cursor=nxt)

    def serve_app(self, name: str) -> m.ServeApplicationDetail:
        out = read_serve.application(self.conn, name, self.live, time.time())
        if out is None:
            raise NotFound(f"no Serve application {name}")
        return out

    def ingest_health(self) -> m.IngestHealth:
        return read_health.ingest_health(self.conn, self.live, time.time())

    def session_name(self) -> Optional[str]:
        return read_health.latest_session_name(self.conn)

