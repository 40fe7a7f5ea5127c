"""Disk-backed, bounded spool of serialized Batch records: the agent's delivery guarantee.

A batch is appended (and fsynced) before it is sent, and deleted only once the head acked
it, so an agent or head restart loses nothing. Records live in segment files:
`[u32 length][u32 crc32][u64 seq][payload]`. Over budget the *oldest* segments are dropped
and what they held is counted into DropReports, which the next batch carries.

An append either makes the whole record durable or leaves the segment as it was (a failed
write, e.g. a full disk, is cut off again) and raises OSError: the caller keeps the batch.
A record that cannot be read back (CRC mismatch, undecodable) is reported, never skipped
silently. A spool that has never talked to a head (new, or its state was lost) renumbers its
batches above the head's committed seq on the first hello, instead of letting that seq trim them.
"""
from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

from rayscope.common.atomic_file import write_atomic
from rayscope.wire.batch_items import batch_items
from rayscope.wire.rayscope_ingest_pb2 import Batch, DropReport

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIQ")
SEQ = struct.Struct(">Q")
SEQ_AT = 8  # the seq's offset in a record header
META = "spool.json"
UNREADABLE = "spooled batch unreadable"
UNSENDABLE = "spooled batch over the wire's limit (spooled by an older agent)"


@dataclass
class Record:
    seq: int
    offset: int  # of the header in its segment
    length: int  # of the payload
    crc: int = 0


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
        self._fh: Optional[io.FileIO] = None  # unbuffered (FileIO): a failed write leaves nothing behind in a buffer
        self._pending_drops: dict[tuple[str, str], DropReport] = {}
        self.dropped_batches = 0
        self.write_errors = 0  # appends that failed (full disk, I/O error); the caller holds the batch
        self.synced = True  # False: no head has answered this spool yet (new, or its state was lost)
        self._unreadable: set[int] = set()  # seqs already reported unreadable
        os.makedirs(directory, exist_ok=True)
        self._load()

    # ------------------------------------------------------------------ recovery
    def _load(self) -> None:
        meta = self._read_meta()
        # A spool without meta never completed a hello (it is written, fsynced, on the first one);
        # a meta file from before the flag existed belongs to an agent whose state is intact.
        self.synced = bool(meta.get("synced", True)) if meta else False
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

    def _read_meta(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.dir, META)) as f:
                meta: dict[str, Any] = json.load(f)
                return meta
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
            if end > len(data):
                log.warning("spool segment %s: torn record at %d (a crash mid-append), truncating", path, pos)
                break
            if zlib.crc32(data[pos + HEADER.size : end]) != crc:
                # Followed by more records, it was whole once and changed on disk: it and what follows
                # it in this segment are lost (reported). Last in the segment, it is a torn append.
                if end < len(data):
                    self._report_cut(path, pos, len(data) - pos)
                else:
                    log.warning("spool segment %s: torn record at %d (a crash mid-append), truncating", path, pos)
                break
            seg.records.append(Record(seq, pos, length, crc))
            pos = end
        if pos != len(data):
            with open(path, "r+b") as f:
                f.truncate(pos)
        seg.size = pos
        return seg

    def _write_meta(self, durable: bool = True) -> None:
        write_atomic(os.path.join(self.dir, META),
                     json.dumps({"acked_seq": self.acked_seq, "next_seq": self.next_seq, "synced": self.synced}),
                     durable=self.fsync and durable)

    # ------------------------------------------------------------------ writing
    def append(self, batch: Batch) -> int:
        """Assign the next seq, persist the batch, enforce the budget; returns the seq.

        All or nothing: on OSError (ENOSPC, EIO) the segment is cut back to its last whole record,
        no seq is used up, and the error is raised for the caller, who still holds the batch."""
        with self.lock:
            batch.seq = self.next_seq
            payload = batch.SerializeToString()
            crc = zlib.crc32(payload)
            try:
                seg = self._writable_segment()
                self._write_record(seg, HEADER.pack(len(payload), crc, batch.seq) + payload)
            except OSError:
                self.write_errors += 1
                raise
            seg.records.append(Record(batch.seq, seg.size, len(payload), crc))
            seg.size += HEADER.size + len(payload)
            self.next_seq += 1
            self._enforce_budget()
            self.lock.notify_all()
            return batch.seq

    def _write_record(self, seg: Segment, record: bytes) -> None:
        assert self._fh is not None
        fd = self._fh.fileno()
        try:
            view, done = memoryview(record), 0
            while done < len(record):
                done += os.write(fd, view[done:])
            if self.fsync:
                os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, seg.size)  # the segment ends at its last whole record again
            except OSError as e:
                # Cannot cut the torn tail: seal this segment (its index stops at the last whole
                # record, and a restart's scan cuts the tail) and write the next record elsewhere.
                log.error("spool segment %s: cannot truncate a failed append (%s); starting a new segment",
                          seg.path, e)
                self._fh.close()
                self._fh = None
            raise

    def _writable_segment(self) -> Segment:
        if self.segments and self._fh is not None and self.segments[-1].size < self.segment_bytes:
            return self.segments[-1]
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        seg = Segment(os.path.join(self.dir, f"seg-{self.next_seq:020d}.log"))
        self._fh = open(seg.path, "ab", buffering=0)
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
        items = batch_items(batch)
        line_bytes = sum(len(line.text) for line in batch.log_lines)
        sample_bytes = sum(s.ByteSize() for s in batch.node_samples) + sum(s.ByteSize() for s in batch.object_store)
        proc_bytes = batch.processes.ByteSize() if batch.HasField("processes") else 0
        obj_bytes = batch.objects.ByteSize() if batch.HasField("objects") else 0
        parts = [("logs", items.lines, line_bytes), ("metrics", items.samples, sample_bytes),
                 ("processes", int(batch.HasField("processes")), proc_bytes),
                 ("objects", int(batch.HasField("objects")), obj_bytes),
                 ("events", items.events, nbytes - line_bytes - sample_bytes - proc_bytes - obj_bytes)]
        for source, count, size in parts:
            if count == 0:
                continue
            key = (source, "spool over budget")
            rep = self._pending_drops.setdefault(key, DropReport(source=source, reason=key[1], ts=now))
            rep.count += count
            rep.bytes += max(size, 0)
            rep.detail = f"batch seq {batch.seq}"
            rep.ts = now
        for d in batch.drops:  # the reports it carried are not lost with it: they ride on the next batch
            rep = self._pending_drops.setdefault((d.source, d.reason), DropReport(source=d.source, reason=d.reason))
            rep.count += d.count
            rep.bytes += d.bytes
            rep.detail = d.detail or rep.detail
            rep.ts = max(rep.ts, d.ts)

    def _report_cut(self, path: str, pos: int, nbytes: int) -> None:
        log.error("spool segment %s: corrupt record at %d; cutting %d bytes, reported as dropped", path, pos, nbytes)
        self.dropped_batches += 1
        rep = self._pending_drops.setdefault(("batch", UNREADABLE), DropReport(source="batch", reason=UNREADABLE))
        rep.count += 1  # at least one batch; how many the cut bytes held is unknown
        rep.bytes += nbytes
        rep.detail = f"{os.path.basename(path)}: CRC mismatch at offset {pos}, {nbytes} bytes cut"
        rep.ts = time.time()

    def report_unreadable(self, seq: int, nbytes: int, error: str, reason: str = UNREADABLE) -> None:
        """A spooled batch that cannot be read back (or sent: `UNSENDABLE`) is lost whole: count it
        (once per seq) into the next batch's DropReports, under source "batch" (its items cannot be
        told apart)."""
        with self.lock:
            if seq in self._unreadable:
                return
            self._unreadable.add(seq)
            log.error("spooled batch seq %d: %s (%s): reported as dropped", seq, reason, error)
            self.dropped_batches += 1
            now = time.time()
            key = ("batch", reason)
            rep = self._pending_drops.setdefault(key, DropReport(source="batch", reason=reason, ts=now))
            rep.count += 1
            rep.bytes += nbytes
            rep.detail = f"batch seq {seq}: {error}"[:300]
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
        bad: list[tuple[int, int, str]] = []
        with self.lock:
            for seg in self.segments:
                if seg.last_seq < seq or len(out) >= max_records:
                    continue
                with open(seg.path, "rb") as f:
                    for rec in seg.records:
                        if rec.seq < seq or rec.seq <= self.acked_seq:
                            continue
                        f.seek(rec.offset + HEADER.size)
                        payload = f.read(rec.length)
                        if len(payload) != rec.length or zlib.crc32(payload) != rec.crc:
                            bad.append((rec.seq, rec.length, "CRC mismatch: the record changed on disk"))
                            continue
                        out.append((rec.seq, payload))
                        if len(out) >= max_records:
                            break
        for s, n, why in bad:
            self.report_unreadable(s, n, why)
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
            try:
                self._write_meta(durable=False)
            except OSError as e:  # a full disk: the marker is an optimisation, shipping goes on
                log.warning("spool meta not written (%s); a restart may resend acked batches", e)

    def reconcile(self, committed: int) -> int:
        """The head's HelloAck: it has committed this agent's seqs up to `committed`.

        Normally those are our own batches and `ack(committed)` trims them. But if this spool never
        heard from a head (new, or the agent's state was lost) or the head has seen seqs we never
        wrote, then our unacked batches at or below `committed` are *other* data than the head's:
        acking would delete them unsent. They are renumbered above `committed` instead (each
        record's seq is rewritten in place, no space needed) and resent; a duplicate is harmless
        (log lines are keyed by position, events merge). Returns how many were renumbered."""
        with self.lock:
            unacked = [(seg, r) for seg in self.segments for r in seg.records if r.seq > self.acked_seq]
            suspect = not self.synced or committed >= self.next_seq
            moved = 0
            if suspect and any(r.seq <= committed for _, r in unacked):
                self._renumber(unacked, committed + 1)
                moved = len(unacked)
                log.warning("head has committed seq %d from an earlier state of this agent: %d spooled batches "
                            "renumbered to %d..%d and resent, not trimmed", committed, moved,
                            committed + 1, committed + moved)
            elif committed >= self.next_seq:
                log.warning("head committed seq %d >= our next seq %d: skipping ahead", committed, self.next_seq)
            if suspect:
                self.next_seq = max(self.next_seq, committed + 1 + moved)
                self.acked_seq = max(self.acked_seq, min(committed, self.next_seq - 1))
                self.synced = True
                try:
                    self._write_meta()  # durable: from now on this spool's seqs are the head's
                except OSError as e:  # a full disk must not stop shipping; unsynced on disk only means
                    log.warning("spool meta not written (%s)", e)  # a later restart may resend duplicates
            return moved

    def _renumber(self, unacked: list[tuple[Segment, Record]], first: int) -> None:
        """Rewrite the seq in each record header (in place: a pwrite of 8 bytes per record). A crash
        half-way leaves the spool unsynced, so the next hello renumbers again."""
        by_seg: dict[str, list[tuple[Record, int]]] = {}
        for i, (seg, rec) in enumerate(unacked):
            by_seg.setdefault(seg.path, []).append((rec, first + i))
        for path, recs in by_seg.items():
            fd = os.open(path, os.O_WRONLY)  # not the O_APPEND handle: pwrite there would append
            try:
                for rec, new in recs:
                    os.pwrite(fd, SEQ.pack(new), rec.offset + SEQ_AT)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        for i, (_, rec) in enumerate(unacked):
            rec.seq = first + i

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
            try:
                self._write_meta()
            except OSError as e:  # a full disk at shutdown: the segments alone are enough to resume
                log.warning("spool meta not written at close (%s)", e)


def parse_batch(payload: bytes) -> tuple[Optional[Batch], str]:
    """Decode a spooled payload: (batch, "") or (None, why); the caller reports a corrupt one
    (`Spool.report_unreadable`) and goes on with the next."""
    try:
        return Batch.FromString(payload), ""
    except Exception as e:  # protobuf raises DecodeError; anything else is as bad
        return None, f"undecodable: {e}"
