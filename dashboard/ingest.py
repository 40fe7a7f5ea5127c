"""The gRPC ingest servicer: rayscope.wire.Ingest/Stream (see wire/rayscope_ingest.proto).

Hello -> HelloAck(last committed seq) -> per Batch: commit batch + seq in one transaction, then
Ack(seq), in seq order; later batches are read and queued for commit meanwhile. A batch at or
below the committed seq is acked without re-applying. Bad items inside a batch are counted as
drops by the store; they never end the stream.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import AsyncIterator, Optional

import grpc

from rayscope.dashboard.auth import bearer, token_matches
from rayscope.dashboard.ingest_pace import DEFAULT_AGENTS_PER_SHIP_SECOND, ship_every_s
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.context import MalformedItem, require_hex
from rayscope.dashboard.store.writer import WriterDied
from rayscope.dashboard.ws import Hub
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import STREAM, add_stream_method
from rayscope.wire.limits import grpc_options

log = logging.getLogger(__name__)

UNAUTHENTICATED = "invalid or missing Rayscope token"
# Batches of one stream read ahead of their acks (the agent's own window is MAX_INFLIGHT).
MAX_UNACKED_PER_STREAM = 64
# Batches read from all streams together and not yet committed. When the writer falls behind, streams
# stop reading (gRPC's flow control holds the agents, which keep their data in their spools and sample
# rings) instead of the head holding every agent's whole window in memory: 16 batches per agent was
# ~900 MB of service RSS at 1,000 nodes behind (bench/bench_scale.py). Two full transactions' worth
# (store/__init__.py's COALESCE_MAX_BATCHES), so the writer never waits for want of batches.
MAX_UNCOMMITTED_BATCHES = 2048


class IngestServicer:
    def __init__(self, store: Store, token: str, hub: Hub,
                 agents_per_ship_second: int = DEFAULT_AGENTS_PER_SHIP_SECOND) -> None:
        self.store = store
        self.token = token
        self.hub = hub
        self.agents_per_ship_second = agents_per_ship_second
        # The newest stream of each agent. After a network cut the agent reconnects while the
        # head still holds the old stream (until keepalive ends it); that old stream's end must
        # not mark the reconnected agent disconnected.
        self._latest_stream: dict[str, object] = {}
        self._uncommitted = asyncio.Semaphore(MAX_UNCOMMITTED_BATCHES)

    def pace(self) -> float:
        """Seconds between each agent's batches now (ingest_pace.py), sent with every ack."""
        return ship_every_s(len(self._latest_stream), self.agents_per_ship_second)

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
        try:
            last = await self.store.hello(hello)
        except WriterDied as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the head's store restarted: {err}")
        log.info("agent %s (node %s) connected; last committed seq %d", hello.agent_id, hello.node_id, last)
        me = self._latest_stream[hello.agent_id] = object()
        yield pb.HeadMessage(hello_ack=pb.HelloAck(last_committed_seq=last, ship_every_s=self.pace()))
        # Batches are read and handed to the store as they arrive, while earlier ones commit: the
        # agent keeps a window of unacked batches, and the store coalesces what is queued into
        # shared transactions. Acks go out in seq order as the commits complete.
        commits: asyncio.Queue = asyncio.Queue(maxsize=MAX_UNACKED_PER_STREAM)
        reader = asyncio.create_task(self._read_batches(requests, hello, commits))
        try:
            while True:
                item = await commits.get()
                if isinstance(item, _StreamEnd):
                    if item.error:
                        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, item.error)
                    return
                batch, commit = item
                try:
                    result = await commit
                except WriterDied as err:  # not committed: the agent sends it again on its next stream
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"the head's store restarted: {err}")
                except Exception as err:  # noqa: BLE001 - counted, see Store.skip
                    log.error("batch %d of agent %s could not be applied: %s", batch.seq, hello.agent_id, err)
                    await self.store.skip(hello.agent_id, hello.node_id, batch, f"{type(err).__name__}: {err}")
                else:
                    if result.applied and result.deltas:
                        self.hub.publish_coalesced(result.deltas)
                yield pb.HeadMessage(ack=pb.Ack(seq=batch.seq, ship_every_s=self.pace()))
        finally:
            reader.cancel()
            if self._latest_stream.get(hello.agent_id) is me:
                del self._latest_stream[hello.agent_id]
                try:
                    await self.store.disconnected(hello.agent_id)
                except Exception:  # the store may be closing during shutdown
                    log.debug("could not mark agent %s disconnected", hello.agent_id, exc_info=True)

    async def _read_batches(self, requests: AsyncIterator[pb.AgentMessage], hello: pb.AgentHello,
                            commits: asyncio.Queue) -> None:
        """Each batch starts its commit at once (so they queue in the store in seq order); the
        queue's bound stops reading from an agent that ignores acks."""
        error = None
        it = aiter(requests)
        try:
            while True:
                await self._uncommitted.acquire()  # before reading: a stream over budget is not read
                try:
                    msg = await anext(it, None)
                except BaseException:
                    self._uncommitted.release()
                    raise
                if msg is None or not msg.HasField("batch"):
                    self._uncommitted.release()
                    if msg is not None:
                        error = "AgentHello sent twice on one stream"
                    break
                commit = asyncio.ensure_future(
                    self.store.commit(hello.agent_id, hello.node_id, msg.batch, self.hub.has_clients))
                commit.add_done_callback(lambda _: self._uncommitted.release())
                await commits.put((msg.batch, commit))
        except Exception as err:  # noqa: BLE001 - the stream broke: end it after what was read
            log.debug("stream of agent %s ended: %r", hello.agent_id, err)
        await commits.put(_StreamEnd(error))


@dataclass
class _StreamEnd:
    error: Optional[str] = None


def authorized(context: grpc.aio.ServicerContext, token: str) -> bool:
    """The agent's `authorization: Bearer <token>` metadata (every method of the service)."""
    md = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
    auth = md.get("authorization")  # str: only `-bin` keys carry bytes
    return token_matches(token, bearer(auth if isinstance(auth, str) else None))


def add_ingest_service(server: grpc.aio.Server, servicer: IngestServicer) -> None:
    add_stream_method(server, STREAM, servicer.stream, pb.AgentMessage, pb.HeadMessage)


GRPC_OPTIONS = [
    *grpc_options(),  # wire/limits.py: the one size limit, which agents build their batches under
    # A stream whose agent host vanished (network cut, host crash) sends no FIN: ping it, and end
    # it when the ping is not answered, instead of holding it for the kernel's ~15 min timeout.
    ("grpc.keepalive_time_ms", 15_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # Agents ping every 20 s (agent/shipper.py); the default floor (5 min) would answer GOAWAY.
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]
