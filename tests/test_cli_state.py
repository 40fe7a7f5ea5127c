"""The state CLI (`rayscope list|summary|get|logs`) against a real head process.

The head is fed over its real gRPC ingest stream with wire-protocol batches (what an agent
would send), then the CLI runs as a subprocess. Formatting helpers get plain unit tests.
"""
from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from rayscope.cli.format import Column, human_bytes, human_duration, render_table, truncate
from rayscope.dashboard.models import Task
from rayscope.wire import rayscope_ingest_pb2 as pb

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STREAM = "/rayscope.wire.Ingest/Stream"

NODE_ID = "ab" * 28
WORKER_ID = "cd" * 28
JOB_ID = "01000000"
SESSION_LOGS = "/tmp/ray/session_test/logs"
WORKER_LOG = f"worker-{WORKER_ID}-{JOB_ID}-4242.out"
FILE_ID = f"{NODE_ID}/{WORKER_LOG}"
N_SQUARE = 250  # more than one page when the CLI is told to use pages of 100
T0 = 1_700_000_000.0


def task_id(i: int) -> str:
    return f"{i:08x}" + "ee" * 16 + JOB_ID


BOOM_ID = task_id(999_999)
RETRY_ID = task_id(888_888)
ACTOR_IDS = ["a1" * 16, "a2" * 16, "a3" * 16]


# ---------------------------------------------------------------- feeding the head


class Feeder:
    """A minimal agent: one Ingest.Stream, hello, then batches acked one by one."""

    def __init__(self, grpc_address: str, token: str, node_id: str = NODE_ID) -> None:
        self._channel = grpc.insecure_channel(grpc_address)
        self._requests: queue.Queue = queue.Queue()
        call = self._channel.stream_stream(
            STREAM,
            request_serializer=pb.AgentMessage.SerializeToString,
            response_deserializer=pb.HeadMessage.FromString,
        )
        self._responses = call(self._iter_requests(), metadata=[("authorization", f"Bearer {token}")])
        hello = pb.AgentHello(agent_id=f"test-{node_id[:8]}", node_id=node_id, node_ip="127.0.0.1",
                              hostname="testhost", session_name="session_test",
                              session_dir="/tmp/ray/session_test", started_at=T0, version="test")
        self._requests.put(pb.AgentMessage(hello=hello))
        ack = next(self._responses)
        assert ack.WhichOneof("kind") == "hello_ack", ack
        self.seq = ack.hello_ack.last_committed_seq

    def _iter_requests(self) -> Iterator[pb.AgentMessage]:
        while True:
            item = self._requests.get()
            if item is None:
                return
            yield item

    def send(self, batch: pb.Batch) -> None:
        self.seq += 1
        batch.seq = self.seq
        batch.created_at = time.time()
        self._requests.put(pb.AgentMessage(batch=batch))
        ack = next(self._responses)
        assert ack.WhichOneof("kind") == "ack" and ack.ack.seq == self.seq, ack

    def close(self) -> None:
        self._requests.put(None)
        self._channel.close()


def _ns(t: float) -> int:
    return int(t * 1e9)


def _finished_task(tid: str, name: str, i: int, attempt: int = 0) -> pb.TaskEvent:
    start = T0 + i
    return pb.TaskEvent(
        task_id=tid, attempt=attempt, job_id=JOB_ID, name=name, type="NORMAL_TASK", language="PYTHON",
        node_id=NODE_ID, worker_id=WORKER_ID, worker_pid=4242,
        state_ts_ns={1: _ns(start), 8: _ns(start + 0.5), 11: _ns(start + 1.5)}, event_time=start + 1.5,
    )


TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "job.py", line 7, in boom',
    "    raise ValueError('boom went the task')",
    "ValueError: boom went the task",
]
LOG_LINES = ["starting worker", "square says hi", "boom: about to fail", *TRACEBACK, "worker idle"]


def _log_batch() -> pb.Batch:
    """One worker stdout file; the `boom` task owns the lines from 'boom: about…' to the end."""
    batch = pb.Batch()
    batch.log_files.append(pb.LogFile(file_id=FILE_ID, node_id=NODE_ID, path=WORKER_LOG,
                                      kind=pb.LOG_WORKER_STDOUT, worker_id=WORKER_ID, job_id=JOB_ID, pid=4242))
    offset = 0
    offsets = []
    for text in LOG_LINES:
        offsets.append(offset)
        batch.log_lines.append(pb.LogLine(file_id=FILE_ID, offset=offset, generation=0,
                                          text=text.encode(), read_at=T0 + 5))
        offset += len(text.encode()) + 1
    boom_start, boom_end = offsets[2], offsets[-1]
    boom = pb.TaskEvent(
        task_id=BOOM_ID, attempt=0, job_id=JOB_ID, name="boom", type="NORMAL_TASK", node_id=NODE_ID,
        worker_id=WORKER_ID, worker_pid=4242, error_type="TASK_EXECUTION_EXCEPTION",
        error_message="\n".join(TRACEBACK), stdout_file=f"{SESSION_LOGS}/{WORKER_LOG}",
        stdout_start=boom_start, stdout_end=boom_end,
        state_ts_ns={1: _ns(T0), 8: _ns(T0 + 1), 12: _ns(T0 + 2)}, event_time=T0 + 2,
    )
    batch.tasks.append(boom)
    return batch


def _lifecycle_batch() -> pb.Batch:
    batch = pb.Batch()
    batch.nodes.append(pb.NodeEvent(node_id=NODE_ID, state="ALIVE", node_ip="127.0.0.1", is_head_node=True,
                                    node_name="127.0.0.1", resources_total={"CPU": 2.0},
                                    start_time_ms=int(T0 * 1000), event_time=T0))
    batch.jobs.append(pb.JobEvent(job_id=JOB_ID, is_dead=False, driver_pid=4000, driver_ip="127.0.0.1",
                                  start_time_ms=int(T0 * 1000), entrypoint="python job.py", event_time=T0))
    for i, aid in enumerate(ACTOR_IDS):
        state = "DEAD" if i == 2 else "ALIVE"
        batch.actors.append(pb.ActorEvent(actor_id=aid, job_id=JOB_ID, state=state, class_name="Counter",
                                          pid=5000 + i, node_id=NODE_ID, event_time=T0 + i))
    for i in range(N_SQUARE):
        batch.tasks.append(_finished_task(task_id(i), "square", i))
    failed = pb.TaskEvent(task_id=RETRY_ID, attempt=0, job_id=JOB_ID, name="flaky", type="NORMAL_TASK",
                          node_id=NODE_ID, error_type="WORKER_DIED", error_message="worker died",
                          state_ts_ns={1: _ns(T0), 8: _ns(T0 + 1), 12: _ns(T0 + 2)}, event_time=T0 + 2)
    batch.tasks.append(failed)
    batch.tasks.append(_finished_task(RETRY_ID, "flaky", 3, attempt=1))
    return batch


# ---------------------------------------------------------------- formatting (no head needed)


def test_table_fits_width_dropping_low_priority_columns_and_never_cutting_ids() -> None:
    cols = [
        Column("TASK_ID", lambda r: r[0], priority=0),
        Column("NAME", lambda r: r[1], priority=1, shrink=True),
        Column("ERROR", lambda r: r[2], priority=9, shrink=True),
    ]
    rows = [("f" * 48, "a_really_long_function_name_for_the_table", "Traceback\nValueError")]
    wide = render_table(cols, rows, None)
    assert "ERROR" in wide and "Traceback ⏎ ValueError" in wide and "…" not in wide
    narrow = render_table(cols, rows, 72)
    assert all(len(line) <= 72 for line in narrow.splitlines())
    assert "ERROR" not in narrow and "f" * 48 in narrow and "…" in narrow
    tiny = render_table(cols, rows, 20)
    assert "f" * 48 in tiny and "NAME" not in tiny  # the id survives even past the width


def test_human_units() -> None:
    assert human_bytes(None) == "" and human_bytes(0) == "0 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"
    assert human_duration(0.0123) == "12ms" and human_duration(75) == "1m15s"
    assert human_duration(7260) == "2h01m" and human_duration(None) == ""
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc"
