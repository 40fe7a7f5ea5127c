"""The disk spool: seqs across restarts, ack trimming, budget drops counted and reported."""
from __future__ import annotations

import os
from pathlib import Path

from rayscope.agent.spool import Spool
from rayscope.wire.rayscope_ingest_pb2 import Batch, LogLine, TaskEvent


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
