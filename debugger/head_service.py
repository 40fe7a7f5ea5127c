"""The head's end of `rayscope.wire.Ingest/Debug`: one stream per agent, dialled by the agent.

Agent -> head: hello, session up/down, tunnel opened/data/closed. Head -> agent: whatever the
registry queues on the link's outbox (tunnel open/data/close, resume). When the stream ends,
every session of that agent is gone and its tunnels close.

The head registers it (dashboard/server.py) with its own check of the agent's token (`authorize`):
the debugger imports nothing of the head.
"""
from __future__ import annotations

from typing import AsyncIterator, Callable

import grpc

from rayscope.debugger.registry import DebugRegistry
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import DEBUG, add_stream_method, serve_side_stream


class DebugServicer:
    def __init__(self, registry: DebugRegistry, authorize: Callable[[grpc.aio.ServicerContext], bool]) -> None:
        self.registry = registry
        self.authorize = authorize  # the head's token check of a call's metadata

    async def debug(self, requests: AsyncIterator[pb.DebugAgentMessage],
                    context: grpc.aio.ServicerContext) -> AsyncIterator[pb.DebugHeadMessage]:
        async for msg in serve_side_stream(requests, context, self.authorize, "DebugHello", "debug relay",
                                           self.registry.agent_connected, self._read, self.registry.agent_gone):
            yield msg

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
