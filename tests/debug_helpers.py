"""Helpers for the debugger tests and the debugger benchmark: drive tests/workloads/debug_workload.py
on a real cluster, watch sessions (REST and the /ws push), open tunnels with the DAP client."""
from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import httpx

from polling import wait_for
from rayscope.dashboard.models import DebugSession, DebugTicket
from rayscope.debugger.dap import DapClient, PathMapping, tunnel_url

WORKLOAD = Path(__file__).parent / "workloads" / "debug_workload.py"


def line_of(marker: str) -> int:
    """The line of the workload marked `# @marker`."""
    for i, text in enumerate(WORKLOAD.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# @{marker}"):
            return i
    raise KeyError(marker)


@dataclass
class Head:
    http_url: str
    token: str

    def headers(self, client: str = "pytest@local") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Rayscope-Client": client}

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.http_url + "/api/v1" + path, headers=self.headers(), params=params, timeout=10)

    def post(self, path: str, client: str = "pytest@local", **params: object) -> httpx.Response:
        return httpx.post(self.http_url + "/api/v1" + path, headers=self.headers(client), params=params, timeout=10)

    def sessions(self, **params: object) -> list[DebugSession]:
        r = self.get("/debug/sessions", **params)
        r.raise_for_status()
        return [DebugSession(**row) for row in r.json()["rows"]]

    def wait_sessions(self, pred: Callable[[DebugSession], bool], count: int = 1,
                      timeout: float = 120) -> list[DebugSession]:
        def found() -> list[DebugSession]:
            matching = [s for s in self.sessions() if pred(s)]
            return matching if len(matching) >= count else []

        return wait_for(f"{count} matching debug session(s)", found, timeout, every=0.1,
                        context=lambda: f"listed: {self.sessions()}")

    def wait_gone(self, session_id: str, timeout: float = 30) -> None:
        wait_for(f"session {session_id} to be gone",
                 lambda: self.get(f"/debug/sessions/{session_id}").status_code == 404, timeout, every=0.1)

    def ticket(self, session_id: str, client: str = "pytest@local") -> DebugTicket:
        r = self.post(f"/debug/sessions/{session_id}/ticket", client=client)
        assert r.status_code == 200, r.text
        return DebugTicket(**r.json())

    def tunnel(self, ticket: DebugTicket, with_token: bool = True) -> DapClient:
        headers = {"Authorization": f"Bearer {self.token}"} if with_token else {}
        return DapClient.websocket(tunnel_url(self.http_url, ticket.tunnel_path), headers=headers)

    def attach(self, session: DebugSession, client: str = "pytest@local",
               breakpoints: Optional[dict[str, list[int]]] = None) -> DapClient:
        dap = self.tunnel(self.ticket(session.session_id, client))
        # The driver ran in this process's cwd, so the worker's cwd is this checkout's root.
        dap.attach(path_mappings=[PathMapping(os.getcwd(), session.working_dir or "")],
                   breakpoints=breakpoints)
        return dap


@dataclass
class Driver:
    """One workload scenario as a real driver process."""

    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], gcs_address: str, mode: str, node_id: str, log_dir: Path) -> "Driver":
        log = log_dir / f"driver-{mode}.log"
        proc = subprocess.Popen([sys.executable, str(WORKLOAD), mode, node_id],
                                env={**env, "RAY_ADDRESS": gcs_address},
                                stdout=log.open("w"), stderr=subprocess.STDOUT)
        return cls(proc, log)

    def result(self, timeout: float = 120) -> str:
        self.proc.wait(timeout)
        out = self.log.read_text()
        m = re.search(r"^RESULT (.*)$", out, re.M)
        assert m, f"driver printed no RESULT (rc {self.proc.returncode}):\n{out[-3000:]}"
        return m.group(1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Pushes:
    """Collects `debug_sessions` pushes from /api/v1/ws with their arrival time."""

    rows: list[tuple[float, dict]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def watch(cls, head: Head) -> "Pushes":
        from websockets.sync.client import connect

        p = cls()
        legacy = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
        ws = connect(head.http_url.replace("http://", "ws://") + "/api/v1/ws",
                     additional_headers={"Authorization": f"Bearer {head.token}"}, open_timeout=10, **legacy)

        def run() -> None:
            while not p._stop.is_set():
                try:
                    msg = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                except Exception:  # noqa: BLE001 - the socket closed
                    return
                if msg.get("kind") == "debug_sessions":
                    now = time.time()
                    p.rows.extend((now, row) for row in msg["rows"])

        threading.Thread(target=run, daemon=True).start()
        p._ws = ws  # type: ignore[attr-defined]
        return p

    def first(self, session_id: str, state: str) -> Optional[tuple[float, dict]]:
        return next(((t, r) for t, r in self.rows if r["session_id"] == session_id and r["state"] == state), None)

    def close(self) -> None:
        self._stop.set()
        self._ws.close()  # type: ignore[attr-defined]
