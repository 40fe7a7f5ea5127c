"""The agent keeps every message under the wire's limit (wire/limits.py), on real protobufs: a
spooled batch over its share is split in item order, a snapshot over its share is cut (largest
rows kept) and reported, an over-long JSON line keeps its structure with its long strings cut."""
from __future__ import annotations

import json

from rayscope.agent.batching import OVERSIZE_REASON, split_batch
from rayscope.agent.long_json import cut_long_strings
from rayscope.agent.volatile import OBJECTS_BYTES, OBJECTS_CUT_REASON, VolatileBuffer
from rayscope.wire.limits import MAX_MESSAGE_BYTES, SPOOLED_BATCH_BYTES
from rayscope.wire.rayscope_ingest_pb2 import (
    Batch,
    LogLine,
    ObjectRef,
    ObjectSnapshot,
    ObjectStoreSample,
    TaskEvent,
)


def test_a_batch_over_its_share_is_split_in_order_and_an_item_too_big_alone_is_reported() -> None:
    batch = Batch(created_at=1.0)
    batch.log_lines.extend(LogLine(file_id="n:f", offset=i, text=b"x" * 1000) for i in range(100))
    batch.tasks.extend(TaskEvent(task_id=f"{i:02x}", attempt=0, job_id="01") for i in range(10))
    batch.log_lines.insert(50, LogLine(file_id="n:f", offset=10**9, text=b"y" * 20_000))  # too big alone
    parts = split_batch(batch, max_bytes=10_000)
    assert all(p.ByteSize() <= 10_000 for p in parts)
    assert [ln.offset for p in parts for ln in p.log_lines] == [i for i in range(100)]
    assert [t.task_id for p in parts for t in p.tasks] == [f"{i:02x}" for i in range(10)]
    (drop,) = [d for p in parts for d in p.drops]
    assert (drop.source, drop.reason, drop.count) == ("logs", OVERSIZE_REASON, 1)
    assert drop.bytes > 20_000
    small = Batch(created_at=1.0)
    small.log_lines.add(file_id="n:f", text=b"z")
    assert split_batch(small) == [small]


def test_an_object_table_over_its_share_keeps_its_largest_objects_and_reports_the_rest() -> None:
    snap = ObjectSnapshot(ts=5.0)
    n = OBJECTS_BYTES // 100 + 1000  # rows of ~115 bytes: over the share
    snap.refs.extend(ObjectRef(object_id=f"{i:056x}", node_ip="10.0.0.1", pid=7, worker_type="Driver",
                               call_site="disabled", task_status="-", attempt=1, object_size=i,
                               reference_type="LOCAL_REFERENCE") for i in range(n))
    assert snap.ByteSize() > OBJECTS_BYTES
    buf = VolatileBuffer()
    buf.add(objects=snap)
    (drop,) = buf.take_drop_reports()
    assert (drop.source, drop.reason) == ("objects", OBJECTS_CUT_REASON)
    sent = Batch(seq=1)
    sent.log_lines.add(file_id="n:f", text=b"x" * (SPOOLED_BATCH_BYTES - 1000))
    buf.attach(sent)
    kept = [r.object_size for r in sent.objects.refs]
    assert len(kept) + drop.count == n and drop.count > 0
    assert sorted(kept, reverse=True) == list(range(n - 1, n - 1 - len(kept), -1))  # the largest
    assert sent.ByteSize() <= MAX_MESSAGE_BYTES
    assert drop.detail.startswith(f"{len(kept)} of {n} refs shipped")


def test_samples_that_do_not_fit_beside_a_full_batch_wait_for_the_next() -> None:
    buf = VolatileBuffer(max_samples=10**6)
    for i in range(200_000):
        buf.add(store=ObjectStoreSample(
            ts=float(i), used_bytes=i, capacity_bytes=10**12))
    full = Batch(seq=1)
    full.log_lines.add(file_id="n:f", text=b"x" * (MAX_MESSAGE_BYTES - (1 << 20)))
    buf.attach(full)
    assert full.ByteSize() <= MAX_MESSAGE_BYTES and 0 < len(full.object_store) < 200_000
    nxt = Batch(seq=2)
    buf.attach(nxt)
    assert [s.ts for s in full.object_store] + [s.ts for s in nxt.object_store] == [float(i) for i in range(200_000)]


def test_a_long_json_line_keeps_its_fields_with_its_long_strings_cut() -> None:
    event = {"event_data": {"task_id": "abc", "profile_events": {"events": [
        {"extra_data": json.dumps({"value": "huge:" + "é\\\"\u0001" * 100_000})}]},
        "state_updates": {"state_ts_ns": {"8": "17"}, "worker_pid": 42}}, "source_type": "EXPORT_TASK"}
    line = json.dumps(event).encode()
    cut = cut_long_strings(lambda at, n: line[at:at + n], 0, len(line), keep=1000, limit=10_000)
    assert cut is not None and cut.strings_cut == 1
    got = json.loads(cut.text)
    assert got["event_data"]["state_updates"] == event["event_data"]["state_updates"]
    extra = got["event_data"]["profile_events"]["events"][0]["extra_data"]
    assert extra.startswith('{"value": "huge:') and extra.endswith("bytes cut]")
    assert cut_long_strings(lambda at, n: line[at:at + n], 0, len(line), keep=1000, limit=500) is None  # still too big
    torn = line[: len(line) // 2]
    assert cut_long_strings(lambda at, n: torn[at:at + n], 0, len(torn), keep=1000, limit=10_000) is None
