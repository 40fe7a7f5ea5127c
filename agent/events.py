"""Ray's export-event files (`<session>/logs/export_events/*.log`) into wire events.

Same tailer as the logs, so rotation, restarts and over-long lines behave the same; each
line is decoded by `rayscope.runtime.export_events`. A malformed line is counted and
reported as a DropReport; the stream goes on.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from rayscope.agent.logs.tailer import Checkpoint, Tailer
from rayscope.runtime import export_events
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent, DropReport, JobEvent, NodeEvent, TaskEvent

log = logging.getLogger(__name__)


@dataclass
class EventPoll:
    tasks: list[TaskEvent] = field(default_factory=list)
    actors: list[ActorEvent] = field(default_factory=list)
    nodes: list[NodeEvent] = field(default_factory=list)
    jobs: list[JobEvent] = field(default_factory=list)
    drops: list[DropReport] = field(default_factory=list)
    more: bool = False

    def count(self) -> int:
        return len(self.tasks) + len(self.actors) + len(self.nodes) + len(self.jobs)


class EventSource:
    """Tails and decodes the export-event files of one session."""

    def __init__(self, session_dir: str, node_id: str, max_line: int = 8 << 20) -> None:
        self.tailer = Tailer(
            os.path.join(session_dir, "logs", "export_events"), f"{node_id}:export_events",
            accept=lambda name: name.endswith(".log"), max_line=max_line, source="events",
        )
        self.malformed = 0

    def poll(self, max_events: int = 5000, max_bytes: int = 4 << 20) -> EventPoll:
        res = self.tailer.poll(max_lines=max_events, max_bytes=max_bytes)
        out = EventPoll(drops=list(res.drops), more=res.more)
        for line in res.lines:
            if line.truncated_bytes or not line.text.strip():
                continue  # the tailer already reported the cut; half a JSON object is useless
            try:
                ev = export_events.decode_line(line.text)
            except export_events.MalformedEvent as e:
                self.malformed += 1
                out.drops.append(self._malformed(line.file_id, line.offset, str(e)))
                continue
            if isinstance(ev, TaskEvent):
                out.tasks.append(ev)
            elif isinstance(ev, ActorEvent):
                out.actors.append(ev)
            elif isinstance(ev, NodeEvent):
                out.nodes.append(ev)
            elif isinstance(ev, JobEvent):
                out.jobs.append(ev)
        return out

    def _malformed(self, file_id: str, offset: int, reason: str) -> DropReport:
        path = file_id.split(":", 1)[1] if ":" in file_id else file_id
        return DropReport(
            source="events", reason=f"malformed export event: {reason}", count=1, detail=f"{path}:{offset}", ts=time.time()
        )

    def checkpoint(self) -> list[Checkpoint]:
        return self.tailer.checkpoint()

    def restore(self, cps: list[Checkpoint]) -> None:
        self.tailer.restore(cps)

    def close(self) -> None:
        self.tailer.close()
