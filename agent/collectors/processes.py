"""Snapshot every Ray process of this node, cheaply enough to run every second.

Workers are the raylet's descendants; drivers are found by their core-driver log files;
GCS and the dashboard by a session-dir match on their command line (a full process scan,
done only every `rescan_s`). psutil.Process objects are cached so cpu_percent is a delta,
and USS (which reads smaps) is refreshed only every `uss_every_s`.
"""
from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Optional

import psutil

from rayscope.agent.node_identity import NodeIdentity
from rayscope.wire.rayscope_ingest_pb2 import ProcessSnapshot, RayProcess

log = logging.getLogger(__name__)

NIL_JOB = "ffffffff"
_WORKER_LOG = re.compile(r"^worker-([0-9a-f]+)-([0-9a-f]+)-(\d+)\.out$")
_DRIVER_LOG = re.compile(r"^python-core-driver-([0-9a-f]+)_(\d+)\.log$")
_CORE_LOG = re.compile(r"^python-core-worker-([0-9a-f]+)_(\d+)\.log$")
_AGENT_TITLES = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


@dataclass
class WorkerInfo:
    """What Ray's file names (or the raylet) say about one worker pid."""

    worker_id: Optional[str] = None
    job_id: Optional[str] = None
    is_actor: bool = False


@dataclass
class TitleInfo:
    task_name: Optional[str] = None
    actor_class: Optional[str] = None


def parse_title(title: str, is_actor: bool = False) -> TitleInfo:
    """`ray::f` -> task f; `ray::A.m` -> actor A running A.m; `ray::IDLE*` -> nothing."""
    if not title.startswith("ray::"):
        return TitleInfo()
    name = title[5:].strip()
    if not name or name.startswith("IDLE") or title in _AGENT_TITLES:
        return TitleInfo()
    if "." in name:
        return TitleInfo(task_name=name, actor_class=name.split(".", 1)[0])
    if is_actor:
        return TitleInfo(actor_class=name)
    return TitleInfo(task_name=name)


@dataclass
class _Cached:
    proc: psutil.Process
    uss: int = 0
    uss_at: float = 0.0


@dataclass
class ProcessCollector:
    ident: NodeIdentity
    uss_every_s: float = 5.0
    rescan_s: float = 10.0
    cmdline_max: int = 512
    _cache: dict[int, _Cached] = field(default_factory=dict)
    _session_procs: dict[int, str] = field(default_factory=dict)  # pid -> role (gcs, dashboard, other)
    _rescanned_at: float = 0.0
    _logs_mtime: float = -1.0
    _from_logs: dict[int, WorkerInfo] = field(default_factory=dict)
    _drivers: set[int] = field(default_factory=set)
    extra_info: dict[int, WorkerInfo] = field(default_factory=dict)  # e.g. from the raylet's node stats

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.ident.session_dir, "logs")

    def snapshot(self) -> ProcessSnapshot:
        now = time.time()
        self._refresh_logs()
        if now - self._rescanned_at > self.rescan_s:
            self._rescan()
            self._rescanned_at = now
        roles: dict[int, str] = dict(self._session_procs)
        raylet = self._proc(self.ident.raylet_pid)
        if raylet is not None:
            roles[raylet.pid] = "raylet"
            try:
                for child in raylet.children(recursive=True):
                    roles.setdefault(child.pid, "worker")
            except psutil.NoSuchProcess:
                pass
        for pid in self._drivers:
            roles.setdefault(pid, "driver")
        roles.pop(os.getpid(), None)
        snap = ProcessSnapshot(ts=now)
        for pid, role in sorted(roles.items()):
            row = self._row(pid, role, now)
            if row is not None:
                snap.processes.append(row)
        for pid in set(self._cache) - set(roles):
            del self._cache[pid]
        return snap

    # ------------------------------------------------------------------ discovery
    def _refresh_logs(self) -> None:
        """Worker ids and job ids from Ray's log file names (re-listed when the dir changes)."""
        try:
            mtime = os.stat(self.logs_dir).st_mtime
        except OSError:
            return
        if mtime == self._logs_mtime:
            return
        self._logs_mtime = mtime
        info: dict[int, WorkerInfo] = {}
        drivers: set[int] = set()
        for name in os.listdir(self.logs_dir):
            m = _WORKER_LOG.match(name)
            if m:
                prev = info.get(int(m[3]))
                job = m[2] if m[2] != NIL_JOB else (prev.job_id if prev else None)
                info[int(m[3])] = WorkerInfo(m[1], job)
                continue
            m = _CORE_LOG.match(name)
            if m:
                info.setdefault(int(m[2]), WorkerInfo(m[1]))
                continue
            m = _DRIVER_LOG.match(name)
            if m:
                info[int(m[2])] = WorkerInfo(m[1], m[1][:8])
                drivers.add(int(m[2]))
        self._from_logs = info
        self._drivers = {pid for pid in drivers if psutil.pid_exists(pid)}

    def _rescan(self) -> None:
        """GCS, dashboard and monitors: processes whose command line names our session."""
        found: dict[int, str] = {}
        sess, logs = self.ident.session_dir, self.logs_dir
        for p in psutil.process_iter(["pid", "name"]):
            try:
                cmd = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if sess not in cmd or p.pid == self.ident.raylet_pid or p.pid == os.getpid():
                continue
            if f"--log_dir={logs}" in cmd and "gcs_server" in cmd:
                found[p.pid] = "gcs_server"
            elif "dashboard/dashboard.py" in cmd:
                found[p.pid] = "dashboard"
            elif "rayscope.agent" in cmd or "rayscope.dashboard" in cmd:
                continue
            elif "monitor.py" in cmd:
                found[p.pid] = "other"
        self._session_procs = found

    def _proc(self, pid: int) -> Optional[psutil.Process]:
        c = self._cache.get(pid)
        if c is None:
            try:
                c = _Cached(psutil.Process(pid))
                c.proc.cpu_percent(None)  # prime
            except psutil.Error:
                return None
            self._cache[pid] = c
        return c.proc

    # ------------------------------------------------------------------ one row
    def _row(self, pid: int, role: str, now: float) -> Optional[RayProcess]:
        proc = self._proc(pid)
        if proc is None:
            return None
        c = self._cache[pid]
        try:
            with proc.oneshot():
                cmd = proc.cmdline()
                title = cmd[0] if cmd and cmd[0].startswith("ray::") else proc.name()
                row = RayProcess(
                    pid=pid, ppid=proc.ppid(), role=role,
                    cmdline=" ".join(a for a in cmd if a)[: self.cmdline_max], title=title,
                    cpu_percent=proc.cpu_percent(None), rss=proc.memory_info().rss,
                    num_fds=proc.num_fds(), num_threads=proc.num_threads(), create_time=proc.create_time(),
                )
                if now - c.uss_at >= self.uss_every_s:
                    c.uss, c.uss_at = proc.memory_full_info().uss, now
                row.uss = c.uss
        except psutil.AccessDenied:
            return None
        except psutil.Error:
            self._cache.pop(pid, None)
            return None
        if title in _AGENT_TITLES:
            row.role = "agent"
        info = self.extra_info.get(pid) or self._from_logs.get(pid)
        if info is not None:
            if info.worker_id:
                row.worker_id = info.worker_id
            job = info.job_id or (self._from_logs.get(pid) or WorkerInfo()).job_id
            if job:
                row.job_id = job
        ti = parse_title(title, is_actor=bool(info and info.is_actor))
        if ti.task_name:
            row.task_name = ti.task_name
        if ti.actor_class:
            row.actor_class = ti.actor_class
        return row
