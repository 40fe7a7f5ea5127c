"""The agent's side streams to the head, besides the batches: the debugger's relay (agent/debug_relay.py)
and the profiling link (profiling/node_link.py). Each dials one bidirectional method of the ingest
service (wire/grpc_service.py) with the token, says hello, serves what the head sends, and redials
with backoff when the stream ends: the head never dials an agent.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import grpc

from rayscope.agent.link_errors import describe_rpc_error

log = logging.getLogger(__name__)

BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 5.0


async def redial_forever(once: Callable[[], Awaitable[None]], after: Callable[[], Awaitable[None]], what: str,
                         head: str) -> None:
    """Run `once()` (one stream, until it ends) again and again; `after()` between two, to drop what the
    ended stream owned. Errors are logged, never raised: the agent's other work goes on. Cancel to stop."""
    backoff = BACKOFF_MIN_S
    while True:
        try:
            await once()
            backoff = BACKOFF_MIN_S
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as err:
            log.info("%s stream to head %s ended: %s", what, head, describe_rpc_error(err))
        except Exception:  # noqa: BLE001 - keep serving after a bug
            log.exception("%s stream to head failed", what)
        await after()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)


def open_call(channel: grpc.aio.Channel, method: str, request_cls: Any, response_cls: Any,
              token: str) -> grpc.aio.StreamStreamCall[Any, Any]:
    """The stream of `method` on `channel`, authenticated with the cluster's token."""
    return channel.stream_stream(method, request_serializer=request_cls.SerializeToString,
                                 response_deserializer=response_cls.FromString)(
        metadata=(("authorization", f"Bearer {token}"),))


async def write_outbox(call: grpc.aio.StreamStreamCall[Any, Any], outbox: "asyncio.Queue[Any]") -> None:
    """Send what is queued, in order, until cancelled."""
    while True:
        await call.write(await outbox.get())
