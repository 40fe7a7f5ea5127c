"""What the profiling routes do: resolve the target from the store, ask its node's agent through the
broker (profiling/head_link.py), store and audit the answer, tell WebSocket clients.

A profile runs for seconds: `start_profile` answers at once with a `running` row, and a task of the
head's loop waits for the agent, then stores the document and publishes the `profiles` delta (the
design Ray's synchronous 60 s HTTP request lacks). Every request is audited with who asked, like a
debugger attach (`<db>.profiling-audit.jsonl`).
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Optional

from rayscope.common.api_errors import ApiError, Conflict
from rayscope.common.audit_log import AuditLog
from rayscope.dashboard import models as m
from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard import stack_summary
from rayscope.dashboard.speedscope_tops import BadDocument, top_functions
from rayscope.dashboard.store import Store, apply_profiles, read_profiles
from rayscope.dashboard.store.read_stuck import StuckRules
from rayscope.dashboard.ws import Hub
from rayscope.profiling.head_link import NodeNotLinked, ProfileBroker, ProfilingFailed
from rayscope.wire import rayscope_ingest_pb2 as pb

log = logging.getLogger(__name__)

STUCK_DUMP_EVERY_S = 60.0  # the head's round over newly stuck tasks (a py-spy dump costs ~30 ms on its node)
STUCK_DUMPS_PER_ROUND = 20


class ToolFailed(ApiError):
    """The node's tool could not do it (its one line says why, and the remedy)."""

    status = 502


class AgentUnavailable(ApiError):
    status = 503


@dataclass(frozen=True)
class Who:
    client: str  # the client's own name for itself (x-rayscope-client), else its address
    peer: str


def _api_error(err: Exception) -> ApiError:
    if isinstance(err, NodeNotLinked):
        return AgentUnavailable(str(err))
    if isinstance(err, ProfilingFailed) and err.kind == "process_gone":
        return Conflict(str(err))
    return ToolFailed(str(err))


class ProfilingService:
    def __init__(self, store: Store, broker: ProfileBroker, hub: Hub, audit: AuditLog) -> None:
        self.store = store
        self.broker = broker
        self.hub = hub
        self.audit = audit
        self._running: set[asyncio.Task[None]] = set()

    def _live(self) -> None:
        if not self.store.live:
            raise Conflict("history mode: the cluster is gone, there is no process to look at")

    async def _resolve(self, t: pm.Target) -> pm.ResolvedTarget:
        return await asyncio.to_thread(lambda: read_profiles.resolve_target(self.store.conn, t))

    # ------------------------------------------------------------------ stacks
    async def stack(self, req: pm.StackRequest, who: Who) -> pm.StackDump:
        self._live()
        target = await self._resolve(req)
        self.audit.write("stack", client=who.client, peer=who.peer, node_id=target.node_id, pid=target.pid,
                         task_id=target.task_id, actor_id=target.actor_id, locals=req.locals or None)
        try:
            return await self._dump(target, locals=req.locals, native=req.native)
        except (NodeNotLinked, ProfilingFailed) as err:
            raise _api_error(err) from None

    async def _dump(self, target: pm.ResolvedTarget, *, locals: bool = False, native: bool = False) -> pm.StackDump:
        asked = time.monotonic()
        got = await self.broker.stack(target.node_id, target.pid, locals=locals, native=native)
        dump = _dump_model(got, target, round_trip_ms=(time.monotonic() - asked) * 1000)
        await self.store.writer.run(apply_profiles.insert_dump, dump, stack_summary.dump_headline(dump.threads))
        return dump

    async def summary(self, req: pm.SummaryRequest, who: Who) -> pm.StackSummary:
        self._live()
        started, t0 = time.time(), time.monotonic()
        targets = await asyncio.to_thread(
            lambda: read_profiles.summary_targets(self.store.conn, req.job_id, req.include_idle))
        self.audit.write("stack_summary", client=who.client, peer=who.peer, job_id=req.job_id, workers=len(targets))

        async def one(t: pm.ResolvedTarget) -> pm.StackDump | Exception:
            try:
                return await self._dump(t)
            except (NodeNotLinked, ProfilingFailed) as err:
                return err

        outcomes = await asyncio.gather(*(one(t) for t in targets))
        dumps = [(t, d.threads) for t, d in zip(targets, outcomes) if isinstance(d, pm.StackDump)]
        failures = [pm.SummaryFailure(target=t, error=str(d)) for t, d in zip(targets, outcomes) if isinstance(d, Exception)]
        return pm.StackSummary(job_id=req.job_id, taken_at=started, took_ms=(time.monotonic() - t0) * 1000,
                               workers=len(targets), dumped=len(dumps), groups=stack_summary.group(dumps),
                               failures=failures)

    async def dump_stuck(self, rules: StuckRules, job_id: Optional[str], who: Who, only_undumped: bool = False,
                         limit: int = STUCK_DUMPS_PER_ROUND) -> pm.StuckStacks:
        """Dump the tasks stuck RUNNING (read_stuck.py's running_long), longest stuck first, so each carries
        the stack it is stuck in; `only_undumped`: those without a dump yet (the head's periodic round)."""
        self._live()
        taken_at = time.time()
        page = await asyncio.to_thread(self.store.stuck_tasks, rules, limit, None, job_id, "running_long")
        tasks = [t for t in page.rows if not (only_undumped and t.stuck is not None and t.stuck.last_stack_dump_id)]
        if tasks:
            self.audit.write("stuck_stacks", client=who.client, peer=who.peer, job_id=job_id, tasks=len(tasks))

        async def one(t: m.Task) -> pm.StackDump | pm.SummaryFailure:
            target = pm.ResolvedTarget(node_id=t.node_id or "", pid=t.worker_pid or 0, task_id=t.task_id, attempt=t.attempt)
            try:
                target = await self._resolve(pm.Target(task_id=t.task_id, attempt=t.attempt))
                return await self._dump(target)
            except (ApiError, NodeNotLinked, ProfilingFailed) as err:
                return pm.SummaryFailure(target=target, error=getattr(err, "message", None) or str(err))

        outcomes = await asyncio.gather(*(one(t) for t in tasks))
        dumps = [pm.StackDumpRow(dump_id=d.dump_id, target=d.target, method=d.method, taken_at=d.taken_at,
                                 headline=stack_summary.dump_headline(d.threads))
                 for d in outcomes if isinstance(d, pm.StackDump)]
        return pm.StuckStacks(taken_at=taken_at, dumps=dumps, failures=[f for f in outcomes if isinstance(f, pm.SummaryFailure)])

    async def stuck_dump_loop(self, every_s: float = STUCK_DUMP_EVERY_S) -> None:
        """A live head's round: each task newly stuck RUNNING gets its stack dumped once, by the rules'
        defaults, so the task page and `GET /tasks/stuck` show where it hangs without anyone asking."""
        who = Who(client="rayscope-head (stuck-task detector)", peer="head")
        while True:
            await asyncio.sleep(every_s)
            try:
                done = await self.dump_stuck(StuckRules(), None, who, only_undumped=True)
                if done.dumps or done.failures:
                    log.info("stuck tasks: %d dumped, %d not", len(done.dumps), len(done.failures))
            except Exception:  # noqa: BLE001 - the round must not end the head
                log.exception("dumping stuck tasks failed")

    # ------------------------------------------------------------------ profiles
    async def start_profile(self, req: pm.ProfileRequest, who: Who) -> pm.Profile:
        self._live()
        target = await self._resolve(req)
        duration = req.duration_s or (pm.CPU_DEFAULT_S if req.kind == "cpu" else pm.MEMORY_DEFAULT_S)
        if self.broker.link(target.node_id) is None:
            raise AgentUnavailable(f"node {target.node_id[:12]}'s agent is not connected for profiling")
        prof = pm.Profile(profile_id=uuid.uuid4().hex[:16], kind=req.kind, status="running", target=target,
                          requested_at=time.time(), duration_s=duration, rate_hz=req.rate_hz if req.kind == "cpu" else None)
        self.audit.write("profile", client=who.client, peer=who.peer, profile_id=prof.profile_id, kind=req.kind,
                         node_id=target.node_id, pid=target.pid, task_id=target.task_id, actor_id=target.actor_id,
                         duration_s=duration)
        await self.store.writer.run(apply_profiles.insert_profile, prof)
        self._publish(prof)
        task = asyncio.create_task(self._run_profile(prof, req))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return prof

    async def _run_profile(self, prof: pm.Profile, req: pm.ProfileRequest) -> None:
        detail = pm.ProfileDetail.model_validate(prof.model_dump())
        document: Optional[bytes] = None
        try:
            got = await self.broker.record(prof.target.node_id, prof.target.pid, kind=prof.kind, duration_s=prof.duration_s,
                                           rate_hz=req.rate_hz, idle=req.idle, native=req.native)
            document = zlib.decompress(got.speedscope_zlib)
            detail.status, detail.method = "done", got.method or None  # type: ignore[assignment]  # the node's tool name
            detail.samples, detail.warning = int(got.samples), got.warning or None
            if prof.kind == "memory":
                detail.total_bytes = int(got.total_bytes)
                detail.top_allocations = [pm.Allocation(function=a.function, file=a.file, line=a.line, size=a.size,
                                                        count=a.count) for a in got.top_allocations]
            else:
                detail.top_functions, samples, detail.top_functions_thread = top_functions(document)
                detail.samples = detail.samples or samples
        except (NodeNotLinked, ProfilingFailed, BadDocument, zlib.error) as err:
            detail.status, detail.error, document = "failed", str(err), None
        except Exception as err:  # noqa: BLE001 - the row must not stay `running` after a bug
            log.exception("profile %s failed", prof.profile_id)
            detail.status, detail.error, document = "failed", f"{type(err).__name__}: {err}", None
        detail.finished_at = time.time()
        await self.store.writer.run(apply_profiles.finish_profile, detail, document)
        self._publish(detail)

    def _publish(self, prof: pm.Profile) -> None:
        self.hub.publish({"profiles": [prof.model_dump(include=set(pm.Profile.model_fields))]})


def _dump_model(got: pb.StackDump, target: pm.ResolvedTarget, round_trip_ms: float) -> pm.StackDump:
    return pm.StackDump(dump_id=uuid.uuid4().hex[:16], target=target, method=got.method,  # type: ignore[arg-type]
                        taken_at=got.taken_at or time.time(), took_ms=got.took_ms, round_trip_ms=round_trip_ms,
                        warning=got.warning or None, threads=[stack_summary.thread_model(t) for t in got.threads])
