"""The gRPC service of `rayscope_ingest.proto` on the server side: its name and how a method is
registered (no `*_pb2_grpc` module is generated).

Why in wire/: the head's ingest (`Stream`) and the debugger's relay (`Debug`) are two methods of the
one service; both register through here, so the debugger does not reach into the head's ingest
module for it.
"""
from __future__ import annotations

from typing import Any, Callable

import grpc

__all__ = ["SERVICE", "STREAM", "DEBUG", "PROFILE", "method_path", "add_stream_method"]

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
