"""Ray Serve's status, for the head node's agent: runs the poller subprocess while Serve lives.

Why so: Serve's status comes only from its controller actor (runtime/serve_poller.py, which needs
a Ray driver; the agent must not import Ray). The head node's agent sees every actor's export
events (GCS writes them on the head node), among them the controller's (name
`SERVE_CONTROLLER_ACTOR`, namespace `serve`): it starts the poller when the controller is alive
and stops it when the controller is dead, so a Ray-Core-only cluster never gets the process.
Whether the controller was alive is kept in the agent's state dir (`serve_controller.json`): an
agent restarted from its checkpoint does not read the controller's ALIVE event again.

The poller prints a document only when it changed; each becomes one `ServeStatusDoc` (spooled:
the head diffs them into history). Its error lines become DropReports (source `serve`), so a
slow or unreadable controller is visible on the Nodes page; a poller that exits while the
controller is still alive is reported and started again after RESTART_AFTER_S.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Iterable, Optional

from rayscope.common.atomic_file import write_atomic
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent, DropReport, ServeStatusDoc

log = logging.getLogger(__name__)

CONTROLLER_NAME = "SERVE_CONTROLLER_ACTOR"  # runtime/serve_poller.py names the same actor (no import: Ray)
CONTROLLER_NAMESPACE = "serve"
POLLER_MODULE = "rayscope.runtime.serve_poller"
SOURCE = "serve"
ERROR_REASON = "Serve controller not read"
EXIT_REASON = "Serve poller exited while the controller is alive"
RESTART_AFTER_S = 10.0
MAX_LINE_BYTES = 1 << 20
MAX_QUEUED_LINES = 8  # with MAX_LINE_BYTES, what the agent may hold; a full queue makes the poller wait


@dataclass
class ServePoll:
    docs: list[ServeStatusDoc] = field(default_factory=list)
    drops: list[DropReport] = field(default_factory=list)


class ServeStatusCollector:
    """See the module doc. `observe()` the decoded actor events, then `poll()` once per tick."""

    def __init__(self, gcs_address: str, state_dir: str, python: str = sys.executable, every_s: float = 1.0) -> None:
        self.gcs_address = gcs_address
        self.state_path = os.path.join(state_dir, "serve_controller.json")
        self.log_path = os.path.join(state_dir, "serve_poller.log")
        self.python = python
        self.every_s = every_s
        self.controller_alive = self._load()
        self.proc: Optional[subprocess.Popen[str]] = None
        self._lines: queue.Queue[Optional[str]] = queue.Queue(maxsize=MAX_QUEUED_LINES)
        self._next_start = 0.0
        self._gone_shipped = True  # nothing to close until a controller was seen alive

    # ------------------------------------------------------------------ controller liveness
    def observe(self, actors: Iterable[ActorEvent]) -> None:
        for a in actors:
            if a.name != CONTROLLER_NAME or a.ray_namespace != CONTROLLER_NAMESPACE:
                continue
            if a.state == "ALIVE" and not self.controller_alive:
                self._set_alive(True)
            elif a.state == "DEAD" and self.controller_alive:
                self._set_alive(False)

    def _set_alive(self, alive: bool) -> None:
        self.controller_alive = alive
        if alive:
            self._next_start = 0.0
            self._gone_shipped = False
        try:
            write_atomic(self.state_path, json.dumps({"alive": alive}))
        except OSError as e:  # a full disk: a restart may not know; nothing else depends on it
            log.warning("cannot write %s: %s", self.state_path, e)

    def _load(self) -> bool:
        try:
            with open(self.state_path) as f:
                return bool(json.load(f).get("alive"))
        except (OSError, ValueError, AttributeError):
            return False

    # ------------------------------------------------------------------ the subprocess
    def poll(self) -> ServePoll:
        out = ServePoll()
        self._drain(out)
        if self.controller_alive:
            self._ensure_running(out)
        elif self.proc is not None:
            self._stop()
            self._drain(out)
        if not self.controller_alive and not self._gone_shipped:
            out.docs.append(ServeStatusDoc(ts=time.time(), controller_gone=True))
            self._gone_shipped = True
        return out

    def _ensure_running(self, out: ServePoll) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            self._drain(out)
            if self.controller_alive:  # it did not see the controller die: report, retry later
                out.drops.append(DropReport(source=SOURCE, reason=EXIT_REASON, count=1, ts=time.time(),
                                            detail=f"exit code {code}; its log: {self.log_path}"))
                self._next_start = time.monotonic() + RESTART_AFTER_S
        if self.proc is None and time.monotonic() >= self._next_start:
            try:
                self._start()
            except OSError as e:  # no such interpreter, no fds, a full disk for its log: retried later
                out.drops.append(DropReport(source=SOURCE, reason="Serve poller not started", count=1,
                                            ts=time.time(), detail=str(e)[:500]))
                self._next_start = time.monotonic() + RESTART_AFTER_S

    def _start(self) -> None:
        cmd = [self.python, "-m", POLLER_MODULE, "--address", self.gcs_address, "--every", str(self.every_s)]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                                         text=True, bufsize=1)
        log.info("Serve controller alive: started the Serve poller (pid %d)", self.proc.pid)
        self._lines = queue.Queue(maxsize=MAX_QUEUED_LINES)
        assert self.proc.stdout is not None
        threading.Thread(target=_read_lines, args=(self.proc.stdout, self._lines), daemon=True,
                         name="serve-poller-out").start()

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        log.info("Serve controller dead: stopping the Serve poller (pid %d)", proc.pid)
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # the poller exits when its stdin closes
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        self._stop()

    def _drain(self, out: ServePoll) -> None:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            if line is None:
                continue
            self._take(line, out)

    def _take(self, line: str, out: ServePoll) -> None:
        try:
            msg = json.loads(line)
            ts = float(msg["ts"])
        except (ValueError, KeyError, TypeError):
            out.drops.append(DropReport(source=SOURCE, reason="Serve poller line unreadable", count=1,
                                        bytes=len(line), ts=time.time(), detail=line[:200]))
            return
        if "document" in msg:
            out.docs.append(ServeStatusDoc(ts=ts, document=json.dumps(msg["document"], separators=(",", ":"))))
        elif msg.get("gone"):
            if self.controller_alive:
                self._set_alive(False)
            out.docs.append(ServeStatusDoc(ts=ts, controller_gone=True))
            self._gone_shipped = True
        elif "error" in msg:
            out.drops.append(DropReport(source=SOURCE, reason=ERROR_REASON, count=1, ts=ts,
                                        detail=str(msg["error"])[:500]))


def _read_lines(stream: IO[str], lines: "queue.Queue[Optional[str]]") -> None:
    """The poller's stdout, line by line, until EOF; a full queue blocks the poller (backpressure)."""
    for line in stream:
        if len(line) > MAX_LINE_BYTES:
            line = line[:MAX_LINE_BYTES]
        lines.put(line)
    lines.put(None)
