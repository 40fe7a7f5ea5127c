"""In-memory, bounded buffer of samples that are not worth a disk spool.

Node and object-store samples wait here until a batch carries them; if the head is away
long enough for the ring to fill, the oldest are dropped and counted. For process and
object snapshots only the latest matters, so a newer one replaces an unsent one.
Items ride on the batch being sent and are forgotten once that batch is acked; on a
disconnect they go back to the ring.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from rayscope.wire.rayscope_ingest_pb2 import Batch, DropReport, NodeSample, ObjectSnapshot, ObjectStoreSample, ProcessSnapshot


@dataclass
class _Load:
    nodes: list[NodeSample] = field(default_factory=list)
    stores: list[ObjectStoreSample] = field(default_factory=list)
    processes: Optional[ProcessSnapshot] = None
    objects: Optional[ObjectSnapshot] = None


class VolatileBuffer:
    def __init__(self, max_samples: int = 600) -> None:
        self.max_samples = max_samples
        self.lock = threading.Lock()
        self.nodes: deque[NodeSample] = deque()
        self.stores: deque[ObjectStoreSample] = deque()
        self.processes: Optional[ProcessSnapshot] = None
        self.objects: Optional[ObjectSnapshot] = None
        self.inflight: dict[int, _Load] = {}
        self.dropped = 0
        self._unreported = 0

    def add(self, node: Optional[NodeSample] = None, store: Optional[ObjectStoreSample] = None,
            processes: Optional[ProcessSnapshot] = None, objects: Optional[ObjectSnapshot] = None) -> None:
        with self.lock:
            if node is not None:
                self.nodes.append(node)
            if store is not None:
                self.stores.append(store)
            if processes is not None:
                self.processes = processes
            if objects is not None:
                self.objects = objects
            self._bound()

    def _bound(self) -> None:
        for ring in (self.nodes, self.stores):
            while len(ring) > self.max_samples:
                ring.popleft()
                self.dropped += 1
                self._unreported += 1

    def take_drop_report(self) -> Optional[DropReport]:
        with self.lock:
            if not self._unreported:
                return None
            n, self._unreported = self._unreported, 0
        return DropReport(source="metrics", reason="in-memory sample buffer full (head unreachable)", count=n, ts=time.time())

    def attach(self, batch: Batch) -> None:
        """Move everything waiting onto `batch` (about to be sent)."""
        with self.lock:
            load = _Load(list(self.nodes), list(self.stores), self.processes, self.objects)
            self.nodes.clear()
            self.stores.clear()
            self.processes = self.objects = None
            self.inflight[batch.seq] = load
        batch.node_samples.extend(load.nodes)
        batch.object_store.extend(load.stores)
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
                self.processes = self.processes or load.processes
                self.objects = self.objects or load.objects
            self._bound()
