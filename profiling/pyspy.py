"""py-spy, run by the agent on a worker of its node: `dump --json` for a stack dump and
`record -f speedscope` for a CPU flame graph, parsed into the wire's messages.

Each call is one py-spy process with a hard timeout; the calls are blocking and share no state,
so the agent may run several at once from worker threads.
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

RECORD_MARGIN_S = 30.0  # py-spy's start and the speedscope write, on top of the duration


def find_py_spy() -> Optional[str]:
    """py-spy on PATH (where an admin may have given it cap_sys_ptrace), else the one of the
    agent's own environment (ray[default] depends on py-spy)."""
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if os.access(beside, os.X_OK) else None


def _require_py_spy() -> str:
    exe = find_py_spy()
    if exe is None:
        raise ProfilingError("tool_missing", "py-spy is not installed on this node: pip install py-spy in the agent's environment")
    return exe


def classify(pid: int, stderr: str, exe: str) -> ProfilingError:
    """py-spy's error text → a ProfilingError with one line a user can act on."""
    text = stderr.strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = next((ln for ln in lines if ln.startswith("Error:")), lines[0] if lines else "no output")
    if "Permission Denied" in text or "EPERM" in text or "Operation not permitted" in text:
        return ptrace_denied(pid, exe)
    if not os.path.exists(f"/proc/{pid}") or "No such process" in text or "Failed to get process executable name" in text:
        return ProfilingError("process_gone", f"process {pid} is gone")
    if "Failed to find python version" in text or "Failed to find a python interpreter" in text:
        return ProfilingError("not_python", f"process {pid} is not a Python process py-spy can read ({first.removeprefix('Error: ')})")
    if "Unsupported version of Python" in text:
        return ProfilingError("not_python", f"{first.removeprefix('Error: ')}: upgrade py-spy on the node (pip install -U py-spy)")
    return ProfilingError("failed", f"py-spy failed on process {pid}: {first.removeprefix('Error: ')}")


def _run(pid: int, args: list[str], timeout_s: float, exe: str) -> subprocess.CompletedProcess[str]:
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProfilingError("timeout", f"py-spy did not answer within {timeout_s:g} s for process {pid}") from None
    if out.returncode != 0:
        raise classify(pid, out.stderr or out.stdout, exe)
    return out


def _frame(f: dict[str, Any]) -> pb.StackFrame:
    frame = pb.StackFrame(function=f.get("name") or "", file=f.get("filename") or "", line=int(f.get("line") or 0),
                          module=f.get("module") or "")
    # --native frames: py-spy gives the shared object as the module and no Python file
    frame.native = bool(f.get("module")) and not (f.get("filename") or "").endswith(".py")
    for var in f.get("locals") or []:
        frame.locals[str(var.get("name"))] = str(var.get("repr"))
    return frame


def parse_dump(threads: list[dict[str, Any]]) -> list[pb.ThreadStack]:
    """`py-spy dump --json`'s list of threads (innermost frame first, as the wire wants)."""
    return [pb.ThreadStack(thread_id=int(t.get("thread_id") or 0), name=t.get("thread_name") or "",
                           os_thread_id=int(t.get("os_thread_id") or 0), active=bool(t.get("active")),
                           owns_gil=bool(t.get("owns_gil")), frames=[_frame(f) for f in t.get("frames") or []])
            for t in threads]


def dump(pid: int, *, locals: bool = False, native: bool = False, timeout_s: float = 10.0) -> pb.StackDump:
    """Every thread's Python stack of `pid` (method "py-spy"); raises ProfilingError."""
    exe = _require_py_spy()
    args = ["dump", "--json", "--pid", str(pid)] + (["--locals"] if locals else []) + (["--native"] if native else [])
    taken_at = time.time()
    start = time.monotonic()
    out = _run(pid, args, timeout_s, exe)
    took_ms = (time.monotonic() - start) * 1000
    try:
        threads = json.loads(out.stdout)
    except ValueError:
        raise ProfilingError("failed", f"py-spy dump printed no JSON for process {pid}: {out.stdout[:120]!r}") from None
    return pb.StackDump(pid=pid, method="py-spy", taken_at=taken_at, took_ms=took_ms, threads=parse_dump(threads))


def count_samples(doc: dict[str, Any]) -> int:
    """Samples over all of a speedscope document's profiles (py-spy writes one per thread)."""
    return sum(len(p.get("samples") or []) for p in doc.get("profiles") or [])


def record(pid: int, *, duration_s: float, rate_hz: int = 100, idle: bool = True, native: bool = False) -> pb.RecordedProfile:
    """A CPU profile of `pid` over `duration_s` (whole seconds, at least 1), as zlib'd speedscope JSON.

    `idle` keeps the samples of blocked threads: without it a worker stuck in `ray.get` gives an
    empty graph (ray#43129, ray#33091), which is exactly when one is wanted.
    """
    if duration_s <= 0 or rate_hz <= 0:
        raise ProfilingError("failed", f"duration ({duration_s}) and rate ({rate_hz}) must be positive")
    exe = _require_py_spy()
    seconds = max(1, round(duration_s))
    with tempfile.TemporaryDirectory(prefix="rayscope-pyspy-") as tmp:
        path = os.path.join(tmp, "profile.speedscope.json")
        args = ["record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate_hz), "--format", "speedscope",
                "--output", path, "--full-filenames"]
        args += (["--idle"] if idle else []) + (["--native"] if native else [])
        started_at = time.time()
        _run(pid, args, seconds + RECORD_MARGIN_S, exe)
        try:
            raw = Path(path).read_bytes()
            doc = json.loads(raw)
        except (OSError, ValueError):
            raise ProfilingError("failed", f"py-spy record wrote no speedscope document for process {pid}") from None
    samples = count_samples(doc)
    warning = "" if samples else "no samples: every thread was idle (record with idle=True to see where they wait)"
    return pb.RecordedProfile(pid=pid, kind="cpu", method="py-spy", started_at=started_at, duration_s=float(seconds),
                              samples=samples, speedscope_zlib=zlib.compress(raw), warning=warning)
