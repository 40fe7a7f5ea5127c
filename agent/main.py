"""The agent process: wires collectors, tailers, spool, shipper and /metrics together.

One loop, one thread of collection: every `interval` it takes samples and hands them to the
in-memory buffer the shipper drains, and reads new log lines and export events into one durable
batch appended to the spool (then checkpoints the tailer offsets): every tick, or every
`ship_every_s` when the head asks for a slower pace (a large cluster; dashboard/ingest_pace.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Optional

import psutil

from rayscope.agent.batching import split_batch
from rayscope.agent.checkpoint import OffsetStore
from rayscope.agent.collectors.app_metrics import AppMetricsCollector
from rayscope.agent.collectors.gpu import GpuCollector, gpu_memory_by_pid
from rayscope.agent.collectors.node import NodeCollector
from rayscope.agent.collectors.object_store import ObjectStoreCollector
from rayscope.agent.collectors.processes import ProcessCollector
from rayscope.agent.collectors.serve_status import ServePoll, ServeStatusCollector
from rayscope.agent.collectors.workers import WorkerTableCollector
from rayscope.agent.debug_relay import DebugRelay
from rayscope.agent.events import EVENT_LISTS, EventSource
from rayscope.agent.logs import train_logs
from rayscope.agent.logs.files import describe, is_log_file
from rayscope.agent.logs.tailer import Tailer
from rayscope.agent.metrics_server import AgentSelfMetrics, NodeMetricsCollector, serve
from rayscope.agent.shipper import Shipper
from rayscope.agent.spool import Spool
from rayscope.agent.tls import TlsCaError, channel_credentials
from rayscope.agent.volatile import VolatileBuffer
from rayscope.common.atomic_file import write_atomic
from rayscope.profiling.node_link import NodeLink
from rayscope.runtime.agent_link import AgentLink, write_link
from rayscope.runtime.auth_token import TokenError, read_token_file
from rayscope.runtime.node_identity import NodeIdentity, NodeNotFound, discover
from rayscope.wire.batch_items import batch_items
from rayscope.wire.limits import SPOOLED_BATCH_BYTES
from rayscope.wire.rayscope_ingest_pb2 import AgentHello, Batch

log = logging.getLogger("rayscope.agent")

VERSION = "0.1.0"
MAX_BATCH_LINES = 5000
MAX_BATCH_BYTES = SPOOLED_BATCH_BYTES // 2  # each of logs and events; agent/batching.py splits what still overshoots
MAX_BATCHES_PER_TICK = 8
CHECKPOINT_EVERY_S = 5.0
LINK_EVERY_S = 2.0  # link.json is rewritten at least this often while nothing changes (its last_ack_at moves)


@dataclass
class AgentArgs:
    session_dir: str
    head: str
    token_file: str
    node_ip: Optional[str]
    metrics_port: int
    metrics_host: Optional[str]
    state_dir: Optional[str]
    interval: float
    spool_budget_mb: float
    ready_file: Optional[str]
    log_level: str
    tls_ca: Optional[str] = None  # TLS to the head, verified against this CA (agent/tls.py)


def parse_args(argv: Optional[list[str]] = None) -> AgentArgs:
    p = argparse.ArgumentParser(prog="python -m rayscope.agent", description="Rayscope per-node agent")
    p.add_argument("--session-dir", required=True, help="the Ray node's session dir")
    p.add_argument("--head", required=True, help="head gRPC address HOST:PORT")
    p.add_argument("--token-file", required=True)
    p.add_argument("--node-ip", default=None, help="pick this node's raylet when several share the session dir")
    p.add_argument("--metrics-port", type=int, default=0)
    p.add_argument("--metrics-host", default=None,
                   help="interface of /metrics (default: the node's Ray IP, so a Prometheus on another host can scrape it)")
    p.add_argument("--state-dir", default=None, help="spool and offsets (default <session>/rayscope/agent)")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--spool-budget-mb", type=float, default=256)
    p.add_argument("--ready-file", default=None)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--tls-ca", default=None, help="CA (PEM) of a TLS head: ship over TLS verified against it")
    a = p.parse_args(argv)
    if a.interval <= 0:
        p.error("--interval must be positive")
    if a.spool_budget_mb <= 0:
        p.error("--spool-budget-mb must be positive")
    return AgentArgs(**vars(a))


def write_ready(path: str, content: dict[str, object]) -> None:
    write_atomic(path, json.dumps(content))


class Agent:
    def __init__(self, args: AgentArgs, ident: NodeIdentity, stop: Optional[threading.Event] = None) -> None:
        self.args = args
        self.ident = ident
        self.state_dir = args.state_dir or os.path.join(ident.session_dir, "rayscope", "agent")
        os.makedirs(self.state_dir, exist_ok=True)
        self.stop_event = stop or threading.Event()
        self.spool = Spool(os.path.join(self.state_dir, "spool"), int(args.spool_budget_mb * (1 << 20)))
        self.offsets = OffsetStore(os.path.join(self.state_dir, "offsets.json"))
        self.logs = Tailer(os.path.join(ident.session_dir, "logs"), ident.node_id, accept=is_log_file)
        self.events = EventSource(ident.session_dir, ident.node_id)
        saved = self.offsets.load()
        self.logs.restore(saved.get("logs", []), self.offsets.saved_at)
        self.train_logs = train_logs.train_log_tailer(ident.session_dir, ident.node_id)
        self.train_logs.restore(saved.get("train_logs", []), self.offsets.saved_at)
        self.events.restore(saved.get("events", []), self.offsets.saved_at)
        self.volatile = VolatileBuffer(max_samples=max(60, int(600 / args.interval)))
        self.node = NodeCollector(ident.session_dir)
        self.procs = ProcessCollector(ident)
        self.gpus = GpuCollector()
        token = read_token_file(args.token_file)
        self.store = ObjectStoreCollector(ident.raylet_address, ident.node_ip, token)
        self.workers = self._worker_table(ident, token)
        self.metrics = NodeMetricsCollector(ident.node_id)
        if ident.ray_metrics_url is None:
            log.warning("Ray's metrics export port of this node is not known: no application metrics")
        self.app_metrics = AppMetricsCollector(ident.ray_metrics_url)
        # Serve's controller is cluster-wide: the head node's agent polls it, only while it lives
        self.serve_status = ServeStatusCollector(ident.gcs_address, self.state_dir) if ident.is_head and ident.gcs_address else None
        self.http, self.metrics_url = serve(self.metrics, args.metrics_host or ident.node_ip, args.metrics_port)
        hello = AgentHello(
            agent_id=f"{ident.node_id}@{ident.session_name}", node_id=ident.node_id, node_ip=ident.node_ip,
            hostname=socket.gethostname(), session_name=ident.session_name, session_dir=ident.session_dir,
            metrics_url=self.metrics_url, started_at=time.time(), version=VERSION, is_head_node=ident.is_head,
        )
        creds = channel_credentials(args.tls_ca)  # TLS: None without --tls-ca
        self.shipper = Shipper(args.head, lambda: read_token_file(args.token_file), hello, self.spool, self.volatile,
                               credentials=creds)
        self.debug_relay = DebugRelay(ident.session_dir, args.head, lambda: read_token_file(args.token_file),
                                      ident.node_id, ident.node_ip, ident.session_name, credentials=creds)
        self.profile_link = NodeLink(ident.session_dir, args.head, lambda: read_token_file(args.token_file),
                                     ident.node_id, ident.node_ip, credentials=creds)
        self.me = psutil.Process()
        self.me.cpu_percent(None)
        self.ticks = 0
        self._held: list[Batch] = []  # read but not yet spooled: the disk refused it
        self._holding = False  # a held batch has been logged (once per stall)
        self._shipped_at = float("-inf")  # monotonic time of the last spooled batch (_ship_due)
        self._checkpointed_at = 0.0
        self.link_file = os.path.join(self.state_dir, "link.json")
        self._link_written: tuple[object, float] = (None, 0.0)

    @staticmethod
    def _worker_table(ident: NodeIdentity, token: Optional[str]) -> Optional[WorkerTableCollector]:
        """GCS's worker table is read by the head node's agent only (it is cluster-wide)."""
        if not ident.is_head:
            return None
        if not ident.gcs_address:
            log.warning("head node without a known GCS address: dead workers' exit types will not be recorded")
            return None
        return WorkerTableCollector(ident.gcs_address, token)

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        self.report_link()
        self.shipper.start()
        self.debug_relay.start()
        self.profile_link.start()
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("collection tick failed")
            next_tick += self.args.interval
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick, delay = time.monotonic(), 0
            self.stop_event.wait(delay)

    def tick(self) -> None:
        self.ticks += 1
        if self._ship_due():
            self._ship_durable()
        node = self.node.sample()
        gpus = self.gpus.sample()
        node.gpus.extend(gpus)
        stats = self.store.sample()
        if stats is not None:
            self.procs.extra_info = stats.workers
        procs = self.procs.snapshot()
        by_pid = gpu_memory_by_pid(gpus)
        for p in procs.processes:
            p.gpu_memory_used = by_pid.get(p.pid, 0)
        self.volatile.add(node=node, store=stats.store if stats else None, processes=procs,
                          objects=stats.objects if stats else None, app=self.app_metrics.sample(),
                          serve=self.app_metrics.take_serve(), data=self.app_metrics.take_data())
        self.metrics.update(node=node, store=stats.store if stats else None, processes=procs, agent=self._self_metrics())
        self.report_link()

    def _ship_due(self) -> bool:
        """Whether this tick spools a batch: every tick, unless the head asked for a slower pace (a
        large cluster, dashboard/ingest_pace.py). The samples taken meanwhile wait in the volatile
        ring and travel with the next batch; logs and events are read then, in one larger batch."""
        now = time.monotonic()
        if now - self._shipped_at < self.shipper.stats.ship_every_s - self.args.interval / 2:
            return False
        self._shipped_at = now
        return True

    def report_link(self) -> None:
        """link.json for `rayscope start` and `rayscope status`: on every change, else every LINK_EVERY_S."""
        s = self.shipper.stats
        key = (s.connected, s.last_error, s.unauthenticated > 0)
        now = time.time()
        if key == self._link_written[0] and now - self._link_written[1] < LINK_EVERY_S:
            return
        link = AgentLink(head=self.args.head, connected=s.connected, last_ack_at=s.last_ack_at,
                         last_error=s.last_error, rejected_token=s.unauthenticated > 0, updated_at=now,
                         pid=os.getpid())
        try:
            write_link(self.link_file, link)
        except OSError as e:  # a full disk must not stop collection; the spool reports its own trouble
            log.warning("cannot write %s: %s", self.link_file, e)
        self._link_written = (key, now)

    def _ship_durable(self, force_checkpoint: bool = False) -> None:
        """Logs, events and drop reports: spooled first, then the offsets that produced them.

        A batch whose append fails (full disk, I/O error) is held in memory and appended again
        first thing next tick; until then nothing more is read and no offset is checkpointed, so the
        checkpoint on disk never passes what the spool holds (a restart re-reads the held lines).
        The tailers are not rolled back instead: a rotated file read to its end may be gone.
        A batch over the wire's limit is spooled as several (agent/batching.py)."""
        if self._held and not self._spool_all(self._held):
            self._checkpoint_if_due(force_checkpoint, held=True)
            return
        for i in range(MAX_BATCHES_PER_TICK):
            lp = self.logs.poll(max_lines=MAX_BATCH_LINES, max_bytes=MAX_BATCH_BYTES)
            ep = self.events.poll(max_events=MAX_BATCH_LINES, max_bytes=MAX_BATCH_BYTES)
            batch = Batch(created_at=time.time())
            tp = self.train_logs.poll(max_lines=MAX_BATCH_LINES, max_bytes=MAX_BATCH_BYTES)
            batch.log_files.extend(describe(self.ident.node_id, path)
                                   for path in lp.new_files + train_logs.rel_paths(tp))
            batch.log_lines.extend(lp.lines + tp.lines)
            for name in EVENT_LISTS.values():  # each decoded event list into its Batch field
                getattr(batch, name).extend(getattr(ep, name))
            if self.serve_status is not None:
                self.serve_status.observe(ep.actors)
            sp = self.serve_status.poll() if self.serve_status is not None and i == 0 else ServePoll()
            batch.serve_status.extend(sp.docs)
            workers = self.workers.poll(force=force_checkpoint) if self.workers is not None and i == 0 else []
            batch.workers.extend(w.event for w in workers)
            batch.drops.extend(lp.drops + tp.drops + ep.drops + self.spool.take_drop_reports()
                               + self.volatile.take_drop_reports() + self.app_metrics.take_drop_reports() + sp.drops)
            # a held batch's worker rows are not committed: the next poll offers them again
            self._held = split_batch(batch)
            if not self._spool_all(self._held):
                self._checkpoint_if_due(force_checkpoint, held=True)
                return
            if workers and self.workers is not None:
                self.workers.commit(workers)
            if not (lp.more or tp.more or ep.more):
                break
        self._checkpoint_if_due(force_checkpoint)

    def _spool_all(self, batches: list[Batch]) -> bool:
        """Append each durably, in order, removing it from `batches`; False when the disk refuses
        one (it and those after it stay in `batches`, held: `self._held` is that list)."""
        while batches:
            batch = batches[0]
            try:
                self.spool.append(batch)
            except OSError as e:
                if not self._holding:
                    log.warning("cannot spool a batch (%s): holding %d log lines and %d events in memory, "
                                "reading nothing more until it is written", e, batch_items(batch).lines,
                                batch_items(batch).events)
                self._holding = True
                return False
            if self._holding:
                log.info("spool writable again: the held batch is spooled as seq %d", batch.seq)
                self._holding = False
            batches.pop(0)
        return True

    def _checkpoint_if_due(self, force: bool, held: bool = False) -> None:
        if held:
            if force:
                log.warning("stopping with a batch that could not be spooled: its lines are read again on restart")
            return  # offsets in memory are past the held batch; the file keeps the last durable ones
        if not force and time.monotonic() - self._checkpointed_at < CHECKPOINT_EVERY_S:
            return
        # A checkpoint older than the spool only means re-reading (resending) lines, never a gap.
        try:
            self.offsets.save({"logs": self.logs.checkpoint(), "events": self.events.checkpoint(),
                               "train_logs": self.train_logs.checkpoint()})
        except OSError as e:  # a full disk: the previous checkpoint stays, which is safe
            log.warning("offsets not checkpointed (%s)", e)
        self._checkpointed_at = time.monotonic()

    def _self_metrics(self) -> AgentSelfMetrics:
        try:
            cpu = self.me.cpu_percent(None) / 100.0
            rss = float(self.me.memory_info().rss)
        except psutil.Error:
            cpu, rss = 0.0, 0.0
        return AgentSelfMetrics(
            cpu_ratio=cpu, rss_bytes=rss, spool_pending_batches=self.spool.pending(),
            spool_bytes=self.spool.total_bytes(), spool_dropped_batches_total=self.spool.dropped_batches,
            head_connected=self.shipper.stats.connected, open_log_fds=self.logs.open_fds() + self.train_logs.open_fds(),
            malformed_events_total=self.events.malformed, spool_write_errors_total=self.spool.write_errors,
        )

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Flush: one last durable batch, give the head a moment to ack, close everything."""
        try:
            self._ship_durable(force_checkpoint=True)
        except Exception:
            log.exception("final flush failed")
        self.shipper.drain(timeout=3.0)
        self.shipper.stop()
        self.debug_relay.stop()
        self.profile_link.stop()
        self.spool.close()
        self.logs.close()
        self.train_logs.close()
        self.events.close()
        self.store.close()
        if self.workers is not None:
            self.workers.close()
        if self.serve_status is not None:
            self.serve_status.close()
        self.procs.close()
        self.gpus.close()
        self.http.shutdown()


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        read_token_file(args.token_file)
    except TokenError as e:
        log.error("cannot read --token-file: %s", e)
        return 2
    try:  # TLS: an unusable --tls-ca stops the agent at once
        channel_credentials(args.tls_ca)
    except TlsCaError as e:
        log.error("%s", e)
        return 2
    try:
        ident = discover(args.session_dir, args.node_ip, stop=stop)
    except NodeNotFound as e:
        log.error("%s", e)
        return 1
    if stop.is_set():
        return 0
    log.info("serving node %s (%s), raylet pid %d port %d, head node: %s",
             ident.node_id, ident.node_ip, ident.raylet_pid, ident.raylet_port, ident.is_head)
    agent = Agent(args, ident, stop)
    if args.ready_file:
        write_ready(args.ready_file, {"pid": os.getpid(), "node_id": ident.node_id, "metrics_url": agent.metrics_url})
    try:
        agent.run()
    finally:
        agent.shutdown()
        log.info("agent stopped")
    return 0
