"""WebSocket hub: pushes WsDelta messages to every connected client after each commit.

Each client has a bounded queue; a client that falls behind gets its queue cleared and one
"resync" message, so a slow browser tab never grows the head's memory.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from rayscope.dashboard.models import WsDelta

QUEUE_MAX = 256
ROWS_PER_MESSAGE = 1000
# Ingest's deltas (one set per committed batch: ~1,000 a second at 1,000 nodes) are merged by kind and
# pushed at most this often: one message per batch per kind per client cost the head more than the
# ingest itself with 20 browser tabs open (bench/bench_scale.py, docs/scale.md).
FLUSH_S = 0.25


class Client:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_MAX)
        self.resyncs = 0

    def offer(self, message: str) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.resyncs += 1
            self.queue.put_nowait(WsDelta(kind="resync", ts=time.time()).model_dump_json())


class Hub:
    def __init__(self) -> None:
        self.clients: set[Client] = set()
        # In-process consumers of the same deltas (e.g. the OTLP trace exporter); called on the
        # event loop, so they must only enqueue.
        self.listeners: list[Callable[[dict[str, list[dict]]], None]] = []
        self._pending: dict[str, list[dict]] = {}  # ingest's deltas waiting for the next flush
        self._flush: asyncio.TimerHandle | None = None

    @property
    def has_clients(self) -> bool:
        return bool(self.clients or self.listeners)

    def publish(self, deltas: dict[str, list[dict]]) -> None:
        """Pushed to every client at once (for rare events: a debug session, a profile)."""
        for listener in self.listeners:
            listener(deltas)
        if self.clients:
            self._push(deltas)

    def publish_coalesced(self, deltas: dict[str, list[dict]]) -> None:
        """Ingest's deltas, called on the event loop right after each commit: listeners get them at
        once; clients get them merged by kind with the other batches' of the next FLUSH_S."""
        for listener in self.listeners:
            listener(deltas)
        if not self.clients:
            return
        for kind, rows in deltas.items():
            self._pending.setdefault(kind, []).extend(rows)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_pending)

    def _flush_pending(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        if self.clients and pending:
            self._push(pending)

    def _push(self, deltas: dict[str, list[dict]]) -> None:
        now = time.time()
        messages = []
        for kind, rows in deltas.items():
            for i in range(0, len(rows), ROWS_PER_MESSAGE):
                # kind: a str from the store; pydantic checks it against WsDelta's Literal at run time
                messages.append(WsDelta(kind=kind, rows=rows[i:i + ROWS_PER_MESSAGE], ts=now).model_dump_json())  # type: ignore[arg-type]
        for client in list(self.clients):
            for msg in messages:
                client.offer(msg)

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        client = Client()
        self.clients.add(client)
        receiver = asyncio.create_task(self._drain(ws))
        try:
            while not receiver.done():
                getter = asyncio.create_task(client.queue.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await ws.send_text(getter.result())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.clients.discard(client)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver

    @staticmethod
    async def _drain(ws: WebSocket) -> None:
        """Read (and ignore) what the client sends, to notice when it goes away."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return


def ws_router(hub: Hub) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await hub.serve(ws)

    return router
