"""Test helpers: start a real head process (`python -m rayscope.dashboard`) and speak its wire.

    with running_head() as head:            # free ports, temp DB, temp token
        head.http_url, head.grpc_address, head.token
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello(agent_id="a1", node_id="ab" * 28)   # -> last committed seq
            c.send(pb.Batch(seq=1, ...))                 # -> acked seq
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import grpc
import httpx

from polling import die_with_parent, wait_for
from rayscope.runtime.ray_enums import TASK_STATUS
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import STREAM, method_path
from rayscope.wire.limits import grpc_options

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


@dataclass
class HeadProcess:
    http_url: str
    grpc_address: Optional[str]
    token: str
    db_path: Path
    token_file: Path
    proc: subprocess.Popen
    workdir: Path
    log_path: Path

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.http_url, headers={"Authorization": f"Bearer {self.token}"},
                            timeout=30, **kw)

    def get(self, path: str, **params) -> httpx.Response:
        with self.client() as c:
            return c.get("/api/v1" + path, params=params)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_head(workdir: Optional[Path] = None, db_path: Optional[Path] = None, history: bool = False,
               extra_args: Sequence[str] = (), token: str = "test-token-0123456789",
               timeout: float = 60.0) -> HeadProcess:
    """Start the head on free ports; waits for its ready file. The caller must stop() it."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="rs-head-", dir="/tmp"))
    db_path = db_path or workdir / "head.db"
    token_file = workdir / "token"
    if not token_file.exists():
        token_file.write_text(token + "\n")
        os.chmod(token_file, 0o600)
    ready = workdir / f"ready-{time.monotonic_ns()}.json"
    log_path = workdir / "head.log"
    cmd = [PYTHON, "-m", "rayscope.dashboard", "--db", str(db_path), "--token-file", str(token_file),
           "--port", "0", "--grpc-port", "0", "--ready-file", str(ready), *extra_args]
    if history:
        cmd.append("--history")
    logf = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=die_with_parent)
    logf.close()
    def is_ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"head exited with {proc.returncode}: {log_path.read_text(errors='replace')}")
        return ready.exists()

    try:
        wait_for("the head's ready file", is_ready, timeout, every=0.05,
                 context=lambda: log_path.read_text(errors="replace"))
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    info = json.loads(ready.read_text())
    return HeadProcess(http_url=info["http_url"], grpc_address=info["grpc_address"],
                       token=token_file.read_text().strip(), db_path=db_path, token_file=token_file,
                       proc=proc, workdir=workdir, log_path=log_path)


@contextlib.contextmanager
def running_head(**kw) -> Iterator[HeadProcess]:
    head = start_head(**kw)
    try:
        yield head
    finally:
        head.stop()
        if "workdir" not in kw:
            shutil.rmtree(head.workdir, ignore_errors=True)


_END = object()


@dataclass
class IngestClient:
    """A synchronous client of Ingest/Stream: one stream, messages sent one at a time."""

    address: str
    token: Optional[str]
    _requests: "queue.Queue" = field(default_factory=queue.Queue)
    _channel: Optional[grpc.Channel] = None
    _responses: Optional[Iterator[pb.HeadMessage]] = None

    def __enter__(self) -> "IngestClient":
        self._channel = grpc.insecure_channel(self.address, options=grpc_options())
        call = self._channel.stream_stream(method_path(STREAM),
                                           request_serializer=pb.AgentMessage.SerializeToString,
                                           response_deserializer=pb.HeadMessage.FromString)
        md = [("authorization", f"Bearer {self.token}")] if self.token is not None else []
        self._responses = call(self._iter(), metadata=md, timeout=120)
        return self

    def _iter(self):
        while True:
            item = self._requests.get()
            if item is _END:
                return
            yield item

    def __exit__(self, *exc) -> None:
        self._requests.put(_END)
        if self._responses is not None:
            with contextlib.suppress(grpc.RpcError):
                for _ in self._responses:
                    pass
        if self._channel is not None:
            self._channel.close()

    def hello(self, agent_id: str, node_id: str, **kw) -> int:
        self._requests.put(pb.AgentMessage(hello=pb.AgentHello(agent_id=agent_id, node_id=node_id, **kw)))
        return next(self._responses).hello_ack.last_committed_seq

    def send(self, batch: pb.Batch) -> int:
        self._requests.put(pb.AgentMessage(batch=batch))
        return next(self._responses).ack.seq


# ---------------------------------------------------------------- wire builders for tests

NS = 1_000_000_000
STATUS = TASK_STATUS  # Ray TaskStatus name -> number


def task_event(task_id: str, job_id: str = "01000000", attempt: int = 0, states: Optional[dict] = None,
               **fields) -> pb.TaskEvent:
    """A TaskEvent delta; `states` maps state names to unix seconds."""
    ev = pb.TaskEvent(task_id=task_id, attempt=attempt, job_id=job_id, event_time=time.time(), **fields)
    for name, sec in (states or {}).items():
        ev.state_ts_ns[STATUS[name]] = int(sec * NS)
    return ev


def log_file(file_id: str, node_id: str, path: str, kind: int = pb.LOG_WORKER_STDOUT, **fields) -> pb.LogFile:
    return pb.LogFile(file_id=file_id, node_id=node_id, path=path, kind=kind, **fields)


def log_lines(file_id: str, texts: Sequence[str], start_offset: int = 0, generation: int = 0) -> list[pb.LogLine]:
    """Consecutive lines of one file, with byte offsets as a tailer would compute them."""
    out, off = [], start_offset
    for t in texts:
        raw = t.encode()
        out.append(pb.LogLine(file_id=file_id, offset=off, generation=generation, text=raw, read_at=time.time()))
        off += len(raw) + 1
    return out
