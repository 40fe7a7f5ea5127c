"""The agent's side streams to the head, besides the batches: the debugger's relay (agent/debug_relay.py)
and the profiling link (profiling/node_link.py). Each dials one bidirectional method of the ingest
service (wire/grpc_service.py) with the token, says hello, serves what the head sends, and redials
with backoff when the stream ends: the head never dials an agent.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any, Awaitable, Callable, Optional

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


class LoopThread(threading.Thread):
    """A daemon thread owning one asyncio loop that runs `_main()` until `stop()`: the frame both side
    streams share. `_main()` creates `_halt` on the loop and returns once it is set; an exception in it is
    logged (`what` names the stream), not raised, so the agent's other work goes on without it."""

    what = "side stream"

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._halt: Optional[asyncio.Event] = None

    async def _main(self) -> None:
        raise NotImplementedError

    def _after_loop(self) -> None:
        """What to release once the loop has closed (a subclass's executor, say)."""

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except Exception:  # noqa: BLE001 - the agent's other work goes on without this stream
            log.exception("%s stopped", self.what)
        finally:
            self.loop = None
            loop.close()
            self._after_loop()

    def stop(self, timeout: float = 3.0) -> None:
        loop, halt = self.loop, self._halt
        if loop is not None and halt is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(halt.set)
        if self.is_alive():
            self.join(timeout)
