"""REST + WebSocket face of the debugger (docs/debugger.md), mounted by dashboard/app.py.

The head plugs the debugger in through `mount` (and debugger/head_service.py for the agents' gRPC
method), handing it what it needs: its WebSocket hub, the cluster's name, where to keep the audit
log, and the head's listing-parameter dependency. The debugger imports nothing of the head
(tests/test_import_boundaries.py); its API models are its own (debugger/models.py).

The tunnel sits behind the head's token middleware like every other route, and additionally
needs a single-use ticket bound to one session of this cluster. Ticket problems close the
WebSocket with 4401 and a one-line reason, a second client gets 4409 "already attached by".
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Annotated, Any, Callable, Optional, Protocol, Sequence

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response, WebSocket, WebSocketDisconnect

from rayscope.common.api_model import API_PREFIX, Page
from rayscope.common.audit_log import AuditLog, audit_path_for
from rayscope.debugger.models import DebugResumed, DebugSession, DebugTicket
from rayscope.debugger.registry import DebugRegistry, Grant, Publisher, TunnelEnd, TunnelRefused

log = logging.getLogger(__name__)

CLIENT_HEADER = "x-rayscope-client"
MAX_CLOSE_REASON = 120  # WebSocket close reasons are at most 123 bytes


class ListingParams(Protocol):
    """What the head's listing dependency gives (`filter=`, `sort=`, `limit=`, `cursor=`)."""

    filters: Sequence[str]
    sort: Optional[str]
    limit: int
    cursor: Optional[str]


def mount(app: FastAPI, hub: Publisher, session_name: Optional[str], db_path: str,
          listing: Callable[..., Any]) -> DebugRegistry:
    """Creates the registry (app.state.debug) and mounts its routes under /api/v1.

    `hub`: where session changes are pushed; `session_name`: the cluster's (None: a made-up one);
    `db_path`: the head's database, beside which the audit log is kept (none for ":memory:");
    `listing`: the head's FastAPI dependency for listing parameters, so that the sessions listing
    takes them exactly as every other listing does."""
    audit = AuditLog(audit_path_for(db_path, "debug"))
    registry = DebugRegistry(session_name or f"rayscope-{uuid.uuid4().hex[:12]}", hub, audit)
    app.state.debug = registry
    app.include_router(router(registry, listing), prefix=API_PREFIX)
    return registry


def _peer(conn: Request | WebSocket) -> str:
    return f"{conn.client.host}:{conn.client.port}" if conn.client else "unknown"


def router(registry: DebugRegistry, listing: Callable[..., Any]) -> APIRouter:
    """Every route is `async def`: FastAPI runs plain `def` routes in its thread pool, and the
    registry may only be touched on the event loop thread (see registry.py's docstring; it
    raises WrongThread otherwise). Each route does only in-memory work plus one audit line."""
    r = APIRouter()

    @r.get("/debug/sessions", response_model=Page[DebugSession])
    async def list_sessions(q: ListingParams = Depends(listing), job_id: Optional[str] = None,  # noqa: B008
                            node_id: Optional[str] = None, state: Optional[str] = None) -> Page:
        extra = [f"{k}={v}" for k, v in (("job_id", job_id), ("node_id", node_id), ("state", state)) if v]
        return registry.listing([*q.filters, *extra], q.sort, q.limit, q.cursor)

    @r.get("/debug/sessions/{session_id}", response_model=DebugSession)
    async def get_session(session_id: str) -> DebugSession:
        return registry.get(session_id)

    @r.post("/debug/sessions/{session_id}/ticket", response_model=DebugTicket)
    async def ticket(session_id: str, request: Request) -> DebugTicket:
        client = request.headers.get(CLIENT_HEADER) or _peer(request)
        return registry.issue_ticket(session_id, client, _peer(request))

    @r.post("/debug/sessions/{session_id}/resume", status_code=204)
    async def resume(session_id: str, request: Request) -> Response:
        registry.resume(session_id, _peer(request))
        return Response(status_code=204)

    @r.post("/debug/resume", response_model=DebugResumed)
    async def resume_job(job_id: Annotated[str, Query(description="resume every paused session of this job")],
                         request: Request) -> DebugResumed:
        return DebugResumed(resumed=registry.resume_job(job_id, _peer(request)))

    @r.websocket("/debug/tunnel")
    async def tunnel(ws: WebSocket, ticket: str = "") -> None:
        await ws.accept()
        peer = _peer(ws)
        try:
            grant = registry.redeem(ticket, peer)
        except TunnelRefused as err:
            await ws.close(err.code, str(err)[:MAX_CLOSE_REASON])
            return
        reason = ""
        try:
            end = await registry.open_tunnel(grant)
        except TunnelRefused as err:
            registry.detach(grant, peer, str(err))
            await ws.close(err.code, str(err)[:MAX_CLOSE_REASON])
            return
        try:
            reason = await _pump(ws, registry, grant, end)
        finally:
            registry.close_tunnel(grant.link, end)
            registry.detach(grant, peer, reason)
        with contextlib.suppress(Exception):
            await ws.close(1000, reason[:MAX_CLOSE_REASON])

    return r


async def _pump(ws: WebSocket, registry: DebugRegistry, grant: Grant, end: TunnelEnd) -> str:
    """Client bytes -> agent, agent bytes -> client, until either side ends. Returns why."""
    from rayscope.wire import rayscope_ingest_pb2 as pb

    async def upstream() -> str:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return "client closed the tunnel"
            data = msg.get("bytes") if msg.get("bytes") is not None else (msg.get("text") or "").encode()
            grant.link.outbox.put_nowait(pb.DebugHeadMessage(data=pb.TunnelData(tunnel_id=end.tunnel_id, data=data)))

    async def downstream() -> str:
        while True:
            data = await end.inbound.get()
            if data is None:
                return end.close_reason or "the worker's debugger closed the connection"
            await ws.send_bytes(data)

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = done.pop()
        try:
            return first.result()
        except (WebSocketDisconnect, RuntimeError):
            return "client closed the tunnel"
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, Exception):
                await t
