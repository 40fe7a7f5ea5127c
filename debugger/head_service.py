"""The head's end of `rayscope.wire.Ingest/Debug`: one stream per agent, dialled by the agent.

Agent -> head: hello, session up/down, tunnel opened/data/closed. Head -> agent: whatever the
registry queues on the link's outbox (tunnel open/data/close, resume). When the stream ends,
every session of that agent is gone and its tunnels close.

The head registers it (dashboard/server.py) with its own check of the agent's token (`authorize`):
the debugger imports nothing of the head.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable

import grpc

from rayscope.debugger.registry import DebugRegistry
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import DEBUG, accept_hello, add_stream_method, until_reader_ends

log = logging.getLogger(__name__)

class DebugServicer:
    def __init__(self, registry: DebugRegistry, authorize: Callable[[grpc.aio.ServicerContext], bool]) -> None:
        self.registry = registry
        self.authorize = authorize  # the head's token check of a call's metadata

    async def debug(self, requests: AsyncIterator[pb.DebugAgentMessage],
                    context: grpc.aio.ServicerContext) -> AsyncIterator[pb.DebugHeadMessage]:
        first = await accept_hello(requests, context, self.authorize, "DebugHello")
        if first is None:
            return
        link = self.registry.agent_connected(first.hello)
        log.info("debug relay of node %s connected", link.node_id)
        reader = asyncio.create_task(self._read(requests, link))
        try:
            async for msg in until_reader_ends(link.outbox, reader):
                yield msg
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.registry.agent_gone(link)
            log.info("debug relay of node %s disconnected", link.node_id)

    async def _read(self, requests: AsyncIterator[pb.DebugAgentMessage], link) -> None:
        async for msg in requests:
            kind = msg.WhichOneof("kind")
            if kind == "up":
                self.registry.session_up(link, msg.up)
            elif kind == "down":
                self.registry.session_down(link, msg.down.session_id)
            elif kind in ("opened", "data", "closed"):
                self.registry.tunnel_event(link, msg)


def add_debug_service(server: grpc.aio.Server, servicer: DebugServicer) -> None:
    add_stream_method(server, DEBUG, servicer.debug, pb.DebugAgentMessage, pb.DebugHeadMessage)
