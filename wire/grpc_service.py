"""The gRPC service of `rayscope_ingest.proto` on the server side: its name and how a method is
registered (no `*_pb2_grpc` module is generated).

Why in wire/: the head's ingest (`Stream`) and the debugger's relay (`Debug`) are two methods of the
one service; both register through here, so the debugger does not reach into the head's ingest
module for it.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable, Optional

import grpc

__all__ = ["SERVICE", "STREAM", "DEBUG", "PROFILE", "method_path", "add_stream_method", "accept_hello", "until_reader_ends"]

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


async def accept_hello(requests: AsyncIterator[Any], context: "grpc.aio.ServicerContext[Any, Any]",
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


async def until_reader_ends(outbox: "asyncio.Queue[Any]", reader: "asyncio.Task[None]") -> AsyncIterator[Any]:
    """What the head queues for one agent, in order, until `reader` (the task reading that agent's
    messages) ends: the agent closed its stream or it broke."""
    while True:
        getter = asyncio.ensure_future(outbox.get())
        done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            return
        yield getter.result()
