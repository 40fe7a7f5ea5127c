"""The stack dump that needs no ptrace: faulthandler in the worker, asked by a signal.

Worker side, at interpreter start (debugger/boot.py): `register(session_dir)` has faulthandler
write every thread's stack to `<session>/rayscope/stacks/<pid>.txt` on SIGNAL. Node side, the
agent: `dump_via_signal` truncates that file, sends SIGNAL, and parses what lands in it. Sending
a signal needs only the same uid, so this works under Yama scope 2, in a container without
SYS_PTRACE, anywhere py-spy is refused (benfred/py-spy#408). It has no locals, no native frames
and no idle/active state. faulthandler's handler is C that writes directly to the file, so it
answers even while the worker sits in a long C call holding the GIL.

SIGNAL is a real-time signal, SIGRTMIN+4: users and Ray claim SIGUSR1/2 (Tune uses SIGUSR1,
apps register SIGUSR2 for their own dumps). The default action of an unhandled real-time signal
kills the process, so the agent checks the SigCgt bit in /proc/PID/status before sending it.
"""
from __future__ import annotations

import faulthandler
import os
import re
import signal
import time
from typing import IO, TYPE_CHECKING, Optional

from rayscope.profiling.errors import ProfilingError, read_status

if TYPE_CHECKING:  # the worker imports this module at start: the wire's messages load only in the agent
    from rayscope.wire import rayscope_ingest_pb2 as pb

SIGNAL = signal.SIGRTMIN + 4
POLL_S = 0.005
SETTLE_S = 0.03  # the file stopped growing for this long: faulthandler is done writing

_registered: list[IO[str]] = []  # the open dump file of this process (kept open for the handler)


def stack_file(session_dir: str, pid: int) -> str:
    """Where worker `pid` of this session writes its dump; worker and agent compute it alike."""
    return os.path.join(os.path.realpath(session_dir), "rayscope", "stacks", f"{pid}.txt")


def signal_caught(status: dict[str, str], signum: int = SIGNAL) -> bool:
    """Whether a process's /proc status says it has a handler for `signum` (SigCgt bit signum-1)."""
    return bool(int(status.get("SigCgt", "0"), 16) >> (signum - 1) & 1)


def register(session_dir: str) -> None:
    """In a worker: dump all threads' stacks to this worker's stack file on SIGNAL.

    Does nothing when already done, or when something else handles SIGNAL (ours would replace
    it: faulthandler.register installs a C handler that Python's signal.getsignal cannot see, so
    the kernel's SigCgt bit is what tells). A forked child drops the registration: its dumps
    would land in its parent's file.
    """
    if _registered or signal_caught(read_status("self")):
        return
    path = stack_file(session_dir, os.getpid())
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    # O_APPEND: the agent truncates the file before each signal, so each dump starts at offset 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    f = os.fdopen(fd, "w")
    faulthandler.register(SIGNAL, file=f, all_threads=True, chain=False)
    _registered.append(f)
    os.register_at_fork(after_in_child=_unregister_in_child)


def _unregister_in_child() -> None:
    if _registered:
        faulthandler.unregister(SIGNAL)
        _registered.pop().close()


PR_SET_PTRACER = 0x59616D61  # "Yama"
PR_SET_PTRACER_ANY = (1 << 64) - 1  # (unsigned long)-1


def allow_same_uid_ptrace() -> bool:
    """In a worker under Yama ptrace_scope=1: let any process of the same uid attach (the agent,
    which is not the worker's ancestor), so py-spy and memray work without root. True if done.

    This does not widen access beyond the classic (scope 0) rules: the kernel still requires the
    tracer to have the worker's uid (or CAP_SYS_PTRACE) and the worker to be dumpable; it only
    lifts Yama's extra "ancestors only" restriction for this one process. Processes of that uid
    could already control the worker in other ways (its files, its environment, /proc/PID/mem
    under scope 0). Scope 2 and 3 ignore it.
    """
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            if f.read().strip() != "1":
                return False
    except OSError:
        return False  # no Yama: classic rules already allow the same uid
    import ctypes  # only here: a few ms that workers on hosts without Yama=1 do not pay

    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_PTRACER, ctypes.c_ulong(PR_SET_PTRACER_ANY), 0, 0, 0)) == 0


_THREAD = re.compile(r"^(Current thread|Thread) (0x[0-9a-fA-F]+) \(most recent call first\):$")
_FRAME = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def parse(text: str) -> list[pb.ThreadStack]:
    """faulthandler's all-threads text → threads, innermost frame first (faulthandler's order).

    faulthandler knows neither thread names nor idle state: `active` is true for every thread,
    and the thread that ran the handler ("Current thread") is named "current thread".
    """
    from rayscope.wire import rayscope_ingest_pb2 as pb

    threads: list[pb.ThreadStack] = []
    for line in text.splitlines():
        m = _THREAD.match(line)
        if m:
            current = m.group(1) == "Current thread"
            threads.append(pb.ThreadStack(thread_id=int(m.group(2), 16), active=True, name="current thread" if current else ""))
            continue
        if line.startswith("Stack (most recent call first):"):  # a one-thread dump
            threads.append(pb.ThreadStack(active=True, name="current thread"))
            continue
        f = _FRAME.match(line)
        if f and threads:
            threads[-1].frames.append(pb.StackFrame(file=f.group(1), line=int(f.group(2)), function=f.group(3)))
    return threads


def _wait_for_dump(path: str, deadline: float) -> Optional[str]:
    """The file's text once it is non-empty and has stopped growing; None at the deadline."""
    size, since = 0, time.monotonic()
    while time.monotonic() < deadline:
        now_size = os.path.getsize(path)
        now = time.monotonic()
        if now_size != size:
            size, since = now_size, now
        elif size and now - since >= SETTLE_S:
            with open(path, errors="replace") as f:
                return f.read()
        time.sleep(POLL_S)
    return None


def dump_via_signal(pid: int, session_dir: str, *, timeout_s: float = 2.0) -> pb.StackDump:
    """Ask worker `pid` for its stacks by SIGNAL (method "faulthandler"); raises ProfilingError.

    Not safe to call twice at once for the same pid (both would truncate and read one file); the
    agent serializes per pid.
    """
    from rayscope.wire import rayscope_ingest_pb2 as pb

    status = read_status(pid)
    if not status:
        raise ProfilingError("process_gone", f"process {pid} is gone")
    path = stack_file(session_dir, pid)
    if not signal_caught(status) or not os.path.exists(path):
        raise ProfilingError("tool_missing", f"process {pid} has no stack-dump signal handler: only Ray workers started with "
                                             "Rayscope installed (RAYSCOPE_DEBUGGER=1) register one")
    taken_at = time.time()
    start = time.monotonic()
    with open(path, "w"):
        pass  # truncate: the worker appends, so its dump starts at offset 0
    try:
        os.kill(pid, SIGNAL)
    except ProcessLookupError:
        raise ProfilingError("process_gone", f"process {pid} is gone") from None
    except PermissionError:
        raise ProfilingError("failed", f"not allowed to signal process {pid} (another user's process)") from None
    text = _wait_for_dump(path, start + timeout_s)
    if text is None:
        if not read_status(pid):
            raise ProfilingError("process_gone", f"process {pid} exited before it wrote its stacks")
        raise ProfilingError("timeout", f"process {pid} wrote no stacks within {timeout_s:g} s of the signal")
    took_ms = (time.monotonic() - start) * 1000
    return pb.StackDump(pid=pid, method="faulthandler", taken_at=taken_at, took_ms=took_ms, threads=parse(text))
