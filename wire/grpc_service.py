"""The gRPC service of `rayscope_ingest.proto` on the server side: its name and how a method is
registered (no `*_pb2_grpc` module is generated).

Why in wire/: the head's ingest (`Stream`) and the debugger's relay (`Debug`) are two methods of the
one service; both register through here, so the debugger does not reach into the head's ingest
module for it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Callable, Coroutine, Optional, Protocol, TypeVar

import grpc

__all__ = ["SERVICE", "STREAM", "DEBUG", "PROFILE", "method_path", "add_stream_method", "serve_side_stream"]

log = logging.getLogger(__name__)

SERVICE = "rayscope.wire.Ingest"
STREAM = "Stream"  # agent -> head batches (dashboard/ingest.py)
DEBUG = "Debug"  # the debugger's relay (debugger/head_service.py)
PROFILE = "Profile"  # profiling requests and results (profiling/head_link.py)


def method_path(method: str) -> str:
    """The path a client dials for one method of the service, e.g. `/rayscope.wire.Ingest/Stream`."""
    return f"/{SERVICE}/{method}"


def add_stream_method(server: grpc.aio.Server, method: str, behavior: Callable[..., Any],
                      request_cls: Any, response_cls: Any) -> None:
    """Register one bidirectional-streaming method `SERVICE/method` on `server`."""
    handler = grpc.stream_stream_rpc_method_handler(
        behavior, request_deserializer=request_cls.FromString, response_serializer=response_cls.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {method: handler}),))


async def _accept_hello(requests: AsyncIterator[Any], context: "grpc.aio.ServicerContext[Any, Any]",
                       authorize: "Callable[[grpc.aio.ServicerContext[Any, Any]], bool]", hello: str) -> Optional[Any]:
    """The first message of an agent's side stream (Debug, Profile) once the call's token is checked;
    None when the agent closed at once. Aborts the call when the token is wrong or the first message is
    not the hello (`hello`: the message class's name, for the error)."""
    if not authorize(context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing Rayscope token")
    first = await anext(aiter(requests), None)
    if first is None:
        return None
    if not first.HasField("hello"):
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"the first message must be {hello}")
    return first


async def _until_reader_ends(outbox: "asyncio.Queue[Any]", reader: "asyncio.Task[None]") -> AsyncIterator[Any]:
    """What the head queues for one agent, in order, until `reader` (the task reading that agent's
    messages) ends: the agent closed its stream or it broke."""
    while True:
        getter = asyncio.ensure_future(outbox.get())
        done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            return
        yield getter.result()


class SideLink(Protocol):
    """What the head keeps per connected agent of a side stream: its node and what to send it."""
    node_id: str
    outbox: "asyncio.Queue[Any]"


L = TypeVar("L", bound=SideLink)


async def serve_side_stream(requests: AsyncIterator[Any], context: "grpc.aio.ServicerContext[Any, Any]",
                            authorize: "Callable[[grpc.aio.ServicerContext[Any, Any]], bool]", hello: str,
                            what: str, connect: Callable[[Any], L],
                            read: Callable[[AsyncIterator[Any], L], Coroutine[Any, Any, None]],
                            gone: Callable[[L], None]) -> AsyncIterator[Any]:
    """The head's end of one agent's side stream (Debug, Profile), the same for both: check the token,
    take the hello (`connect(hello)` makes the link), run `read(requests, link)` while yielding what
    is queued on `link.outbox`, and once the agent's side ends, `gone(link)`."""
    first = await _accept_hello(requests, context, authorize, hello)
    if first is None:
        return
    link = connect(first.hello)
    log.info("%s of node %s connected", what, link.node_id)
    reader: asyncio.Task[None] = asyncio.create_task(read(requests, link))
    try:
        async for msg in _until_reader_ends(link.outbox, reader):
            yield msg
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        gone(link)
        log.info("%s of node %s disconnected", what, link.node_id)
