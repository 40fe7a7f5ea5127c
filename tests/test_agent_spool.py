"""The disk spool: seqs across restarts, ack trimming, budget drops counted and reported."""
from __future__ import annotations

import errno
import os
import zlib
from pathlib import Path

import pytest

from rayscope.agent.spool import HEADER, UNREADABLE, Spool, parse_batch
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.rayscope_ingest_pb2 import Batch, LogLine, TaskEvent
from tiny_fs import fill, tiny_tmpfs


def batch(n_lines: int, size: int = 100, n_tasks: int = 0) -> Batch:
    b = Batch(created_at=1.0)
    b.log_lines.extend(LogLine(file_id="n:f", offset=i, text=b"x" * size) for i in range(n_lines))
    b.tasks.extend(TaskEvent(task_id=f"{i:02x}", job_id="01000000") for i in range(n_tasks))
    return b


def seqs(sp: Spool, start: int = 1) -> list[int]:
    return [s for s, _ in sp.unacked_from(start, max_records=10_000)]


def test_append_read_ack_trim(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=10 << 20, segment_bytes=4096)
    for _ in range(20):
        sp.append(batch(5))
    assert seqs(sp) == list(range(1, 21))
    assert seqs(sp, 15) == list(range(15, 21))
    payload = dict(sp.unacked_from(3))[3]
    assert Batch.FromString(payload).seq == 3 and len(Batch.FromString(payload).log_lines) == 5
    n_segments = len([n for n in os.listdir(tmp_path) if n.startswith("seg-")])
    sp.ack(15)
    assert seqs(sp) == list(range(16, 21))
    assert len([n for n in os.listdir(tmp_path) if n.startswith("seg-")]) < n_segments  # fully acked segments deleted
    assert sp.pending() == 5


def test_seq_and_unacked_survive_restart(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=10 << 20, segment_bytes=4096)
    for _ in range(10):
        sp.append(batch(3))
    sp.ack(4)
    sp.close()
    sp2 = Spool(str(tmp_path), budget_bytes=10 << 20, segment_bytes=4096)
    assert seqs(sp2) == list(range(5, 11))
    assert sp2.append(batch(1)) == 11


def test_seq_monotonic_after_everything_acked(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    for _ in range(3):
        sp.append(batch(1))
    sp.ack(3)
    sp.close()
    assert Spool(str(tmp_path), budget_bytes=1 << 20).append(batch(1)) == 4


def test_torn_tail_is_cut(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    sp.append(batch(2))
    sp.append(batch(2))
    sp.close()
    seg = sorted(p for p in tmp_path.iterdir() if p.name.startswith("seg-"))[-1]
    with open(seg, "ab") as f:
        f.write(b"\x00\x00\x10\x00garbage")  # a crash mid-append
    sp2 = Spool(str(tmp_path), budget_bytes=1 << 20)
    assert seqs(sp2) == [1, 2]
    assert sp2.append(batch(1)) == 3
    assert seqs(sp2) == [1, 2, 3]


def test_over_budget_drops_oldest_and_counts(tmp_path: Path) -> None:
    budget = 64 * 1024
    sp = Spool(str(tmp_path), budget_bytes=budget, segment_bytes=16 * 1024)
    for _ in range(60):  # ~2 KB of text per batch, ~120 KB total: about half must go
        sp.append(batch(10, size=200, n_tasks=1))
    assert sp.total_bytes() <= budget + 16 * 1024
    left = seqs(sp)
    assert left[-1] == 60 and left == list(range(left[0], 61)) and left[0] > 1
    dropped = left[0] - 1
    reports = {r.source: r for r in sp.take_drop_reports()}
    assert reports["logs"].count == dropped * 10
    assert reports["logs"].bytes == dropped * 10 * 200
    assert reports["events"].count == dropped
    assert reports["logs"].reason == "spool over budget"
    assert sp.take_drop_reports() == []  # reported once


def test_over_budget_counts_samples_and_snapshots_too(tmp_path: Path) -> None:
    """A batch dropped over budget takes its node and object-store samples and its process and
    object snapshots with it: each kind is reported under its own source, none silently."""
    sp = Spool(str(tmp_path), budget_bytes=8 * 1024, segment_bytes=4 * 1024)
    for _ in range(12):
        b = batch(2, size=300, n_tasks=1)
        b.node_samples.extend(pb.NodeSample(ts=1.0, cpu_percent=50.0) for _ in range(3))
        b.object_store.append(pb.ObjectStoreSample(ts=1.0, used_bytes=7))
        b.processes.CopyFrom(pb.ProcessSnapshot(ts=1.0, processes=[pb.RayProcess(pid=1)]))
        b.objects.CopyFrom(pb.ObjectSnapshot(ts=1.0, refs=[pb.ObjectRef(object_id="ab")]))
        sp.append(b)
    dropped = seqs(sp)[0] - 1
    assert dropped > 0
    counts = {r.source: r.count for r in sp.take_drop_reports()}
    assert counts == {"logs": 2 * dropped, "events": dropped, "metrics": 4 * dropped,
                      "processes": dropped, "objects": dropped}


def test_acked_batches_are_not_counted_as_dropped(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=32 * 1024, segment_bytes=8 * 1024)
    for _ in range(10):
        sp.append(batch(10, size=200))
    sp.ack(sp.next_seq - 1)
    for _ in range(10):
        sp.append(batch(10, size=200))
    dropped_lines = sum(r.count for r in sp.take_drop_reports() if r.source == "logs")
    left = seqs(sp)
    assert dropped_lines == (left[0] - 11) * 10 if left[0] > 11 else dropped_lines == 0


def test_advance_seq_when_head_is_ahead(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    sp.reconcile(41)
    assert sp.append(batch(1)) == 42


# ---------------------------------------------------------------- losses (issue 12)


def test_append_on_a_full_disk_is_cut_back_and_loses_nothing() -> None:
    """A real full filesystem (a tmpfs the test mounts): the failed append leaves the segment at its
    last whole record, uses no seq, and the same batch appends once space is back."""
    with tiny_tmpfs(256) as fs:
        sp = Spool(str(fs / "spool"), budget_bytes=1 << 20, segment_bytes=1 << 20)
        for _ in range(3):
            sp.append(batch(5))
        filler = fill(fs)
        big = batch(20, size=1000)  # ~20 KB: pages the disk no longer has
        with pytest.raises(OSError) as err:
            sp.append(big)
        assert err.value.errno == errno.ENOSPC
        seg = sp.segments[-1]
        assert os.path.getsize(seg.path) == seg.size  # the half-written record is gone again
        assert sp.next_seq == 4 and seqs(sp) == [1, 2, 3]
        assert sp.write_errors == 1
        filler.unlink()
        assert sp.append(big) == 4
        assert sp.append(batch(1)) == 5
        sp.close()
        again = Spool(str(fs / "spool"), budget_bytes=1 << 20, segment_bytes=1 << 20)
        assert seqs(again) == [1, 2, 3, 4, 5]
        assert [len(Batch.FromString(p).log_lines) for _, p in again.unacked_from(1)] == [5, 5, 5, 20, 1]
        assert again.take_drop_reports() == []


def _corrupt_payload(sp: Spool, seq: int) -> int:
    """Flip one byte in the middle of a record's payload on disk (bit rot, a stray write); returns
    the payload's length."""
    for seg in sp.segments:
        for rec in seg.records:
            if rec.seq == seq:
                with open(seg.path, "r+b") as f:
                    at = rec.offset + HEADER.size + rec.length // 2
                    f.seek(at)
                    byte = f.read(1)
                    f.seek(at)
                    f.write(bytes([byte[0] ^ 0xFF]))
                return rec.length
    raise AssertionError(f"no record {seq}")


def test_a_record_corrupted_on_disk_is_reported_once(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    for _ in range(3):
        sp.append(batch(4))
    length = _corrupt_payload(sp, 2)
    assert seqs(sp) == [1, 3]
    assert seqs(sp) == [1, 3]  # read again (a resend): not reported twice
    (rep,) = sp.take_drop_reports()
    assert (rep.source, rep.reason, rep.count) == ("batch", UNREADABLE, 1)
    assert rep.bytes == length
    assert "seq 2" in rep.detail and "CRC" in rep.detail


def test_a_corrupt_record_found_on_restart_is_reported(tmp_path: Path) -> None:
    """On load a corrupt record followed by more is not a torn append: what is cut is reported."""
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    for _ in range(3):
        sp.append(batch(4))
    length = _corrupt_payload(sp, 2)
    sp.close()
    again = Spool(str(tmp_path), budget_bytes=1 << 20)
    assert seqs(again) == [1]
    (rep,) = again.take_drop_reports()
    assert (rep.source, rep.reason) == ("batch", UNREADABLE) and rep.count >= 1
    assert rep.bytes == 2 * (HEADER.size + length)  # records 2 and 3 were cut (same size)
    assert again.append(batch(1)) == 4


def test_an_undecodable_record_is_reported_by_the_reader(tmp_path: Path) -> None:
    """A record whose CRC holds but whose payload is not a Batch (written by something else)."""
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    sp.append(batch(1))
    sp.close()
    seg = sorted(p for p in tmp_path.iterdir() if p.name.startswith("seg-"))[-1]
    junk = b"\xff" * 20
    with open(seg, "ab") as f:
        f.write(HEADER.pack(len(junk), zlib.crc32(junk), 2) + junk)
    sp2 = Spool(str(tmp_path), budget_bytes=1 << 20)
    records = dict(sp2.unacked_from(1))
    assert sorted(records) == [1, 2]
    decoded, why = parse_batch(records[2])
    assert decoded is None and "undecodable" in why
    sp2.report_unreadable(2, len(records[2]), why)
    sp2.report_unreadable(2, len(records[2]), why)  # a resend reports nothing new
    (rep,) = sp2.take_drop_reports()
    assert (rep.source, rep.reason, rep.count, rep.bytes) == ("batch", UNREADABLE, 1, 20)


def test_a_spool_that_lost_its_state_renumbers_instead_of_trimming(tmp_path: Path) -> None:
    """The head committed seqs 1..41 from this agent's earlier state; this spool is new and holds
    3 batches it numbered 1..3 while the head was away. The hello must not trim them."""
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    for n in (1, 2, 3):
        sp.append(batch(n))
    moved = sp.reconcile(41)
    sp.ack(41)  # what the shipper does next with the HelloAck
    got = sp.unacked_from(42)
    assert [s for s, _ in got] == [42, 43, 44]
    assert moved == 3
    assert [len(Batch.FromString(p).log_lines) for _, p in got] == [1, 2, 3]
    assert sp.append(batch(4)) == 45
    sp.close()
    again = Spool(str(tmp_path), budget_bytes=1 << 20)  # the renumbering is on disk
    assert seqs(again, 42) == [42, 43, 44, 45]
    assert again.reconcile(43) == 0  # synced now: a later hello trims as usual
    again.ack(43)
    assert seqs(again) == [44, 45]


def test_a_synced_spool_trims_what_the_head_committed(tmp_path: Path) -> None:
    sp = Spool(str(tmp_path), budget_bytes=1 << 20)
    assert sp.reconcile(0) == 0  # first hello of a new agent: the head knows nothing
    for _ in range(5):
        sp.append(batch(1))
    assert sp.reconcile(4) == 0
    sp.ack(4)
    assert seqs(sp) == [5]


def test_drop_reports_inside_dropped_batches_are_carried_over(tmp_path: Path) -> None:
    """A batch dropped over budget may itself carry DropReports (a cut line, a rotated file never
    read): those are reported with the next batch, not lost with it."""
    sp = Spool(str(tmp_path), budget_bytes=32 * 1024, segment_bytes=8 * 1024)
    first = batch(10, size=200)
    first.drops.add(source="logs", reason="rotated file never read", bytes=1234, detail="x.log: x.log.1 (1234 bytes)")
    sp.append(first)
    for _ in range(30):
        sp.append(batch(10, size=200))
    assert seqs(sp)[0] > 1  # the first batch was dropped
    reports = {(r.source, r.reason): r for r in sp.take_drop_reports()}
    carried = reports[("logs", "rotated file never read")]
    assert (carried.bytes, carried.detail) == (1234, "x.log: x.log.1 (1234 bytes)")
    assert reports[("logs", "spool over budget")].count >= 10
