"""What this node's agent can profile (probed once at its start), and the stack dump's ladder:
py-spy where ptrace is allowed, else the worker's faulthandler fallback with a one-line warning.
"""
from __future__ import annotations

import os
import subprocess

from rayscope.profiling import fallback, pyspy
from rayscope.profiling.errors import (
    REMEDY_CONTAINER,
    REMEDY_SETCAP,
    REMEDY_YAMA,
    ProfilingError,
    has_cap_sys_ptrace,
    read_status,
    seccomp_blocks_memory_reads,
    yama_scope,
)
from rayscope.profiling.memory import find_debugger, find_memray
from rayscope.wire import rayscope_ingest_pb2 as pb


def py_spy_version(exe: str) -> str:
    """"0.4.3" from `py-spy --version` ("py-spy 0.4.3"); "" when it does not answer."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().rpartition(" ")[2]


def ptrace_mode(tool: str) -> tuple[str, str, str]:
    """(mode, remedy, note): how the agent may read its node's workers, strongest first."""
    setcap = REMEDY_SETCAP.format(tool=tool)
    if seccomp_blocks_memory_reads():
        return "denied", REMEDY_CONTAINER, "a seccomp filter blocks ptrace: stack dumps use the workers' faulthandler fallback"
    if has_cap_sys_ptrace(read_status("self")):
        return ("root" if os.geteuid() == 0 else "cap_sys_ptrace"), "", ""
    scope = yama_scope()
    if scope is None:
        return "same_uid", "", "no Yama: workers running as the agent's uid can be read"
    if scope == 0:
        return "yama_0", "", ""
    if scope == 1:
        return ("same_uid", f"for drivers and other processes: {REMEDY_YAMA.format(tool=tool)}",
                "yama ptrace_scope=1: Ray workers allow it at start (PR_SET_PTRACER_ANY); other processes cannot be read")
    return "denied", (setcap if scope == 2 else "boot with kernel.yama.ptrace_scope below 3"), f"yama ptrace_scope={scope}"


def probe() -> pb.ProfilerCapabilities:
    """The node's tools and ptrace rights (a few ms, plus py-spy --version)."""
    py_spy = pyspy.find_py_spy() or ""
    memray = find_memray() or ""
    gdb = find_debugger() or ""
    mode, remedy, note = ptrace_mode(py_spy or "py-spy")
    notes = [note] if note else []
    if not py_spy:
        notes.append("py-spy is missing: pip install py-spy in the agent's environment (stack dumps use the fallback)")
    if not memray:
        notes.append("memray is missing: pip install memray in the agent's environment")
    if not gdb:
        notes.append("memray needs gdb or lldb on the node: apt install gdb")
    if memray:
        notes.append("memory profiles also need memray installed in the workers' environment")
    return pb.ProfilerCapabilities(py_spy=py_spy, py_spy_version=py_spy_version(py_spy) if py_spy else "", memray=memray,
                                   gdb=gdb, ptrace=mode, remedy=remedy, fallback_signal=True, notes="\n".join(notes))


def take_stack(pid: int, session_dir: str, *, locals: bool, native: bool, caps: pb.ProfilerCapabilities) -> pb.StackDump:
    """py-spy's dump of `pid`; where py-spy is missing or refused ptrace, the worker's faulthandler
    dump, with `warning` = why and the fix. Raises ProfilingError when both fail (the kind of the
    first failure, both reasons in the message)."""
    if caps.py_spy:
        try:
            return pyspy.dump(pid, locals=locals, native=native)
        except ProfilingError as e:
            if e.kind not in ("ptrace_denied", "tool_missing"):
                raise
            first = e
    else:
        first = ProfilingError("tool_missing", "py-spy is not installed on this node: pip install py-spy in the agent's environment")
    try:
        stack = fallback.dump_via_signal(pid, session_dir)
    except ProfilingError as e:
        raise ProfilingError(first.kind, f"{first.message}; the faulthandler fallback failed too: {e.message}") from None
    stack.warning = f"{first.message} (showing the worker's faulthandler dump: no locals, native frames or idle state)"
    return stack
