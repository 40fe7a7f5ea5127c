"""Ray's export-event files (`<session>/logs/export_events/*.log`) into wire events.

Same tailer as the logs, so rotation, restarts and over-long lines behave the same; each
line is decoded by `rayscope.runtime.export_events`. A malformed line is counted and
reported as a DropReport; the stream goes on. So are lines of a source type that is not
decoded, under two reasons: the Ray libraries' sources, ignored by design for now
(`export_events.IGNORED_SOURCES`; submitted jobs and Train runs are read), and source types this decoder does not know (a newer Ray).

A line over `MAX_ITEM_BYTES` (wire/limits.py) keeps its event: its long strings are cut to
`KEEP_STRING_BYTES` with a marker (agent/long_json.py) and the cut is reported
(`SHRUNK_REASON`). Only a line that is still too big, or not JSON, is dropped whole (reported
by the tailer as a cut line).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Optional

from rayscope.agent.logs.tailer import Checkpoint, LineReader, Shrunk, Tailer
from rayscope.agent.long_json import cut_long_strings
from rayscope.runtime import export_events
from rayscope.wire.limits import MAX_ITEM_BYTES
from rayscope.wire.rayscope_ingest_pb2 import (
    ActorEvent,
    DatasetEvent,
    DatasetIssue,
    DatasetOperatorSchema,
    DatasetProgress,
    DropReport,
    JobEvent,
    NodeEvent,
    SubmissionJobEvent,
    TaskEvent,
    TrainRunAttemptEvent,
    TrainRunEvent,
)

log = logging.getLogger(__name__)

IGNORED_REASON = "export event ignored by design (Ray library source, not read yet)"
UNKNOWN_REASON = "export event of an unknown source_type"
SHRUNK_REASON = f"export event over {MAX_ITEM_BYTES} bytes: its long strings cut"
KEEP_STRING_BYTES = 64 << 10


def shrink_event_line(read: LineReader, start: int, end: int) -> Optional[Shrunk]:
    """The over-long line at [start, end) with its long strings cut, if that makes it fit."""
    cut = cut_long_strings(read, start, end, keep=KEEP_STRING_BYTES, limit=MAX_ITEM_BYTES)
    return Shrunk(cut.text, SHRUNK_REASON) if cut is not None else None


# Each decoded event's list in an EventPoll, named like its Batch field (agent/main.py copies them
# by these names): the one table of which message goes where.
EVENT_LISTS: dict[type, str] = {
    TaskEvent: "tasks", ActorEvent: "actors", NodeEvent: "nodes", JobEvent: "jobs",
    SubmissionJobEvent: "submission_jobs", TrainRunEvent: "train_runs", TrainRunAttemptEvent: "train_run_attempts",
    DatasetEvent: "datasets", DatasetOperatorSchema: "dataset_schemas", DatasetIssue: "dataset_issues",
    DatasetProgress: "dataset_progress",
}


@dataclass
class EventPoll:
    tasks: list[TaskEvent] = field(default_factory=list)
    actors: list[ActorEvent] = field(default_factory=list)
    nodes: list[NodeEvent] = field(default_factory=list)
    jobs: list[JobEvent] = field(default_factory=list)
    submission_jobs: list[SubmissionJobEvent] = field(default_factory=list)
    train_runs: list[TrainRunEvent] = field(default_factory=list)
    train_run_attempts: list[TrainRunAttemptEvent] = field(default_factory=list)
    datasets: list[DatasetEvent] = field(default_factory=list)
    dataset_schemas: list[DatasetOperatorSchema] = field(default_factory=list)
    dataset_issues: list[DatasetIssue] = field(default_factory=list)
    dataset_progress: list[DatasetProgress] = field(default_factory=list)
    drops: list[DropReport] = field(default_factory=list)
    more: bool = False

    def count(self) -> int:
        return sum(len(getattr(self, name)) for name in EVENT_LISTS.values())


class EventSource:
    """Tails and decodes the export-event files of one session."""

    def __init__(self, session_dir: str, node_id: str, max_line: int = MAX_ITEM_BYTES) -> None:
        self.tailer = Tailer(
            os.path.join(session_dir, "logs", "export_events"), f"{node_id}:export_events",
            accept=lambda name: name.endswith(".log"), max_line=max_line, source="events",
            shrink=shrink_event_line,
        )
        self.malformed = 0
        self.skipped = {True: 0, False: 0}  # lines not decoded: by design (library sources) / unknown source

    def poll(self, max_events: int = 5000, max_bytes: int = 4 << 20) -> EventPoll:
        res = self.tailer.poll(max_lines=max_events, max_bytes=max_bytes)
        out = EventPoll(drops=list(res.drops), more=res.more)
        skipped: dict[tuple[bool, str], list[int]] = {}  # (by design, source type) -> [lines, bytes]
        for line in res.lines:
            if not line.text.strip():
                continue
            try:
                ev = export_events.decode(line.text)
            except export_events.MalformedEvent as e:
                if line.truncated_bytes:
                    continue  # the head of a line too big even with its strings cut: the tailer reported it
                self.malformed += 1
                out.drops.append(self._malformed(line.file_id, line.offset, str(e)))
                continue
            if isinstance(ev, export_events.Skipped):
                tally = skipped.setdefault((ev.by_design, ev.source_type), [0, 0])
                tally[0] += 1
                tally[1] += len(line.text)
            else:
                getattr(out, EVENT_LISTS[type(ev)]).append(ev)
        if skipped:
            out.drops.extend(self._skipped(skipped))
        return out

    def _skipped(self, skipped: dict[tuple[bool, str], list[int]]) -> list[DropReport]:
        """One report per reason and poll; the detail names the source types and their counts."""
        now, out = time.time(), []
        for by_design, reason in ((True, IGNORED_REASON), (False, UNKNOWN_REASON)):
            rows = sorted((src, n, b) for (d, src), (n, b) in skipped.items() if d == by_design)
            if not rows:
                continue
            count = sum(n for _, n, _ in rows)
            self.skipped[by_design] += count
            detail = ", ".join(f"{src} x{n}" for src, n, _ in rows)
            out.append(DropReport(source="events", reason=reason, count=count, bytes=sum(b for _, _, b in rows),
                                  detail=detail[:300], ts=now))
        return out

    def _malformed(self, file_id: str, offset: int, reason: str) -> DropReport:
        path = file_id.split(":", 1)[1] if ":" in file_id else file_id
        return DropReport(
            source="events", reason=f"malformed export event: {reason}", count=1, detail=f"{path}:{offset}", ts=time.time()
        )

    def checkpoint(self) -> list[Checkpoint]:
        return self.tailer.checkpoint()

    def restore(self, cps: list[Checkpoint], saved_at: Optional[float] = None) -> None:
        self.tailer.restore(cps, saved_at)

    def close(self) -> None:
        self.tailer.close()
