"""Profiling routes (issue 14): stack dumps, the cluster-wide summary, CPU and memory profiles, and
what each node can profile. The work is in dashboard/profiling_service.py; POST routes act on live
processes (409 in history mode), GET routes read the store (history mode too)."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from rayscope.common.api_model import Page
from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.api.tasks import StuckRulesDep
from rayscope.dashboard.profiling_service import ProfilingService, Who
from rayscope.dashboard.store import ListQuery, read_profiles

router = APIRouter(tags=["profiling"])
CLIENT_HEADER = "x-rayscope-client"  # the name a CLI or the UI gives itself, recorded in the audit log


def _service(request: Request) -> ProfilingService:
    return request.app.state.profiling


def _who(request: Request) -> Who:
    peer = f"{request.client.host}:{request.client.port}" if request.client else "unknown"
    return Who(client=request.headers.get(CLIENT_HEADER) or peer, peer=peer)


ServiceDep = Annotated[ProfilingService, Depends(_service)]
WhoDep = Annotated[Who, Depends(_who)]


def _with(q: ListQuery, **filters: Optional[object]) -> ListQuery:
    extra = [f"{k}={v}" for k, v in filters.items() if v is not None]
    return ListQuery(filters=q.filters + extra, sort=q.sort, limit=q.limit, cursor=q.cursor)


@router.post("/profiling/stacks", response_model=pm.StackDump)
async def take_stack(req: pm.StackRequest, service: ServiceDep, who: WhoDep) -> pm.StackDump:
    """Every thread of the target's process now, innermost frame first (py-spy; without ptrace rights,
    the worker's faulthandler fallback, with `warning` saying why and what to change)."""
    return await service.stack(req, who)


@router.get("/profiling/stacks", response_model=Page[pm.StackDumpRow])
def list_stacks(store: StoreDep, q: ListingDep, task_id: Optional[str] = None, actor_id: Optional[str] = None,
                node_id: Optional[str] = None, pid: Optional[int] = None):
    return store.page(read_profiles.STACK_DUMPS, _with(q, task_id=task_id, actor_id=actor_id, node_id=node_id, pid=pid))


@router.get("/profiling/stacks/{dump_id}", response_model=pm.StackDump)
def get_stack(dump_id: str, store: StoreDep) -> pm.StackDump:
    return read_profiles.stack_dump(store.conn, dump_id)


@router.post("/profiling/stack-summary", response_model=pm.StackSummary)
async def stack_summary(req: pm.SummaryRequest, service: ServiceDep, who: WhoDep) -> pm.StackSummary:
    """Dump every busy worker of a job (or of the cluster) at once, grouped by identical stacks."""
    return await service.summary(req, who)


@router.post("/profiling/stuck-stacks", response_model=pm.StuckStacks)
async def stuck_stacks(service: ServiceDep, who: WhoDep, rules: StuckRulesDep, job_id: Optional[str] = None) -> pm.StuckStacks:
    """Dump every task stuck RUNNING now (the rules of GET /tasks/stuck, same overrides), longest stuck
    first, at most 20; each then carries its dump as `stuck.last_stack_dump_id`. The head also does this
    by itself once a minute for tasks newly stuck (default rules)."""
    return await service.dump_stuck(rules, job_id, who)


@router.post("/profiling/profiles", response_model=pm.Profile, status_code=202)
async def start_profile(req: pm.ProfileRequest, service: ServiceDep, who: WhoDep) -> pm.Profile:
    """Starts a CPU (py-spy) or memory (memray) profile; answers at once with status `running`. The
    WebSocket's `profiles` delta (or GET /profiling/profiles/{id}) says when it is done."""
    return await service.start_profile(req, who)


@router.get("/profiling/profiles", response_model=Page[pm.Profile])
def list_profiles(store: StoreDep, q: ListingDep, task_id: Optional[str] = None, actor_id: Optional[str] = None,
                  kind: Optional[pm.ProfileKind] = None):
    return store.page(read_profiles.PROFILES, _with(q, task_id=task_id, actor_id=actor_id, kind=kind))


@router.get("/profiling/profiles/{profile_id}", response_model=pm.ProfileDetail)
def get_profile(profile_id: str, store: StoreDep) -> pm.ProfileDetail:
    return read_profiles.profile_detail(store.conn, profile_id)


@router.get("/profiling/profiles/{profile_id}/speedscope.json", response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "the speedscope document"}})
def get_speedscope(profile_id: str, store: StoreDep,
                   download: Annotated[bool, Query(description="as an attachment")] = False) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="profile-{profile_id}.speedscope.json"'} if download else {}
    return Response(read_profiles.speedscope(store.conn, profile_id), media_type="application/json", headers=headers)


@router.get("/profiling/capabilities", response_model=list[pm.NodeProfilingCapabilities])
def capabilities(request: Request, store: StoreDep) -> list[pm.NodeProfilingCapabilities]:
    """Per node: which tools its agent found and how far ptrace reaches (with the one-line remedy)."""
    service: ProfilingService = request.app.state.profiling
    linked = {k.node_id: k for k in service.broker.links()}
    out = []
    for r in store.conn.execute("SELECT node_id, node_ip FROM nodes WHERE state = 'ALIVE' ORDER BY node_id"):
        k = linked.get(r["node_id"])
        if k is None:
            out.append(pm.NodeProfilingCapabilities(node_id=r["node_id"], node_ip=r["node_ip"], connected=False))
            continue
        c = k.caps
        out.append(pm.NodeProfilingCapabilities(
            node_id=k.node_id, node_ip=k.node_ip or r["node_ip"], connected=True, py_spy=c.py_spy or None,
            py_spy_version=c.py_spy_version or None, memray=c.memray or None, gdb=c.gdb or None, ptrace=c.ptrace or None,
            remedy=c.remedy or None, fallback_signal=c.fallback_signal, notes=[n for n in c.notes.splitlines() if n]))
    return out
