"""The head's debugger state: paused sessions (per agent link), tickets, attach locks, tunnels.

Live state only, kept in memory on the head's event loop: a paused worker exists only while
its agent's `Ingest/Debug` stream is up, so a head restart simply re-learns every session
from the agents' snapshots. Every change is pushed on `/api/v1/ws` as `debug_sessions`.

Single-threaded by contract: the registry owns asyncio objects (each link's outbox queue, each
tunnel's future and inbound queue) and feeds the Hub's client queues, none of which is
thread-safe. A `put_nowait` from a thread-pool thread wakes no waiter on the loop, so on an idle
head a resume or tunnel message would sit in the outbox until unrelated traffic woke the loop.
Every public method therefore checks that it runs on the thread that created the registry (the
head's event loop thread: `dashboard/server.py` builds the app inside its coroutine) and raises
`WrongThread` otherwise, so a route that runs in the thread pool fails loudly instead of late.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, ParamSpec, Protocol, Sequence, TypeVar

from rayscope.common import api_model as m
from rayscope.common.api_errors import BadRequest, Conflict, Forbidden, NotFound
from rayscope.common.audit_log import AuditLog
from rayscope.common.filters import FilterSyntaxError, parse_filters
from rayscope.debugger import models as dm
from rayscope.wire import rayscope_ingest_pb2 as pb

TICKET_TTL_S = 30.0
OPEN_TIMEOUT_S = 10.0
CLOSE_TICKET_REFUSED = 4401
CLOSE_ALREADY_ATTACHED = 4409
CLOSE_UNREACHABLE = 4404


class TunnelRefused(Exception):
    """The tunnel cannot open; `code` is the WebSocket close code, str() the one-line reason."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Publisher(Protocol):
    """What the registry needs of the head's WebSocket hub (dashboard/ws.py: Hub): push deltas,
    `{kind: rows}`, to every client. The head passes its hub to `debugger.api.mount`."""

    def publish(self, deltas: dict[str, list[dict]]) -> None: ...


class WrongThread(RuntimeError):
    """A registry method was called off its owning thread (see the module docstring)."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def on_owner_thread(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Raises WrongThread unless called on the thread that created the registry."""

    @functools.wraps(method)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        registry = args[0]
        assert isinstance(registry, DebugRegistry)
        registry.check_thread(method.__name__)
        return method(*args, **kwargs)

    return checked


def gone_message(session_id: str) -> str:
    return f"session {session_id} is gone (worker resumed or died)"


@dataclass
class TunnelEnd:
    """The head's end of one tunnel through an agent."""

    tunnel_id: int
    opened: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    inbound: asyncio.Queue = field(default_factory=asyncio.Queue)  # bytes, then None at the end
    close_reason: str = ""


@dataclass
class AgentLink:
    node_id: str
    node_ip: str
    cluster_id: str
    outbox: asyncio.Queue = field(default_factory=asyncio.Queue)  # pb.DebugHeadMessage
    sessions: set[str] = field(default_factory=set)
    tunnels: dict[int, TunnelEnd] = field(default_factory=dict)


@dataclass
class _Ticket:
    session_id: str
    cluster_id: str
    client: str
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """A redeemed ticket: the session it opens and who holds it."""

    session: dm.DebugSession
    link: AgentLink
    client: str


class DebugRegistry:
    def __init__(self, cluster_id: str, hub: Publisher, audit: AuditLog) -> None:
        self.cluster_id = cluster_id
        self.hub = hub
        self.audit = audit
        self.sessions: dict[str, dm.DebugSession] = {}
        self.links: dict[str, AgentLink] = {}  # session_id -> link
        self.tickets: dict[str, _Ticket] = {}
        self._tunnel_ids = itertools.count(1)
        self._owner = threading.current_thread()

    def check_thread(self, what: str) -> None:
        """Raises WrongThread off the owning thread (the head's event loop thread)."""
        if threading.current_thread() is not self._owner:
            raise WrongThread(f"DebugRegistry.{what} called on thread {threading.current_thread().name!r}; "
                              f"it runs only on {self._owner.name!r} (the head's event loop), because it "
                              "mutates asyncio queues and futures owned by that loop")

    # ------------------------------------------------------------------ agents
    @on_owner_thread
    def agent_connected(self, hello: pb.DebugHello) -> AgentLink:
        return AgentLink(node_id=hello.node_id, node_ip=hello.node_ip, cluster_id=hello.session_name)

    @on_owner_thread
    def agent_gone(self, link: AgentLink) -> None:
        for sid in list(link.sessions):
            self.session_down(link, sid)
        for end in link.tunnels.values():
            end.close_reason = end.close_reason or f"the agent of node {link.node_id} disconnected"
            end.inbound.put_nowait(None)
            if not end.opened.done():
                end.opened.set_result(end.close_reason)
        link.tunnels.clear()

    @on_owner_thread
    def session_up(self, link: AgentLink, up: pb.DebugSessionUp) -> None:
        old = self.sessions.get(up.session_id)
        if old is None:
            old = next((o for o in self.sessions.values()
                        if o.node_id == link.node_id and o.pid == up.pid and o.state == "attached"), None)
        s = dm.DebugSession(
            session_id=up.session_id, cluster_id=up.cluster_id or link.cluster_id,
            state=old.state if old else "paused",
            reason="exception" if up.reason == "exception" else "breakpoint", exception=up.exception or None,
            job_id=up.job_id or None, task_id=up.task_id or None, attempt=up.attempt,
            actor_id=up.actor_id or None, function=up.function or None, file=up.file or None,
            line=up.line or None, node_id=link.node_id, node_ip=link.node_ip or None, pid=up.pid,
            worker_id=up.worker_id or None, working_dir=up.working_dir or None, paused_at=up.paused_at,
            attached_by=old.attached_by if old else None, attached_at=old.attached_at if old else None,
        )
        self.sessions[s.session_id] = s
        self.links[s.session_id] = link
        link.sessions.add(s.session_id)
        self._publish(s)

    @on_owner_thread
    def session_down(self, link: AgentLink, session_id: str) -> None:
        link.sessions.discard(session_id)
        if self.links.get(session_id) is not link:
            return
        self.links.pop(session_id, None)
        s = self.sessions.pop(session_id, None)
        if s is not None:
            self._publish(s.model_copy(update={"state": "gone"}))

    def _publish(self, s: dm.DebugSession) -> None:
        self.hub.publish({"debug_sessions": [s.model_dump()]})

    # ------------------------------------------------------------------ reading
    @on_owner_thread
    def get(self, session_id: str) -> dm.DebugSession:
        s = self.sessions.get(session_id)
        if s is None:
            raise NotFound(gone_message(session_id))
        return s

    @on_owner_thread
    def listing(self, filters: Sequence[str], sort: Optional[str], limit: int, cursor: Optional[str]) -> m.Page:
        fields = list(dm.DebugSession.model_fields)
        rows = list(self.sessions.values())
        try:
            exprs = parse_filters(filters, fields)
        except FilterSyntaxError as e:
            raise BadRequest(str(e)) from None
        for f in exprs:
            rows = [r for r in rows if (_text(getattr(r, f.key)) == f.value) != f.negate]
        name = (sort or "paused_at").lstrip("-+")
        if name not in fields:
            raise BadRequest(f"unknown sort field {name!r}; valid fields: {', '.join(fields)}")
        rows.sort(key=lambda r: _sort_key(getattr(r, name)), reverse=(sort or "").startswith("-"))
        if not 1 <= limit <= 10_000:
            raise BadRequest("limit must be between 1 and 10000")
        start = 0
        if cursor:
            try:
                start = int(cursor)
            except ValueError:
                raise BadRequest("bad cursor: pass next_cursor from the previous page unchanged") from None
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return m.Page[dm.DebugSession](rows=page, next_cursor=str(start + limit) if more else None)

    # ------------------------------------------------------------------ tickets
    @on_owner_thread
    def issue_ticket(self, session_id: str, client: str, peer: str) -> dm.DebugTicket:
        s = self.get(session_id)
        if s.cluster_id != self.cluster_id:
            self.audit.write("ticket_refused", session_id=session_id, client=client, peer=peer,
                             detail="foreign cluster " + s.cluster_id)
            raise Forbidden(f"session {session_id} belongs to cluster {s.cluster_id}, not to this head's "
                            f"cluster {self.cluster_id}")
        holder = self._worker_holder(s)
        if holder is not None:
            raise Conflict(f"session {session_id} is already attached by {holder.attached_by} since "
                           f"{_clock(holder.attached_at)}")
        self._expire_tickets()
        token = secrets.token_urlsafe(24)
        t = _Ticket(session_id=session_id, cluster_id=self.cluster_id, client=client,
                    expires_at=time.time() + TICKET_TTL_S)
        self.tickets[token] = t
        self.audit.write("ticket", session_id=session_id, client=client, peer=peer, expires_at=t.expires_at,
                         **_who(s))
        return dm.DebugTicket(ticket=token, session_id=session_id, expires_at=t.expires_at,
                             tunnel_path=f"{m.API_PREFIX}/debug/tunnel?ticket={token}")

    def _expire_tickets(self) -> None:
        cutoff = time.time() - 600  # expired tickets are kept a while to say "expired", not "unknown"
        for k in [k for k, t in self.tickets.items() if t.expires_at < cutoff]:
            del self.tickets[k]

    @on_owner_thread
    def redeem(self, ticket: str, peer: str) -> Grant:
        """Single use: a ticket is spent by its first tunnel attempt, whatever the outcome."""
        t = next((v for k, v in self.tickets.items() if hmac.compare_digest(k, ticket)), None)
        if t is None:
            self.audit.write("attach_refused", peer=peer, detail="unknown ticket")
            raise TunnelRefused(CLOSE_TICKET_REFUSED, "unknown ticket: not issued by this head (another "
                                                      "cluster's?); ask this head for one")
        reason = None
        if t.used:
            reason = "ticket already used: tickets are single-use; ask for a new one"
        elif time.time() > t.expires_at:
            reason = f"ticket expired ({TICKET_TTL_S:g} s after issue); ask for a new one"
        elif t.cluster_id != self.cluster_id:
            reason = f"ticket belongs to cluster {t.cluster_id}, not {self.cluster_id}"
        t.used = True
        if reason:
            self.audit.write("attach_refused", session_id=t.session_id, client=t.client, peer=peer, detail=reason)
            raise TunnelRefused(CLOSE_TICKET_REFUSED, reason)
        s = self.sessions.get(t.session_id)
        if s is None:
            raise TunnelRefused(CLOSE_UNREACHABLE, gone_message(t.session_id))
        holder = self._worker_holder(s)
        if holder is not None:
            self.audit.write("attach_refused", session_id=s.session_id, client=t.client, peer=peer,
                             detail=f"already attached by {holder.attached_by}")
            raise TunnelRefused(CLOSE_ALREADY_ATTACHED, f"session {s.session_id} is already attached by "
                                                        f"{holder.attached_by} since {_clock(holder.attached_at)}")
        s = self._set_attached(s, t.client, time.time())
        self.audit.write("attach", session_id=s.session_id, client=t.client, peer=peer, **_who(s))
        return Grant(session=s, link=self.links[s.session_id], client=t.client)

    def _worker_holder(self, s: dm.DebugSession) -> Optional[dm.DebugSession]:
        """One client per worker process: its debugpy serves one connection at a time."""
        for other in self.sessions.values():
            if other.state == "attached" and other.node_id == s.node_id and other.pid == s.pid:
                return other
        return None

    def _set_attached(self, s: dm.DebugSession, client: Optional[str], at: Optional[float]) -> dm.DebugSession:
        """Every paused thread of that worker shares its one debugpy connection, so all of them
        are attached (or detached) together."""
        update = {"state": "attached" if client else "paused", "attached_by": client, "attached_at": at}
        for other in list(self.sessions.values()):
            if other.node_id == s.node_id and other.pid == s.pid:
                self.sessions[other.session_id] = other.model_copy(update=update)
                self._publish(self.sessions[other.session_id])
        return self.sessions[s.session_id]

    @on_owner_thread
    def detach(self, grant: Grant, peer: str, reason: str) -> None:
        self.audit.write("detach", session_id=grant.session.session_id, client=grant.client, peer=peer,
                         detail=reason or None, **_who(grant.session))
        s = self.sessions.get(grant.session.session_id)
        if s is not None and s.attached_by == grant.client:
            self._set_attached(s, None, None)

    # ------------------------------------------------------------------ tunnels and resume
    async def open_tunnel(self, grant: Grant) -> TunnelEnd:
        self.check_thread("open_tunnel")
        link = grant.link
        end = TunnelEnd(tunnel_id=next(self._tunnel_ids))
        link.tunnels[end.tunnel_id] = end
        link.outbox.put_nowait(pb.DebugHeadMessage(open=pb.TunnelOpen(tunnel_id=end.tunnel_id,
                                                                      session_id=grant.session.session_id)))
        try:
            error = await asyncio.wait_for(asyncio.shield(end.opened), OPEN_TIMEOUT_S)
        except TimeoutError:
            error = f"the agent of node {link.node_id} did not open the tunnel within {OPEN_TIMEOUT_S:g} s"
        if error:
            self.close_tunnel(link, end)
            raise TunnelRefused(CLOSE_UNREACHABLE, error)
        return end

    @on_owner_thread
    def close_tunnel(self, link: AgentLink, end: TunnelEnd) -> None:
        if link.tunnels.pop(end.tunnel_id, None) is not None:
            link.outbox.put_nowait(pb.DebugHeadMessage(close=pb.TunnelClosed(tunnel_id=end.tunnel_id)))

    @on_owner_thread
    def tunnel_event(self, link: AgentLink, msg: pb.DebugAgentMessage) -> None:
        kind = msg.WhichOneof("kind")
        if kind == "opened":
            end = link.tunnels.get(msg.opened.tunnel_id)
            if end is not None and not end.opened.done():
                end.opened.set_result("")
        elif kind == "data":
            end = link.tunnels.get(msg.data.tunnel_id)
            if end is not None:
                end.inbound.put_nowait(msg.data.data)
        elif kind == "closed":
            end = link.tunnels.pop(msg.closed.tunnel_id, None)
            if end is not None:
                end.close_reason = msg.closed.reason
                if not end.opened.done():
                    end.opened.set_result(msg.closed.reason or "the agent closed the tunnel")
                end.inbound.put_nowait(None)

    @on_owner_thread
    def resume(self, session_id: str, peer: str) -> None:
        s = self.get(session_id)
        if s.state == "attached":
            raise Conflict(f"session {session_id} is attached by {s.attached_by}; continue or detach there")
        self.links[session_id].outbox.put_nowait(pb.DebugHeadMessage(resume=pb.ResumeSession(session_id=session_id)))
        self.audit.write("resume", session_id=session_id, peer=peer, **_who(s))

    @on_owner_thread
    def resume_job(self, job_id: str, peer: str) -> list[str]:
        done = []
        for s in list(self.sessions.values()):
            if s.job_id == job_id and s.state == "paused":
                self.resume(s.session_id, peer)
                done.append(s.session_id)
        return done


def _sort_key(value: object) -> tuple[bool, object]:
    return (value is None, "" if value is None else value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _clock(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "?"


def _who(s: dm.DebugSession) -> dict[str, object]:
    return {"job_id": s.job_id, "task_id": s.task_id, "node_id": s.node_id, "pid": s.pid}
