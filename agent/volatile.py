"""In-memory, bounded buffer of samples that are not worth a disk spool.

Node and object-store samples wait here until a batch carries them; if the head is away
long enough for the ring to fill, the oldest are dropped and counted. For process and
object snapshots only the latest matters, so a newer one replaces an unsent one.
Items ride on the batch being sent and are forgotten once that batch is acked; on a
disconnect they go back to the ring.

Sizes (wire/limits.py): what is attached to a batch fits beside its spooled part under the
wire's limit. A snapshot over its share of `ATTACHED_BYTES` is cut when it is added (the
object table keeps its largest objects, the process table its largest processes) and the cut
is reported; samples that do not fit wait for the next batch.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, Sequence, TypeVar, Union

from google.protobuf.message import Message

from rayscope.wire.limits import ATTACHED_BYTES, ENVELOPE_BYTES, MAX_MESSAGE_BYTES
from rayscope.wire.rayscope_ingest_pb2 import (
    AppMetricScrape,
    Batch,
    DropReport,
    NodeSample,
    ObjectSnapshot,
    ObjectStoreSample,
    ProcessSnapshot,
)

OBJECTS_BYTES = ATTACHED_BYTES * 3 // 4  # the object table's share; samples and processes get the rest
PROCESSES_BYTES = ATTACHED_BYTES // 8
OBJECTS_CUT_REASON = "object snapshot over the wire's limit: the smallest objects' refs not shipped"
PROCESSES_CUT_REASON = "process snapshot over the wire's limit: the smallest processes not shipped"
ROW_FRAMING = 6  # a repeated field's tag and length prefix
# One application-metrics scrape at most (what is left of ATTACHED_BYTES beside full object and
# process snapshots is 1/8; a scrape bigger than the room would wait forever at the ring's head).
APP_SCRAPE_BYTES = ATTACHED_BYTES // 16
APP_RING_BYTES = 4 << 20  # all unsent scrapes together (the agent's memory budget)
APP_CUT_REASON = "application metrics scrape over the wire's limit: its last families not shipped"
APP_RING_REASON = "in-memory application metrics buffer full (head unreachable)"


def cut_scrape(scrape: AppMetricScrape, max_bytes: int = APP_SCRAPE_BYTES) -> Optional[DropReport]:
    """Keep `scrape`'s families, in order, while they fit in `max_bytes`; None when all fit."""
    if scrape.ByteSize() <= max_bytes:
        return None
    families = list(scrape.families)
    kept, cut_bytes = _fit(families, AppMetricScrape(ts=scrape.ts).ByteSize(), max_bytes)
    del scrape.families[:]
    scrape.families.extend(families[:kept])
    cut = [f.name for f in families[kept:]]
    return DropReport(source="app_metrics", reason=APP_CUT_REASON, count=sum(len(f.series) for f in families[kept:]),
                      bytes=cut_bytes, ts=time.time(),
                      detail=f"{kept} of {len(families)} families shipped (limit {max_bytes} bytes); cut: "
                             + ", ".join(cut)[:400])


def cut_snapshot(snap: Union[ObjectSnapshot, ProcessSnapshot], max_bytes: int) -> Optional[DropReport]:
    """Cut `snap`'s rows, keeping the largest (object size, process RSS), until it fits in
    `max_bytes`; the report says how many rows and bytes were left out, None when it fit."""
    if snap.ByteSize() <= max_bytes:
        return None
    if isinstance(snap, ObjectSnapshot):
        refs = sorted(snap.refs, key=lambda r: r.object_size, reverse=True)
        kept, cut_bytes = _fit(refs, ObjectSnapshot(ts=snap.ts).ByteSize(), max_bytes)
        del snap.refs[:]
        snap.refs.extend(refs[:kept])
        return _cut_report("objects", OBJECTS_CUT_REASON, "refs", len(refs), kept, cut_bytes, snap.ts, max_bytes)
    procs = sorted(snap.processes, key=lambda r: r.rss, reverse=True)
    kept, cut_bytes = _fit(procs, ProcessSnapshot(ts=snap.ts).ByteSize(), max_bytes)
    del snap.processes[:]
    snap.processes.extend(procs[:kept])
    return _cut_report("processes", PROCESSES_CUT_REASON, "processes", len(procs), kept, cut_bytes, snap.ts, max_bytes)


def _fit(rows: Sequence[Message], base_bytes: int, max_bytes: int) -> tuple[int, int]:
    """How many of `rows`, from the first, fit beside `base_bytes` in `max_bytes`; and the bytes of the rest."""
    size, kept = base_bytes, 0
    for row in rows:
        n = row.ByteSize() + ROW_FRAMING
        if size + n > max_bytes:
            break
        size += n
        kept += 1
    return kept, sum(r.ByteSize() + ROW_FRAMING for r in rows[kept:])


def _cut_report(source: str, reason: str, what: str, total: int, kept: int, cut_bytes: int, ts: float,
                max_bytes: int) -> DropReport:
    return DropReport(source=source, reason=reason, count=total - kept, bytes=cut_bytes, ts=time.time(),
                      detail=f"{kept} of {total} {what} shipped (snapshot at {ts:.0f}, limit {max_bytes} bytes)")


@dataclass
class _Load:
    nodes: list[NodeSample] = field(default_factory=list)
    stores: list[ObjectStoreSample] = field(default_factory=list)
    processes: Optional[ProcessSnapshot] = None
    objects: Optional[ObjectSnapshot] = None
    apps: list[AppMetricScrape] = field(default_factory=list)
    serve: list[AppMetricScrape] = field(default_factory=list)
    data: list[AppMetricScrape] = field(default_factory=list)


class VolatileBuffer:
    def __init__(self, max_samples: int = 600) -> None:
        self.max_samples = max_samples
        self.lock = threading.Lock()
        self.nodes: deque[NodeSample] = deque()
        self.stores: deque[ObjectStoreSample] = deque()
        self.apps: deque[AppMetricScrape] = deque()  # bounded by APP_RING_BYTES
        self._apps_bytes = 0
        self._apps_dropped = 0  # scrapes dropped from a full ring, not yet reported
        self.serve: deque[AppMetricScrape] = deque()  # Ray Serve's request families: same ring rules
        self.data: deque[AppMetricScrape] = deque()  # Ray Data's operator gauges: same ring rules
        self.processes: Optional[ProcessSnapshot] = None
        self.objects: Optional[ObjectSnapshot] = None
        self.inflight: dict[int, _Load] = {}
        self.dropped = 0
        self._unreported = 0
        self._reports: list[DropReport] = []  # snapshot cuts not yet carried by a batch

    def add(self, node: Optional[NodeSample] = None, store: Optional[ObjectStoreSample] = None,
            processes: Optional[ProcessSnapshot] = None, objects: Optional[ObjectSnapshot] = None,
            app: Optional[AppMetricScrape] = None, serve: Optional[AppMetricScrape] = None,
            data: Optional[AppMetricScrape] = None) -> None:
        with self.lock:
            for scrape, ring in ((app, self.apps), (serve, self.serve), (data, self.data)):
                if scrape is not None:
                    self._keep_report(cut_scrape(scrape))
                    ring.append(scrape)
                    self._apps_bytes += scrape.ByteSize()
            if node is not None:
                self.nodes.append(node)
            if store is not None:
                self.stores.append(store)
            if processes is not None:
                self._keep_report(cut_snapshot(processes, PROCESSES_BYTES))
                self.processes = processes
            if objects is not None:
                self._keep_report(cut_snapshot(objects, OBJECTS_BYTES))
                self.objects = objects
            self._bound()

    def _keep_report(self, report: Optional[DropReport]) -> None:
        if report is not None:
            self._reports.append(report)

    def _bound(self) -> None:
        for ring in (self.nodes, self.stores):
            while len(ring) > self.max_samples:
                ring.popleft()
                self.dropped += 1
                self._unreported += 1
        while self._apps_bytes > APP_RING_BYTES and (self.apps or self.serve or self.data):
            oldest = (self.apps or self.serve or self.data).popleft()
            self._apps_bytes -= oldest.ByteSize()
            self._apps_dropped += 1

    def take_drop_reports(self) -> list[DropReport]:
        """What was dropped or cut since the last call, for the next spooled batch to carry."""
        with self.lock:
            out, self._reports = self._reports, []
            n, self._unreported = self._unreported, 0
            apps, self._apps_dropped = self._apps_dropped, 0
        if apps:
            out.append(DropReport(source="app_metrics", reason=APP_RING_REASON, count=apps, ts=time.time(),
                                  detail=f"{apps} scrape(s) of this node's application metrics, oldest first"))
        if n:
            out.append(DropReport(source="metrics", reason="in-memory sample buffer full (head unreachable)",
                                  count=n, ts=time.time()))
        return out

    def attach(self, batch: Batch) -> None:
        """Move what waits onto `batch` (about to be sent), as much as fits beside its spooled part
        under the wire's limit: snapshots first (each was cut to its share when added), then the
        oldest samples; the rest waits for the next batch."""
        room = MAX_MESSAGE_BYTES - ENVELOPE_BYTES - batch.ByteSize()
        with self.lock:
            load = _Load()
            for name in ("processes", "objects"):
                snap = getattr(self, name)
                if snap is not None and snap.ByteSize() + ROW_FRAMING <= room:
                    room -= snap.ByteSize() + ROW_FRAMING
                    setattr(load, name, snap)
                    setattr(self, name, None)
            room = _take_fitting(self.nodes, load.nodes, room)
            room = _take_fitting(self.stores, load.stores, room)
            room = _take_fitting(self.apps, load.apps, room)
            room = _take_fitting(self.serve, load.serve, room)
            room = _take_fitting(self.data, load.data, room)
            self._apps_bytes -= sum(a.ByteSize() for a in load.apps + load.serve + load.data)
            self.inflight[batch.seq] = load
        batch.node_samples.extend(load.nodes)
        batch.object_store.extend(load.stores)
        batch.app_metrics.extend(load.apps)
        batch.serve_metrics.extend(load.serve)
        batch.data_metrics.extend(load.data)
        if load.processes is not None:
            batch.processes.CopyFrom(load.processes)
        if load.objects is not None:
            batch.objects.CopyFrom(load.objects)

    def ack(self, seq: int) -> None:
        with self.lock:
            for s in [s for s in self.inflight if s <= seq]:
                del self.inflight[s]

    def requeue(self) -> None:
        """The connection dropped: unacked samples go back in front of newer ones."""
        with self.lock:
            for seq in sorted(self.inflight, reverse=True):
                load = self.inflight.pop(seq)
                self.nodes.extendleft(reversed(load.nodes))
                self.stores.extendleft(reversed(load.stores))
                self.apps.extendleft(reversed(load.apps))
                self.serve.extendleft(reversed(load.serve))
                self.data.extendleft(reversed(load.data))
                self._apps_bytes += sum(a.ByteSize() for a in load.apps + load.serve + load.data)
                self.processes = self.processes or load.processes
                self.objects = self.objects or load.objects
            self._bound()


_M = TypeVar("_M", bound=Message)


def _take_fitting(ring: deque[_M], taken: list[_M], room: int) -> int:
    """Move the oldest samples of `ring` to `taken` while they fit in `room`; returns the room left."""
    while ring and ring[0].ByteSize() + ROW_FRAMING <= room:
        room -= ring[0].ByteSize() + ROW_FRAMING
        taken.append(ring.popleft())
    return room
