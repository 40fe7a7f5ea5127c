"""One count of a batch's items (wire/batch_items.py): what the head reports when it cannot apply a
batch. (The agent's spool uses the same count: test_agent_spool.py, over-budget tests.)"""
from __future__ import annotations

from pathlib import Path

from rayscope.dashboard.store.apply_batch import skip_batch
from rayscope.dashboard.store.connection import open_writer
from rayscope.wire import rayscope_ingest_pb2 as pb


def test_a_batch_the_head_cannot_apply_is_counted_whole(tmp_path: Path) -> None:
    conn = open_writer(tmp_path / "head.db")
    b = pb.Batch(seq=9, tasks=[pb.TaskEvent(task_id="aa")] * 2, actors=[pb.ActorEvent(actor_id="bb")],
                 nodes=[pb.NodeEvent(node_id="cc")], jobs=[pb.JobEvent(job_id="01000000")],
                 log_lines=[pb.LogLine(file_id="f", text=b"x")] * 3, node_samples=[pb.NodeSample(ts=1.0)],
                 object_store=[pb.ObjectStoreSample(ts=1.0)], processes=pb.ProcessSnapshot(ts=1.0))
    skip_batch(conn, "n@s", "n", b, "boom")
    row = conn.execute("SELECT count, bytes, last_detail FROM drops WHERE source = 'batch'").fetchone()
    # 2 tasks + 1 actor + 1 node + 1 job + 3 lines + 2 samples + 1 process snapshot
    assert tuple(row) == (11, b.ByteSize(), "seq 9: boom")
