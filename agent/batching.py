"""Spooled batches under the wire's limit: the one place that sizes a batch before it is spooled.

Why: the head refuses a message over `MAX_MESSAGE_BYTES`, and a spooled batch it refuses would be
resent forever while every batch behind it waits. The tailers' budgets are estimates (a line's
bytes plus a guess at its framing), so the batch is measured (`ByteSize()`) and, when over
`SPOOLED_BATCH_BYTES`, split into several, in item order. An item that cannot fit in a batch on
its own (none should: lines and events are cut to `MAX_ITEM_BYTES` when read) is dropped and
reported, never sent.
"""
from __future__ import annotations

import time

from rayscope.wire.limits import SPOOLED_BATCH_BYTES
from rayscope.wire.rayscope_ingest_pb2 import Batch, DropReport

# The spooled fields of a Batch, in the order their items are laid out when it is split: a
# log file's description goes before (or with) its lines. The samples and snapshots are not
# spooled (agent/volatile.py attaches them when a batch is sent).
SPOOLED_FIELDS: tuple[tuple[str, str], ...] = (
    ("log_files", "logs"), ("log_lines", "logs"), ("tasks", "events"), ("actors", "events"),
    ("nodes", "events"), ("jobs", "events"), ("workers", "events"), ("submission_jobs", "events"),
    ("train_runs", "events"), ("train_run_attempts", "events"),
    ("datasets", "events"), ("dataset_schemas", "events"), ("dataset_issues", "events"),
    ("dataset_progress", "events"),
    ("serve_status", "serve"), ("drops", "batch"),
)
ITEM_FRAMING = 6  # a repeated field's tag and length prefix (up to 5 bytes for a length < 2**28)
OVERSIZE_REASON = "item over the wire's batch limit dropped"


def split_batch(batch: Batch, max_bytes: int = SPOOLED_BATCH_BYTES) -> list[Batch]:
    """`batch` itself when it fits, else its items in order over as many batches as they need."""
    if batch.ByteSize() <= max_bytes:
        return [batch]
    empty = Batch(created_at=batch.created_at).ByteSize()
    parts: list[Batch] = []
    oversize: dict[str, list[int]] = {}  # source -> [items, bytes]
    current, size = Batch(created_at=batch.created_at), empty
    for name, source in SPOOLED_FIELDS:
        for item in getattr(batch, name):
            n = item.ByteSize() + ITEM_FRAMING
            if empty + n > max_bytes:
                tally = oversize.setdefault(source, [0, 0])
                tally[0] += 1
                tally[1] += n
                continue
            if size + n > max_bytes:
                parts.append(current)
                current, size = Batch(created_at=batch.created_at), empty
            getattr(current, name).append(item)
            size += n
    now = time.time()
    for source, (count, nbytes) in sorted(oversize.items()):
        report = DropReport(source=source, reason=OVERSIZE_REASON, count=count, bytes=nbytes, ts=now,
                            detail=f"{count} item(s) over {max_bytes} bytes each")
        if size + report.ByteSize() + ITEM_FRAMING > max_bytes:
            parts.append(current)
            current, size = Batch(created_at=batch.created_at), empty
        current.drops.append(report)
        size += report.ByteSize() + ITEM_FRAMING
    parts.append(current)
    return parts
