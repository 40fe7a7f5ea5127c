"""The gRPC ingest servicer: rayscope.wire.Ingest/Stream (see wire/rayscope_ingest.proto).

Hello -> HelloAck(last committed seq) -> per Batch: commit batch + seq in one transaction, then
Ack(seq). A batch at or below the committed seq is acked without re-applying. Bad items inside
a batch are counted as drops by the store; they never end the stream.
"""
from __future__ import annotations

import logging
from typing import AsyncIterator

import grpc

from rayscope.dashboard.auth import bearer, token_matches
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.context import MalformedItem, require_hex
from rayscope.dashboard.ws import Hub
from rayscope.wire import rayscope_ingest_pb2 as pb

log = logging.getLogger(__name__)

SERVICE = "rayscope.wire.Ingest"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
UNAUTHENTICATED = "invalid or missing Rayscope token"


class IngestServicer:
    def __init__(self, store: Store, token: str, hub: Hub) -> None:
        self.store = store
        self.token = token
        self.hub = hub

    def _authorized(self, context: grpc.aio.ServicerContext) -> bool:
        return authorized(context, self.token)

    async def stream(self, requests: AsyncIterator[pb.AgentMessage],
                     context: grpc.aio.ServicerContext) -> AsyncIterator[pb.HeadMessage]:
        if not self._authorized(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)
        first = await anext(aiter(requests), None)
        if first is None:
            return
        if not first.HasField("hello"):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the first message must be AgentHello")
        hello = first.hello
        try:
            if not hello.agent_id:
                raise MalformedItem("empty agent_id")
            require_hex(hello.node_id, "node_id")
        except MalformedItem as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad AgentHello: {err}")
        last = await self.store.hello(hello)
        log.info("agent %s (node %s) connected; last committed seq %d", hello.agent_id, hello.node_id, last)
        yield pb.HeadMessage(hello_ack=pb.HelloAck(last_committed_seq=last))
        try:
            async for msg in requests:
                if not msg.HasField("batch"):
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "AgentHello sent twice on one stream")
                try:
                    result = await self.store.commit(hello.agent_id, hello.node_id, msg.batch,
                                                     self.hub.has_clients)
                except Exception as err:  # noqa: BLE001 - counted, see Store.skip
                    log.exception("batch %d of agent %s could not be applied", msg.batch.seq, hello.agent_id)
                    await self.store.skip(hello.agent_id, hello.node_id, msg.batch, f"{type(err).__name__}: {err}")
                else:
                    if result.applied and result.deltas:
                        self.hub.publish(result.deltas)
                yield pb.HeadMessage(ack=pb.Ack(seq=msg.batch.seq))
        finally:
            try:
                await self.store.disconnected(hello.agent_id)
            except Exception:  # the store may be closing during shutdown
                log.debug("could not mark agent %s disconnected", hello.agent_id, exc_info=True)


def authorized(context: grpc.aio.ServicerContext, token: str) -> bool:
    """The agent's `authorization: Bearer <token>` metadata (every method of the service)."""
    md = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
    return token_matches(token, bearer(md.get("authorization")))


def add_stream_method(server: grpc.aio.Server, method: str, behavior, request_cls, response_cls) -> None:
    """No generated *_pb2_grpc module: register one bidi method of the service by hand."""
    handler = grpc.stream_stream_rpc_method_handler(
        behavior, request_deserializer=request_cls.FromString, response_serializer=response_cls.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {method: handler}),))


def add_ingest_service(server: grpc.aio.Server, servicer: IngestServicer) -> None:
    add_stream_method(server, "Stream", servicer.stream, pb.AgentMessage, pb.HeadMessage)


GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
