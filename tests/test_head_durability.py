"""What the head acks is on disk, not only in the page cache: the writer process fsyncs the WAL in
every commit before the head acks the batch (synchronous=FULL). The agents delete what was acked,
so a transaction lost in a crash of the head's host (power loss, kernel panic) would be lost for
good; a process crash alone never loses a commit either way.

Seen from outside with strace on the real writer process: the sync calls on the WAL file between
sending one batch and receiving its ack."""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import psutil

from head_process import IngestClient, running_head, task_event
from polling import read_line, wait_for, wait_or_kill
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ab" * 28
SYNC = re.compile(r"^(?:\d+ +)?(\d+\.\d+) f(?:data)?sync\(\d+<(?P<path>[^>]*)>\) = 0", re.M)


def _writer_pid(head_pid: int) -> int:
    writers = [p for p in psutil.Process(head_pid).children()
               if "rayscope.dashboard.store.writer_process" in " ".join(p.cmdline())]
    assert len(writers) == 1, writers
    return writers[0].pid


def test_the_wal_is_synced_before_a_batch_is_acked(tmp_path: Path) -> None:
    with running_head() as head:
        with IngestClient(head.grpc_address, head.token) as c:
            seq = c.hello("agent-durable", NODE)
            trace = tmp_path / "strace.txt"
            # -y: file paths for fds; -ttt: wall-clock time of each call, the clock time.time() reads
            strace = subprocess.Popen(["strace", "-f", "-y", "-ttt", "-e", "trace=fsync,fdatasync", "-o", str(trace),
                                       "-p", str(_writer_pid(head.proc.pid))],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                wait_for("strace to attach to the writer",
                         lambda: "attached" in read_line(strace.stderr, 30, "strace's 'attached' line"), timeout=30)
                sent_at = time.time()
                assert c.send(pb.Batch(seq=seq + 1, tasks=[task_event("cd" * 24, name="durable",
                                                                      states={"RUNNING": time.time()})])) == seq + 1
                acked_at = time.time()
            finally:
                strace.send_signal(signal.SIGINT)  # detaches; the writer goes on
                wait_or_kill(strace, 30)
        syncs = [(float(m.group(1)), m.group("path")) for m in SYNC.finditer(trace.read_text())]
        wal = str(head.db_path) + "-wal"
        in_commit = [t for t, path in syncs if path == wal and sent_at <= t <= acked_at]
        assert in_commit, f"no sync of {wal} between the send and the ack; syncs traced: {syncs}"
        assert head.get("/tasks/" + "cd" * 24).json()[0]["name"] == "durable"
