"""Memory profiles with memray: `memray attach --duration` into a running worker, then
`transform speedscope` (the flame graph) and `stats --json` (totals and top allocations).

memray's HTML reports load their scripts from a CDN (blank on an air-gapped cluster), so they
are never made; speedscope renders the document. memray injects itself through gdb (or lldb;
`sys.remote_exec` from Python 3.14), and the injected code runs `import memray` *inside the
worker*, so memray must be installed in the worker's environment too, and ought to be the same
version as the agent's (the capture file's format). One call takes the duration plus 2-8 s
(gdb's start). Blocking; two calls on the same pid at once fail (memray tracks once per process).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Optional

from rayscope.profiling.errors import ProfilingError, ptrace_denied
from rayscope.wire import rayscope_ingest_pb2 as pb

ATTACH_TIMEOUT_S = 60.0  # gdb start, symbol load and the injection
REPORT_TIMEOUT_S = 120.0
SETTLE_S = 0.6           # the capture stopped growing this long after the duration: tracking ended
FINISH_MARGIN_S = 15.0
TOP_N = 20


def find_memray() -> Optional[str]:
    """The `memray` command of the agent's own environment, else one on PATH."""
    beside = Path(sys.executable).parent / "memray"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("memray")


def find_debugger() -> Optional[str]:
    """gdb or lldb: memray attach injects itself through one of them (below Python 3.14)."""
    return shutil.which("gdb") or shutil.which("lldb")


def _exe_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return "?"


def classify(pid: int, output: str, memray: str) -> ProfilingError:
    """memray attach's error text → a ProfilingError."""
    text = " ".join(output.split())
    if "ModuleNotFoundError" in text and "memray" in text:
        return ProfilingError("memray_missing", f"memray is not installed in the worker's Python environment ({_exe_of(pid)}): "
                                                "pip install memray in it")
    if "Cannot find a supported lldb or gdb" in text or "lldb or gdb" in text:
        return ProfilingError("tool_missing", "memray attaches through gdb: apt install gdb on this node")
    if not os.path.exists(f"/proc/{pid}") or "No such process" in text:
        return ProfilingError("process_gone", f"process {pid} is gone")
    if "permission to trace" in text or ("ptrace" in text.lower() and ("not permitted" in text or "denied" in text.lower())):
        return ptrace_denied(pid, find_debugger() or "gdb")
    if "does not seem to be running Python" in text:
        return ProfilingError("not_python", f"memray found no Python it can attach to in process {pid} ({_exe_of(pid)}: "
                                            "not Python, or an interpreter without symbols)")
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return ProfilingError("failed", f"memray attach failed on process {pid}: {lines[-1] if lines else 'no output'}")


def _wait_until_tracking_ended(path: str, ends_at: float) -> None:
    """memray --duration stops by itself in the worker; the capture then stops growing."""
    time.sleep(max(0.0, ends_at - time.monotonic()))
    size, since = -1, time.monotonic()
    deadline = ends_at + FINISH_MARGIN_S
    while time.monotonic() < deadline:
        now_size = os.path.getsize(path) if os.path.exists(path) else 0
        now = time.monotonic()
        if now_size != size:
            size, since = now_size, now
        elif now - since >= SETTLE_S:
            return
        time.sleep(0.1)


def parse_location(location: str) -> tuple[str, str, int]:
    """memray stats' "function:file:line" → (function, file, line); the file may hold colons."""
    head, _, line = location.rpartition(":")
    function, _, file = head.partition(":")
    try:
        return function, file, int(line)
    except ValueError:
        return location, "", 0


def top_allocations(stats: dict[str, Any], n: int = TOP_N) -> list[pb.Allocation]:
    """memray stats' top allocations by size, with each location's count from the by-count list."""
    counts = {a["location"]: int(a.get("count") or 0) for a in stats.get("top_allocations_by_count") or []}
    out = []
    for a in (stats.get("top_allocations_by_size") or [])[:n]:
        function, file, line = parse_location(a["location"])
        out.append(pb.Allocation(function=function, file=file, line=line, size=int(a.get("size") or 0),
                                 count=counts.get(a["location"], 0)))
    return out


def _report(memray: str, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([memray, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def _finish(proc: subprocess.Popen[str], what: str) -> None:
    try:
        out, _ = proc.communicate(timeout=REPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ProfilingError("timeout", f"memray {what} took over {REPORT_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        raise ProfilingError("failed", f"memray {what} failed: {(out or '').strip().splitlines()[-1:]}")


def record(pid: int, *, duration_s: float, native: bool = False) -> pb.RecordedProfile:
    """The allocations of `pid` over `duration_s` (whole seconds, at least 1); raises ProfilingError."""
    if duration_s <= 0:
        raise ProfilingError("failed", f"duration ({duration_s}) must be positive")
    memray = find_memray()
    if memray is None:
        raise ProfilingError("tool_missing", "memray is not installed on this node: pip install memray in the agent's environment")
    if find_debugger() is None:
        raise ProfilingError("tool_missing", "memray attaches through gdb: apt install gdb on this node")
    seconds = max(1, round(duration_s))
    with tempfile.TemporaryDirectory(prefix="rayscope-memray-") as tmp:
        capture, speedscope, stats_path = (os.path.join(tmp, n) for n in ("capture.bin", "speedscope.json", "stats.json"))
        args = ["attach", str(pid), "-o", capture, "-f", "--no-compress", "--duration", str(seconds)] + (["--native"] if native else [])
        started_at = time.time()
        try:
            out = subprocess.run([memray, *args], capture_output=True, text=True, timeout=ATTACH_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ProfilingError("timeout", f"memray attach did not finish within {ATTACH_TIMEOUT_S:g} s for process {pid}") from None
        attached = time.monotonic()
        if out.returncode != 0 or "Failed to start tracking" in out.stdout + out.stderr:
            raise classify(pid, out.stderr + "\n" + out.stdout, memray)
        _wait_until_tracking_ended(capture, attached + seconds)
        if not os.path.exists(capture):
            raise ProfilingError("failed", f"memray wrote no capture for process {pid}")
        jobs = [(_report(memray, ["transform", "speedscope", "-f", "-o", speedscope, capture]), "transform speedscope"),
                (_report(memray, ["stats", "--json", "-f", "-o", stats_path, capture]), "stats")]
        for proc, what in jobs:
            _finish(proc, what)
        raw = Path(speedscope).read_bytes()
        stats = json.loads(Path(stats_path).read_text())
    return pb.RecordedProfile(pid=pid, kind="memory", method="memray", started_at=started_at, duration_s=float(seconds),
                              samples=int(stats.get("total_num_allocations") or 0), speedscope_zlib=zlib.compress(raw),
                              top_allocations=top_allocations(stats), total_bytes=int(stats.get("total_bytes_allocated") or 0))
