"""The head's end of `rayscope.wire.Ingest/Profile`: one stream per node agent, dialled by the agent,
and the broker the REST routes await.

Hops (one request; the reverse of profiling/node_link.py):
  route -> `ProfileBroker.stack()/record()`: a request id, a future in `_Link.pending`, the request
  on `_Link.outbox` -> `ProfileServicer.profile` yields it onto the agent's stream -> the agent runs
  the tool and answers ProfileResult -> `_read` resolves the future (or fails it with the node's
  one-line error) -> the route stores and returns it.
A stream that ends fails every pending future of that node at once ("the agent disconnected"), and
a node whose agent has no stream fails a request at once: no route waits for an agent that is gone.
Everything runs on the head's one event loop (dashboard/server.py), so no locks.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Optional

import grpc

from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import PROFILE, add_stream_method, serve_side_stream

log = logging.getLogger(__name__)

# What a request may take beyond its own duration: the tool's start (memray attaches through gdb in
# 2-8 s), the transform and the trip back.
STACK_TIMEOUT_S = 15.0
RECORD_GRACE_S = 45.0


class NodeNotLinked(Exception):
    """The node's agent holds no profiling stream (not running, an older agent, or reconnecting)."""


class ProfilingFailed(Exception):
    """The node's tool failed; `kind` is ProfileResult.error_kind, the message its one line."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Link:
    node_id: str
    node_ip: str
    caps: pb.ProfilerCapabilities
    outbox: "asyncio.Queue[pb.ProfileHeadMessage]" = field(default_factory=asyncio.Queue)
    pending: "dict[int, asyncio.Future[pb.ProfileResult]]" = field(default_factory=dict)


@dataclass(frozen=True)
class LinkInfo:
    node_id: str
    node_ip: str
    caps: pb.ProfilerCapabilities


class ProfileBroker:
    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ for the routes
    def links(self) -> list[LinkInfo]:
        return [LinkInfo(k.node_id, k.node_ip, k.caps) for k in self._links.values()]

    def link(self, node_id: str) -> Optional[LinkInfo]:
        k = self._links.get(node_id)
        return None if k is None else LinkInfo(k.node_id, k.node_ip, k.caps)

    async def stack(self, node_id: str, pid: int, *, locals: bool = False, native: bool = False,
                    timeout_s: float = STACK_TIMEOUT_S) -> pb.StackDump:
        msg = pb.ProfileHeadMessage(stack=pb.StackRequest(pid=pid, locals=locals, native=native))
        return (await self._ask(node_id, msg, timeout_s)).stack

    async def record(self, node_id: str, pid: int, *, kind: str, duration_s: float, rate_hz: int = 100,
                     idle: bool = True, native: bool = False) -> pb.RecordedProfile:
        msg = pb.ProfileHeadMessage(record=pb.RecordRequest(pid=pid, kind=kind, duration_s=duration_s, rate_hz=rate_hz,
                                                            idle=idle, native=native))
        return (await self._ask(node_id, msg, duration_s + RECORD_GRACE_S)).profile

    async def _ask(self, node_id: str, msg: pb.ProfileHeadMessage, timeout_s: float) -> pb.ProfileResult:
        link = self._links.get(node_id)
        if link is None:
            raise NodeNotLinked(f"node {node_id[:12]}'s agent is not connected for profiling "
                                "(not running, restarting, or older than this head)")
        msg.request_id = next(self._ids)
        fut: asyncio.Future[pb.ProfileResult] = asyncio.get_running_loop().create_future()
        link.pending[msg.request_id] = fut
        link.outbox.put_nowait(msg)
        try:
            result = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise ProfilingFailed("timeout", f"node {node_id[:12]} did not answer within {timeout_s:g} s") from None
        finally:
            link.pending.pop(msg.request_id, None)
        if result.error_kind:
            raise ProfilingFailed(result.error_kind, result.error or result.error_kind)
        return result

    # ------------------------------------------------------------------ for the servicer
    def _connected(self, hello: pb.ProfileHello) -> _Link:
        old = self._links.get(hello.node_id)
        if old is not None:  # the agent restarted or reconnected before its old stream ended
            self._gone(old, "the agent reconnected")
        link = _Link(hello.node_id, hello.node_ip, hello.capabilities)
        self._links[hello.node_id] = link
        return link

    def _answered(self, link: _Link, result: pb.ProfileResult) -> None:
        fut = link.pending.get(result.request_id)
        if fut is not None and not fut.done():
            fut.set_result(result)

    def _gone(self, link: _Link, why: str) -> None:
        if self._links.get(link.node_id) is link:
            del self._links[link.node_id]
        for fut in link.pending.values():
            if not fut.done():
                fut.set_exception(ProfilingFailed("failed", f"node {link.node_id[:12]}'s agent disconnected ({why})"))
        link.pending.clear()


class ProfileServicer:
    def __init__(self, broker: ProfileBroker, authorize: Callable[[grpc.aio.ServicerContext], bool]) -> None:
        self.broker = broker
        self.authorize = authorize  # the head's token check of a call's metadata

    async def profile(self, requests: AsyncIterator[pb.ProfileAgentMessage],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[pb.ProfileHeadMessage]:
        async for msg in serve_side_stream(requests, context, self.authorize, "ProfileHello", "profiling link",
                                           self._connected, self._read,
                                           lambda link: self.broker._gone(link, "its stream ended")):
            yield msg

    def _connected(self, hello: pb.ProfileHello) -> _Link:
        link = self.broker._connected(hello)
        log.info("node %s can profile with ptrace: %s", link.node_id, link.caps.ptrace)
        return link

    async def _read(self, requests: AsyncIterator[pb.ProfileAgentMessage], link: _Link) -> None:
        async for msg in requests:
            if msg.HasField("result"):
                self.broker._answered(link, msg.result)


def add_profile_service(server: grpc.aio.Server, servicer: ProfileServicer) -> None:
    add_stream_method(server, PROFILE, servicer.profile, pb.ProfileAgentMessage, pb.ProfileHeadMessage)
