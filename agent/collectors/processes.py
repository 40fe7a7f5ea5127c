"""Snapshot every Ray process of this node, cheaply enough to run every second.

Workers are the raylet's descendants; drivers are found by their core-driver log files;
GCS and the dashboard by a session-dir match on their command line (a full process scan,
done only every `rescan_s`). psutil.Process objects are cached so cpu_percent is a delta.

Per-tick fields come from two raw /proc reads per process rather than psutil (5x cheaper),
through descriptors kept open: opening a /proc path costs ~3x the read itself, and a kept
descriptor fails with ESRCH once its process is gone, so a reused pid cannot answer for the
old one. USS is the expensive field (the kernel walks page tables for smaps_rollup: 2-3 ms
of CPU per busy worker, against ~30 us for the per-tick reads), so it is re-read only when
the RSS moved (10%, at least 8 MiB; at most every `uss_min_s`) or after ~`uss_every_s`,
jittered. All figures measured on a node with 20 busy workers.
"""
from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Optional

import psutil

from rayscope.runtime.log_names import parse_core_log, parse_worker_log
from rayscope.runtime.node_identity import NodeIdentity
from rayscope.wire.rayscope_ingest_pb2 import ProcessSnapshot, RayProcess

log = logging.getLogger(__name__)

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


class _ProcFiles:
    """/proc/<pid>/{stat,cmdline}, kept open and re-read with pread (or reopened when not `keep_open`)."""

    def __init__(self, pid: int | str, keep_open: bool) -> None:
        self.pid = pid  # or "<pid>/task/<tid>"
        self.keep_open = keep_open
        self._fds: dict[str, int] = {}

    def read(self, name: str, size: int) -> bytes:
        """The file's first `size` bytes; FileNotFoundError/ProcessLookupError when the process is gone."""
        if not self.keep_open:
            with open(f"/proc/{self.pid}/{name}", "rb") as f:
                return f.read(size)
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(f"/proc/{self.pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(fd, size, 0)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


@dataclass
class _Cached:
    proc: psutil.Process
    files: _ProcFiles
    uss: int = 0
    num_fds: int = 0
    slow_at: float = 0.0  # when USS is next due at the latest
    uss_rss: int = -1  # the RSS when USS was last read
    uss_at: float = 0.0
    fds_at: float = 0.0  # when the fd count is next due
    cpu_ticks: int = 0
    cpu_at: float = 0.0
    start_ticks: int = 0


_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_BOOT_TIME = psutil.boot_time()


@dataclass
class _ProcStat:
    ppid: int
    cpu_ticks: int
    num_threads: int
    start_ticks: int
    rss_pages: int
    comm: str
    cmdline: list[str]


def _read_proc(files: _ProcFiles) -> Optional[_ProcStat]:
    """Per-tick fields from two /proc reads (psutil needs four and much more Python)."""
    try:
        stat = files.read("stat", 4096)
        raw = files.read("cmdline", 8192)
    except (FileNotFoundError, ProcessLookupError):
        return None
    lp, rp = stat.index(b"("), stat.rindex(b")")
    fields = stat[rp + 2 :].split()  # fields[0] is the state (field 3 of proc(5))
    # setproctitle pads Ray's titles with hundreds of NULs: strip them before splitting
    cmdline = [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0") if a]
    return _ProcStat(
        ppid=int(fields[1]), cpu_ticks=int(fields[11]) + int(fields[12]), num_threads=int(fields[17]),
        start_ticks=int(fields[19]), rss_pages=int(fields[21]), comm=stat[lp + 1 : rp].decode(errors="replace"),
        cmdline=cmdline,
    )


@dataclass
class ProcessCollector:
    ident: NodeIdentity
    # USS reads smaps_rollup: 2-3 ms of CPU per busy worker. With 28 processes a 60 s refresh
    # was ~1.2 ms/s, half the agent's target budget, so stable processes refresh every ~5 min
    # and a moving one when its RSS moved by 10% (at least 8 MiB; a busy worker's RSS wanders
    # by a few MiB), at most every `uss_min_s`.
    uss_every_s: float = 300.0
    uss_min_s: float = 10.0
    uss_rss_change: float = 0.10
    uss_rss_floor: int = 8 << 20
    fds_every_s: float = 20.0
    rescan_s: float = 10.0
    cmdline_max: int = 512
    max_kept_open: int = 256  # processes whose /proc files stay open (two descriptors each)
    _cache: dict[int, _Cached] = field(default_factory=dict)
    _session_procs: dict[int, str] = field(default_factory=dict)  # pid -> role (gcs, dashboard, other)
    _rescanned_at: float = 0.0
    _logs_mtime: float = -1.0
    _from_logs: dict[int, WorkerInfo] = field(default_factory=dict)
    _drivers: set[int] = field(default_factory=set)
    _deep_pids: Optional[list[int]] = None
    _deep_at: float = 0.0
    _verdicts: dict[tuple[int, int], Optional[str]] = field(default_factory=dict)  # (pid, start) -> role
    _ppids: dict[int, int] = field(default_factory=dict)  # from the last full /proc walk
    _spawners: dict[str, _ProcFiles] = field(default_factory=dict)  # raylet threads that have children
    _spawners_at: float = -1.0
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
            for pid in self._descendants(raylet):
                roles.setdefault(pid, "worker")
        for pid in self._drivers:
            roles.setdefault(pid, "driver")
        roles.pop(os.getpid(), None)
        snap = ProcessSnapshot(ts=now)
        for pid, role in sorted(roles.items()):
            row = self._row(pid, role, now)
            if row is not None:
                snap.processes.append(row)
        for pid in set(self._cache) - set(roles):
            self._forget(pid)
        return snap

    def close(self) -> None:
        self._close_spawners()
        for pid in list(self._cache):
            self._forget(pid)

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
            w = parse_worker_log(name)
            if w:
                if w.stream != "out":  # the .err twin says the same
                    continue
                prev = info.get(w.pid)
                job = w.job_id or (prev.job_id if prev else None)
                info[w.pid] = WorkerInfo(w.worker_id, job)
                continue
            c = parse_core_log(name)
            if c and not c.is_driver:
                info.setdefault(c.pid, WorkerInfo(c.worker_id))
            elif c:
                info[c.pid] = WorkerInfo(c.worker_id, c.job_id)
                drivers.add(c.pid)
        self._from_logs = info
        self._drivers = {pid for pid in drivers if psutil.pid_exists(pid)}

    def _rescan(self) -> None:
        """GCS, dashboard and monitors: processes whose command line names our session.

        One raw walk of /proc (psutil's process_iter + cmdline costs ~10x more): the stat of
        every pid (its parent, for the raylet's deeper descendants) and the command line only
        of pids not seen before (a (pid, start time) verdict is cached)."""
        found: dict[int, str] = {}
        ppids: dict[int, int] = {}
        verdicts: dict[tuple[int, int], Optional[str]] = {}
        me, raylet, now = os.getpid(), self.ident.raylet_pid, time.time()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    stat = f.read()
                fields = stat[stat.rindex(b")") + 2 :].split()
                ppid, start = int(fields[1]), int(fields[19])
            except (OSError, ValueError, IndexError):
                continue
            ppids[pid] = ppid
            key = (pid, start)
            if key in self._verdicts:
                role = self._verdicts[key]
            else:
                role = None if pid == raylet or pid == me else self._classify(pid)
            if now - (_BOOT_TIME + start / _CLK_TCK) > 5.0:
                verdicts[key] = role  # a younger one may still exec into its real command line
            if role is not None:
                found[pid] = role
        self._verdicts = verdicts
        self._ppids = ppids
        self._session_procs = found

    def _classify(self, pid: int) -> Optional[str]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            return None
        if self.ident.session_dir.encode() not in raw:
            return None
        cmd = " ".join(a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0"))
        if f"--log_dir={self.logs_dir}" in cmd and "gcs_server" in cmd:
            return "gcs_server"
        if "dashboard/dashboard.py" in cmd:
            return "dashboard"
        if "rayscope.agent" in cmd or "rayscope.dashboard" in cmd:
            return None
        if "monitor.py" in cmd:
            return "other"
        return None

    def _deep_from_walk(self, root: int) -> list[int]:
        """All descendants of `root` by the parent pids of the last /proc walk."""
        children: dict[int, list[int]] = {}
        for pid, ppid in self._ppids.items():
            children.setdefault(ppid, []).append(pid)
        out: list[int] = []
        todo = list(children.get(root, ()))
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, ()))
        return out

    def _descendants(self, root: psutil.Process) -> list[int]:
        """The raylet's children every tick; deeper descendants (a task's own subprocesses) from
        the /proc walk of `_rescan` (or psutil's full scan), every `rescan_s`."""
        direct = self._raylet_children(root.pid)
        if direct is not None and self._ppids and self._deep_at != self._rescanned_at:
            self._deep_pids = self._deep_from_walk(root.pid)  # the walk _rescan just did
            self._deep_at = self._rescanned_at
        elif direct is None or self._deep_pids is None or time.time() - self._deep_at > self.rescan_s:
            try:
                self._deep_pids = [c.pid for c in root.children(recursive=True)]
            except psutil.Error:
                self._deep_pids = []
            self._deep_at = time.time()
        known = set(direct or ())
        return list(dict.fromkeys((direct or []) + [p for p in self._deep_pids if p in known or psutil.pid_exists(p)]))

    def _raylet_children(self, raylet: int) -> Optional[list[int]]:
        """From /proc/<raylet>/task/<tid>/children (None: kernel without CONFIG_PROC_CHILDREN, or
        the raylet is gone). Every thread is read at each rescan; in between only the threads that
        had children then (the raylet spawns workers from one thread: 1 read instead of ~33)."""
        if self._spawners_at != self._rescanned_at or not self._spawners:
            return self._read_all_children(raylet)
        direct: list[int] = []
        for files in self._spawners.values():
            try:
                direct.extend(int(k) for k in files.read("children", 1 << 16).split())
            except (FileNotFoundError, ProcessLookupError):
                return self._read_all_children(raylet)
        # An ended thread reads as empty: with no children left, ask every thread again.
        return direct or self._read_all_children(raylet)

    def _read_all_children(self, raylet: int) -> Optional[list[int]]:
        self._close_spawners()
        self._spawners_at = self._rescanned_at
        direct: list[int] = []
        try:
            for tid in os.listdir(f"/proc/{raylet}/task"):
                files = _ProcFiles(f"{raylet}/task/{tid}", keep_open=True)
                try:
                    kids = files.read("children", 1 << 16).split()
                except (FileNotFoundError, ProcessLookupError):
                    files.close()
                    continue  # a thread that just ended
                if kids:
                    self._spawners[tid] = files
                    direct.extend(int(k) for k in kids)
                else:
                    files.close()
        except FileNotFoundError:
            return None
        return direct

    def _close_spawners(self) -> None:
        for files in self._spawners.values():
            files.close()
        self._spawners.clear()

    def _proc(self, pid: int) -> Optional[psutil.Process]:
        c = self._cache.get(pid)
        if c is None:
            try:
                keep = sum(other.files.keep_open for other in self._cache.values()) < self.max_kept_open
                c = _Cached(psutil.Process(pid), _ProcFiles(pid, keep))
            except psutil.Error:
                return None
            self._cache[pid] = c
        return c.proc

    def _forget(self, pid: int) -> None:
        c = self._cache.pop(pid, None)
        if c is not None:
            c.files.close()

    # ------------------------------------------------------------------ one row
    def _row(self, pid: int, role: str, now: float) -> Optional[RayProcess]:
        proc = self._proc(pid)
        if proc is None:
            return None
        c = self._cache[pid]
        try:
            fast = _read_proc(c.files)
            if fast is None or (c.start_ticks and fast.start_ticks != c.start_ticks):
                raise psutil.NoSuchProcess(pid)  # gone, or the pid was reused
            cmd = fast.cmdline
            title = cmd[0] if cmd and cmd[0].startswith("ray::") else fast.comm
            cpu = 0.0
            if c.cpu_at:
                cpu = (fast.cpu_ticks - c.cpu_ticks) / _CLK_TCK / max(now - c.cpu_at, 1e-3) * 100.0
            c.cpu_ticks, c.cpu_at, c.start_ticks = fast.cpu_ticks, now, fast.start_ticks
            row = RayProcess(
                pid=pid, ppid=fast.ppid, role=role,
                cmdline=" ".join(a for a in cmd if a)[: self.cmdline_max], title=title,
                cpu_percent=cpu, rss=fast.rss_pages * _PAGE, num_threads=fast.num_threads,
                create_time=_BOOT_TIME + fast.start_ticks / _CLK_TCK,
            )
            rss = fast.rss_pages * _PAGE
            moved = abs(rss - c.uss_rss) > max(self.uss_rss_floor, self.uss_rss_change * rss)
            if now >= c.slow_at or (moved and now - c.uss_at >= self.uss_min_s):
                # jittered so the refreshes of many workers spread over the period
                c.uss, c.uss_rss, c.uss_at = proc.memory_full_info().uss, rss, now
                c.slow_at = now + self.uss_every_s * random.uniform(0.75, 1.25)
            if now >= c.fds_at:
                c.num_fds = proc.num_fds()
                c.fds_at = now + self.fds_every_s * random.uniform(0.75, 1.25)
            row.uss, row.num_fds = c.uss, c.num_fds
        except psutil.AccessDenied:
            return None
        except psutil.Error:
            self._forget(pid)
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
