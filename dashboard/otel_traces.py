"""Optional OTLP export of task executions as traces: job -> driver -> task -> child task.

Off unless the head has an OTLP endpoint (--otlp-endpoint / RAYSCOPE_OTLP_ENDPOINT). The head
already merges every task attempt, so traces are built here, after the fact, from stored rows:
nothing runs inside Ray's workers and a slow collector never slows a task. Span and trace ids
are derived from Ray's ids (trace = job, span = task attempt), so spans exported at different
times (a child before its parent) still link up, and a resend is the same span again.

Flow: the WebSocket hub's listener hook hands over (task_id, attempt) of every terminal delta
and the ids of changed jobs; a thread turns them into spans and exports them in batches with the
OpenTelemetry SDK's OTLP/gRPC exporter. A collector that is down costs a bounded backlog, then
the oldest spans are dropped and counted (`dropped`).
"""
from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from typing import Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from rayscope.dashboard import models as m
from rayscope.dashboard.errors import NotFound
from rayscope.dashboard.store import Store

log = logging.getLogger(__name__)

TERMINAL = ("FINISHED", "FAILED")
MAX_BACKLOG = 50_000
EXPORT_EVERY_S = 1.0
# A task's deltas come from its owner and from the worker that ran it, each flushed every ~1 s:
# wait this long after the terminal one so the span has the worker's pid, node and times too.
SETTLE_S = 3.0
BATCH = 512
SCOPE = InstrumentationScope("rayscope.dashboard.otel_traces", "0.1.0")


def _id(nbytes: int, *parts: object) -> int:
    """A stable non-zero id of `nbytes` from Ray ids (OTel ids must not be all zero)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:nbytes], "big") or 1


def trace_id(job_id: str) -> int:
    return _id(16, "job", job_id)


def job_span_id(job_id: str) -> int:
    return _id(8, "job", job_id)


def driver_span_id(job_id: str) -> int:
    return _id(8, "driver", job_id)


def task_span_id(task_id: str, attempt: int) -> int:
    return _id(8, "task", task_id, attempt)


def _ctx(job_id: str, span_id: int) -> SpanContext:
    return SpanContext(trace_id(job_id), span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def _ns(t: Optional[float]) -> Optional[int]:
    return int(t * 1e9) if t is not None else None


class TraceBuilder:
    """Stored rows -> ReadableSpans (pure reads, so it is testable without an exporter)."""

    def __init__(self, store: Store, resource: Resource) -> None:
        self.store = store
        self.resource = resource

    def _span(self, name: str, job_id: str, span_id: int, parent: Optional[int], start: Optional[float],
              end: Optional[float], attrs: dict, status: Status = Status(StatusCode.UNSET)) -> ReadableSpan:
        start = start if start is not None else end  # OTLP needs both times; a row may know only one
        if start is None:
            start = end = time.time()
        return ReadableSpan(
            name=name, context=_ctx(job_id, span_id), parent=_ctx(job_id, parent) if parent else None,
            resource=self.resource, attributes={k: v for k, v in attrs.items() if v is not None},
            kind=SpanKind.INTERNAL, status=status, start_time=_ns(start), end_time=_ns(end if end is not None else start),
            instrumentation_scope=SCOPE)

    def job_spans(self, job: m.Job) -> list[ReadableSpan]:
        job_id = job.job_id
        if job_id is None:  # a submission without a driver job: nothing ran in Ray, no trace
            return []
        attrs = {"ray.job_id": job_id, "ray.entrypoint": job.entrypoint, "ray.namespace": job.ray_namespace}
        driver = {"ray.job_id": job_id, "process.pid": job.driver_pid, "host.ip": job.driver_ip}
        return [
            self._span(f"job {job_id}", job_id, job_span_id(job_id), None, job.start_time, job.end_time, attrs),
            self._span("driver", job_id, driver_span_id(job_id), job_span_id(job_id), job.start_time,
                       job.end_time, driver),
        ]

    def _parent_span(self, t: m.Task) -> int:
        """The parent task's attempt that was running when this one started; the driver otherwise."""
        if t.parent_task_id:
            try:
                attempts = self.store.task_attempts(t.parent_task_id)
            except NotFound:
                attempts = []
            attempts = [a for a in attempts if a.type != "DRIVER_TASK"]
            if attempts:
                start = t.start_time or t.creation_time or 0.0
                chosen = next((a for a in attempts if (a.start_time or 0) <= start <= (a.end_time or float("inf"))),
                              attempts[-1])
                return task_span_id(chosen.task_id, chosen.attempt)
        return driver_span_id(t.job_id)

    def task_span(self, t: m.Task) -> ReadableSpan:
        status = Status(StatusCode.OK) if t.state == "FINISHED" else Status(
            StatusCode.ERROR, (t.error_type or "FAILED") + (f": {t.error_message.splitlines()[-1]}"
                                                            if t.error_message else ""))
        attrs = {
            "ray.task_id": t.task_id, "ray.attempt": t.attempt, "ray.job_id": t.job_id, "ray.task_type": t.type,
            "ray.node_id": t.node_id, "ray.worker_id": t.worker_id, "process.pid": t.worker_pid,
            "ray.actor_id": t.actor_id, "ray.state": t.state, "ray.error_type": t.error_type,
            "ray.duration_s": t.duration,
        }
        return self._span(t.name or t.task_id, t.job_id, task_span_id(t.task_id, t.attempt), self._parent_span(t),
                          t.start_time or t.creation_time, t.end_time, attrs, status)


class TraceExportListener:
    """Collects what to export from the hub's deltas (event loop) and exports on its own thread."""

    def __init__(self, store: Store, exporter: SpanExporter, service_name: str = "ray") -> None:
        self.builder = TraceBuilder(store, Resource.create({"service.name": service_name}))
        self.exporter = exporter
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, int], float] = {}  # (task_id, attempt) -> when its end was seen
        self._jobs: dict[str, None] = {}
        self._backlog: collections.deque[ReadableSpan] = collections.deque()
        self._jobs_done: set[str] = set()
        self.exported = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otlp-traces", daemon=True)

    # called by Hub.publish on the event loop: cheap, no I/O
    def __call__(self, deltas: dict[str, list[dict]]) -> None:
        now = time.monotonic()
        with self._lock:
            for row in deltas.get("tasks", ()):
                if row.get("state") in TERMINAL:
                    self._tasks.setdefault((row["task_id"], row["attempt"]), now)
            for row in deltas.get("jobs", ()):
                if row["job_id"] is not None:  # None: a submission without a driver job (no trace)
                    self._jobs[row["job_id"]] = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.exporter.shutdown()

    def _take(self, settle_s: float) -> tuple[list[tuple[str, int]], list[str]]:
        """Tasks whose end was seen at least settle_s ago, and every changed job."""
        cutoff = time.monotonic() - settle_s
        with self._lock:
            tasks = [k for k, seen in self._tasks.items() if seen <= cutoff]
            for k in tasks:
                del self._tasks[k]
            jobs = list(self._jobs)
            self._jobs.clear()
        return tasks, jobs

    def _build(self, settle_s: float) -> None:
        tasks, jobs = self._take(settle_s)
        spans: list[ReadableSpan] = []
        for job_id in jobs:
            if job_id in self._jobs_done:
                continue
            try:
                job = self.builder.store.job(job_id)
            except NotFound:
                continue
            if job.state == "FINISHED":
                spans += self.builder.job_spans(job)
                self._jobs_done.add(job_id)
        for task_id, attempt in tasks:
            try:
                row = next((t for t in self.builder.store.task_attempts(task_id) if t.attempt == attempt), None)
            except NotFound:
                row = None
            if row is not None and row.state in TERMINAL and row.type != "DRIVER_TASK":
                spans.append(self.builder.task_span(row))
        self._backlog.extend(spans)
        while len(self._backlog) > MAX_BACKLOG:
            self._backlog.popleft()
            self.dropped += 1

    def flush(self, settle_s: float = SETTLE_S) -> bool:
        """Build and export what is pending; False when the exporter failed (kept for the next try)."""
        self._build(settle_s)
        while self._backlog:
            batch = [self._backlog[i] for i in range(min(BATCH, len(self._backlog)))]
            try:
                result = self.exporter.export(batch)
            except Exception:  # noqa: BLE001 - a batch the exporter cannot encode: drop it, never retry forever
                log.exception("OTLP exporter failed on a batch of %d spans; dropped", len(batch))
                result = None
            if result is None:
                self.dropped += len(batch)
            elif result != SpanExportResult.SUCCESS:
                return False
            for _ in batch:
                self._backlog.popleft()
            if result is not None:
                self.exported += len(batch)
        return True

    def _run(self) -> None:
        while not self._stop.wait(EXPORT_EVERY_S):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - tracing must never take the head down
                log.exception("OTLP trace export failed")
        try:
            self.flush(settle_s=0.0)
        except Exception:  # noqa: BLE001
            log.exception("final OTLP trace export failed")


def otlp_listener(store: Store, endpoint: str) -> TraceExportListener:
    """The OTLP/gRPC exporter of the OpenTelemetry SDK (plaintext unless the URL says https)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    insecure = not endpoint.startswith("https://")
    return TraceExportListener(store, OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=10))
