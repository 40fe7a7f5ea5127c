"""Disk-backed, bounded spool of serialized Batch records: the agent's delivery guarantee.

A batch is appended (and fsynced) before it is sent, and deleted only once the head acked
it, so an agent or head restart loses nothing. Records live in segment files:
`[u32 length][u32 crc32][u64 seq][payload]`. Over budget the *oldest* segments are dropped
and what they held is counted into DropReports, which the next batch carries.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Optional

from rayscope.wire.rayscope_ingest_pb2 import Batch, DropReport

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIQ")
META = "spool.json"


@dataclass
class Record:
    seq: int
    offset: int  # of the header in its segment
    length: int  # of the payload


@dataclass
class Segment:
    path: str
    records: list[Record] = field(default_factory=list)
    size: int = 0

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq if self.records else 0


class SpoolError(RuntimeError):
    pass


class Spool:
    """Append-only segments of batches with a monotonic seq that survives restarts."""

    def __init__(self, directory: str, budget_bytes: int, segment_bytes: int = 8 << 20, fsync: bool = True) -> None:
        if budget_bytes <= 0:
            raise SpoolError(f"spool budget must be positive, got {budget_bytes}")
        self.dir = directory
        self.budget = budget_bytes
        self.segment_bytes = max(4096, min(segment_bytes, budget_bytes // 4))
        self.fsync = fsync
        self.lock = threading.Condition()
        self.segments: list[Segment] = []
        self.acked_seq = 0
        self.next_seq = 1
        self._fh = None
        self._pending_drops: dict[tuple[str, str], DropReport] = {}
        self.dropped_batches = 0
        os.makedirs(directory, exist_ok=True)
        self._load()

    # ------------------------------------------------------------------ recovery
    def _load(self) -> None:
        meta = self._read_meta()
        self.acked_seq = int(meta.get("acked_seq", 0))
        self.next_seq = max(int(meta.get("next_seq", 1)), self.acked_seq + 1)
        names = sorted(n for n in os.listdir(self.dir) if n.startswith("seg-") and n.endswith(".log"))
        for name in names:
            seg = self._scan_segment(os.path.join(self.dir, name))
            if seg.records:
                self.segments.append(seg)
                self.next_seq = max(self.next_seq, seg.last_seq + 1)
            else:
                os.unlink(seg.path)
        self._trim_acked()

    def _read_meta(self) -> dict:
        try:
            with open(os.path.join(self.dir, META)) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as e:
            log.error("spool meta unreadable (%s); starting from the segments on disk", e)
            return {}

    def _scan_segment(self, path: str) -> Segment:
        """Index a segment, cutting off a torn or corrupt tail left by a crash."""
        seg = Segment(path)
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + HEADER.size <= len(data):
            length, crc, seq = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if end > len(data) or zlib.crc32(data[pos + HEADER.size : end]) != crc:
                log.warning("spool segment %s: torn record at %d, truncating", path, pos)
                break
            seg.records.append(Record(seq, pos, length))
            pos = end
        if pos != len(data):
            with open(path, "r+b") as f:
                f.truncate(pos)
        seg.size = pos
        return seg

    def _write_meta(self, durable: bool = True) -> None:
        tmp = os.path.join(self.dir, META + ".tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({"acked_seq": self.acked_seq, "next_seq": self.next_seq}))
            f.flush()
            if self.fsync and durable:
                os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.dir, META))

    # ------------------------------------------------------------------ writing
    def append(self, batch: Batch) -> int:
        """Assign the next seq, persist the batch, enforce the budget; returns the seq."""
        with self.lock:
            batch.seq = self.next_seq
            payload = batch.SerializeToString()
            seg = self._writable_segment()
            header = HEADER.pack(len(payload), zlib.crc32(payload), batch.seq)
            assert self._fh is not None
            self._fh.write(header + payload)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            seg.records.append(Record(batch.seq, seg.size, len(payload)))
            seg.size += HEADER.size + len(payload)
            self.next_seq += 1
            self._enforce_budget()
            self.lock.notify_all()
            return batch.seq

    def _writable_segment(self) -> Segment:
        if self.segments and self._fh is not None and self.segments[-1].size < self.segment_bytes:
            return self.segments[-1]
        if self._fh is not None:
            self._fh.close()
        seg = Segment(os.path.join(self.dir, f"seg-{self.next_seq:020d}.log"))
        self._fh = open(seg.path, "ab")
        self.segments.append(seg)
        return seg

    def total_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def _enforce_budget(self) -> None:
        while len(self.segments) > 1 and self.total_bytes() > self.budget:
            self._drop_segment(self.segments.pop(0))

    def _drop_segment(self, seg: Segment) -> None:
        """Count what an unacked segment held, then delete it."""
        with open(seg.path, "rb") as f:
            data = f.read()
        for rec in seg.records:
            if rec.seq <= self.acked_seq:
                continue
            start = rec.offset + HEADER.size
            self._count_drop(Batch.FromString(data[start : start + rec.length]), rec.length)
        os.unlink(seg.path)

    def _count_drop(self, batch: Batch, nbytes: int) -> None:
        self.dropped_batches += 1
        now = time.time()
        n_lines = len(batch.log_lines)
        n_events = len(batch.tasks) + len(batch.actors) + len(batch.nodes) + len(batch.jobs)
        line_bytes = sum(len(line.text) for line in batch.log_lines)
        parts = [("logs", n_lines, line_bytes), ("events", n_events, nbytes - line_bytes)]
        for source, count, size in parts:
            if count == 0:
                continue
            key = (source, "spool over budget")
            rep = self._pending_drops.setdefault(key, DropReport(source=source, reason=key[1], ts=now))
            rep.count += count
            rep.bytes += max(size, 0)
            rep.detail = f"batch seq {batch.seq}"
            rep.ts = now

    def take_drop_reports(self) -> list[DropReport]:
        """Drops not yet reported; the caller puts them into its next batch."""
        with self.lock:
            out = list(self._pending_drops.values())
            self._pending_drops.clear()
            return out

    # ------------------------------------------------------------------ reading / acking
    def unacked_from(self, seq: int, max_records: int = 64) -> list[tuple[int, bytes]]:
        """Spooled batches with seq >= `seq`, oldest first, as (seq, payload)."""
        out: list[tuple[int, bytes]] = []
        with self.lock:
            for seg in self.segments:
                if seg.last_seq < seq:
                    continue
                with open(seg.path, "rb") as f:
                    for rec in seg.records:
                        if rec.seq < seq or rec.seq <= self.acked_seq:
                            continue
                        f.seek(rec.offset + HEADER.size)
                        out.append((rec.seq, f.read(rec.length)))
                        if len(out) >= max_records:
                            return out
        return out

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Block until a batch with seq >= `seq` exists (or timeout)."""
        with self.lock:
            return self.lock.wait_for(lambda: self.next_seq > seq, timeout)

    def ack(self, seq: int) -> None:
        """The head committed everything up to `seq`: delete segments no longer needed."""
        with self.lock:
            if seq <= self.acked_seq:
                return
            self.acked_seq = min(seq, self.next_seq - 1)
            self._trim_acked()
            # Not fsynced: a stale acked_seq after a crash only resends batches the head dedupes
            # (it says what it committed on connect), and the fsync was ~1/4 of the ack's CPU.
            self._write_meta(durable=False)

    def advance_seq(self, committed: int) -> None:
        """The head has seen seqs up to `committed` (our state was lost): never reuse them."""
        with self.lock:
            if committed >= self.next_seq:
                log.warning("head committed seq %d >= our next seq %d: spool state was lost; skipping ahead", committed, self.next_seq)
                self.next_seq = committed + 1
                self._write_meta()

    def _trim_acked(self) -> None:
        keep: list[Segment] = []
        for seg in self.segments:
            is_current = seg is (self.segments[-1] if self.segments else None) and self._fh is not None
            if seg.last_seq <= self.acked_seq and not is_current:
                os.unlink(seg.path)
            else:
                keep.append(seg)
        self.segments = keep

    def pending(self) -> int:
        with self.lock:
            return sum(1 for s in self.segments for r in s.records if r.seq > self.acked_seq)

    def close(self) -> None:
        with self.lock:
            if self._fh is not None:
                self._fh.flush()
                if self.fsync:
                    os.fsync(self._fh.fileno())
                self._fh.close()
                self._fh = None
            self._write_meta()


def parse_batch(payload: bytes) -> Optional[Batch]:
    """Decode a spooled payload; a corrupt one is logged and skipped by the caller."""
    try:
        return Batch.FromString(payload)
    except Exception as e:  # protobuf raises DecodeError; anything else is as bad
        log.error("spooled batch undecodable: %s", e)
        return None
