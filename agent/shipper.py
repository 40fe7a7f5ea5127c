"""The gRPC client of `rayscope.wire.Ingest/Stream`: spool -> head, acks -> spool trim.

One connection at a time: hello -> HelloAck(last_committed_seq) -> resend the spool after
that seq -> stream new batches as they are spooled, with a bounded number in flight.
A dead head means reconnecting with capped backoff; a rejected token is logged once
(clearly) and retried slowly, since the token file may be fixed meanwhile. With `credentials`
(the agent's --tls-ca) the channel is TLS; `stats.last_error` is a short reason from
agent/link_errors.py ("connection refused", "TLS handshake failed (…)", …), never gRPC's raw text.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import grpc

from rayscope.agent.link_errors import link_failure_reason
from rayscope.agent.spool import UNSENDABLE, Spool, parse_batch
from rayscope.agent.tls import open_channel
from rayscope.agent.volatile import VolatileBuffer
from rayscope.wire.grpc_service import STREAM, method_path
from rayscope.wire.limits import ENVELOPE_BYTES, MAX_MESSAGE_BYTES, grpc_options
from rayscope.wire.rayscope_ingest_pb2 import AgentHello, AgentMessage, HeadMessage

log = logging.getLogger(__name__)

METHOD = method_path(STREAM)
CHANNEL_OPTIONS = [
    *grpc_options(),  # the head's limit (wire/limits.py): the agent never builds a message over it
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]


@dataclass
class ShipperStats:
    connected: bool = False
    connects: int = 0
    batches_sent: int = 0
    acked_seq: int = 0
    last_ack_at: float = 0.0  # unix time of the head's last hello_ack or ack
    last_error: str = ""
    unauthenticated: int = 0
    ship_every_s: float = 0.0  # the head's pace (wire Ack.ship_every_s); 0: not told, ship every tick


MAX_INFLIGHT = 16  # unacked batches per stream: enough to keep the head's transaction pipeline full


class Shipper(threading.Thread):
    def __init__(
        self,
        head: str,
        token_reader: Callable[[], str],
        hello: AgentHello,
        spool: Spool,
        volatile: VolatileBuffer,
        max_inflight: int = MAX_INFLIGHT,
        backoff_max_s: float = 10.0,
        unauth_retry_s: float = 30.0,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> None:
        super().__init__(name="rayscope-shipper", daemon=True)
        self.head = head
        self.token_reader = token_reader
        self.hello = hello
        self.spool = spool
        self.volatile = volatile
        self.max_inflight = max_inflight
        self.backoff_max_s = backoff_max_s
        self.unauth_retry_s = unauth_retry_s
        self.credentials = credentials  # None: plaintext, as without --tls-ca
        self.stats = ShipperStats()
        self._halt = threading.Event()
        self._call: Optional[grpc.Call] = None

    def stop(self, timeout: float = 5.0) -> None:
        self._halt.set()
        call = self._call
        if call is not None:
            call.cancel()
        self.join(timeout)

    def drain(self, timeout: float) -> bool:
        """Wait until the head acked everything spooled (used on shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.spool.pending() == 0:
                return True
            if not self.stats.connected:
                return False
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        backoff = 0.5
        while not self._halt.is_set():
            started = time.monotonic()
            try:
                self._connect_once()
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, "code") else None
                self.stats.last_error = link_failure_reason(e, self.head, tls=self.credentials is not None)
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    self.stats.unauthenticated += 1
                    if self.stats.unauthenticated == 1:
                        log.error("head %s rejected our token (UNAUTHENTICATED); check --token-file. Retrying every %.0fs",
                                  self.head, self.unauth_retry_s)
                    self._halt.wait(self.unauth_retry_s)
                    continue
                if code != grpc.StatusCode.CANCELLED or not self._halt.is_set():
                    log.info("stream to head %s ended: %s", self.head, self.stats.last_error)
            except Exception as e:  # a bug here must not kill shipping for good
                self.stats.last_error = repr(e)
                log.exception("shipper connection failed")
            finally:
                self.stats.connected = False
                self.volatile.requeue()
            if time.monotonic() - started > 30:
                backoff = 0.5  # it was a healthy connection
            self._halt.wait(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _connect_once(self) -> None:
        channel = open_channel(self.head, self.credentials, CHANNEL_OPTIONS)
        try:
            stream = channel.stream_stream(
                METHOD, request_serializer=AgentMessage.SerializeToString, response_deserializer=HeadMessage.FromString
            )
            out: queue.Queue[Optional[AgentMessage]] = queue.Queue()
            out.put(AgentMessage(hello=self.hello))
            responses = stream(iter(out.get, None), metadata=(("authorization", f"Bearer {self.token_reader()}"),))
            self._call = responses
            first = next(responses)
            if first.WhichOneof("kind") != "hello_ack":
                raise RuntimeError(f"head answered {first.WhichOneof('kind')} before hello_ack")
            committed = first.hello_ack.last_committed_seq
            self.stats.ship_every_s = first.hello_ack.ship_every_s
            self.stats.connected, self.stats.connects = True, self.stats.connects + 1
            self.stats.unauthenticated = 0
            self.stats.last_ack_at = time.time()
            log.info("connected to head %s; it has committed up to seq %d", self.head, committed)
            self.spool.reconcile(committed)  # a spool that lost its state renumbers, never trims, fresh batches
            self.spool.ack(committed)
            self.stats.acked_seq = committed
            sender = threading.Thread(target=self._send_loop, args=(out, committed + 1), name="rayscope-sender", daemon=True)
            sender.start()
            try:
                for msg in responses:
                    if msg.WhichOneof("kind") == "ack":
                        self.spool.ack(msg.ack.seq)
                        self.volatile.ack(msg.ack.seq)
                        self.stats.acked_seq = max(self.stats.acked_seq, msg.ack.seq)
                        self.stats.last_ack_at = time.time()
                        self.stats.ship_every_s = msg.ack.ship_every_s
            finally:
                out.put(None)
                self.stats.connected = False
                sender.join(2)
        finally:
            self._call = None
            channel.close()

    def _send_loop(self, out: queue.Queue[Optional[AgentMessage]], next_seq: int) -> None:
        """Feed spooled batches into the stream, never more than max_inflight unacked."""
        while self.stats.connected and not self._halt.is_set():
            if next_seq - 1 - self.stats.acked_seq >= self.max_inflight:
                time.sleep(0.02)
                continue
            room = self.max_inflight - (next_seq - 1 - self.stats.acked_seq)
            records = self.spool.unacked_from(next_seq, max_records=max(room, 1))
            if not records:
                self.spool.wait_for(next_seq, timeout=0.5)
                continue
            for seq, payload in records:
                next_seq = seq + 1
                if len(payload) > MAX_MESSAGE_BYTES - ENVELOPE_BYTES:  # the head would refuse it forever
                    self.spool.report_unreadable(seq, len(payload), f"{len(payload)} bytes", reason=UNSENDABLE)
                    continue
                batch, error = parse_batch(payload)
                if batch is None:
                    self.spool.report_unreadable(seq, len(payload), error)  # rides on the next spooled batch
                    continue
                batch.seq = seq
                self.volatile.attach(batch)
                out.put(AgentMessage(batch=batch))
                self.stats.batches_sent += 1
