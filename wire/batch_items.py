"""How many items a Batch carries, by kind: the one count for the agent and the head.

Why here: the head sizes its transactions by it, counts a batch it could not apply as that many
dropped items, and the agent's spool counts a batch it drops over budget the same way; each had
its own sum over a different set of fields.
"""
from __future__ import annotations

from dataclasses import dataclass

from rayscope.wire.rayscope_ingest_pb2 import Batch

__all__ = ["BatchItems", "batch_items"]


@dataclass(frozen=True)
class BatchItems:
    events: int  # Ray lifecycle deltas: tasks, actors, nodes, jobs, workers, submitted jobs, Ray Data, Train, Serve documents
    lines: int  # log lines
    samples: int  # node and object-store samples, application-metrics scrapes
    snapshots: int  # the process and object-reference snapshots (0, 1 or 2)

    @property
    def total(self) -> int:
        return self.events + self.lines + self.samples + self.snapshots


def batch_items(batch: Batch) -> BatchItems:
    """Counts of what `batch` carries (its DropReports are reports, not items)."""
    return BatchItems(
        events=(len(batch.tasks) + len(batch.actors) + len(batch.nodes) + len(batch.jobs) + len(batch.workers)
                + len(batch.submission_jobs) + len(batch.train_runs) + len(batch.train_run_attempts)
                + len(batch.datasets) + len(batch.dataset_schemas) + len(batch.dataset_issues)
                + len(batch.dataset_progress) + len(batch.serve_status)),
        lines=len(batch.log_lines),
        samples=(len(batch.node_samples) + len(batch.object_store) + len(batch.app_metrics)
                 + len(batch.serve_metrics) + len(batch.data_metrics)),
        snapshots=int(batch.HasField("processes")) + int(batch.HasField("objects")),
    )
