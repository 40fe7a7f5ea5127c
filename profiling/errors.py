"""The one error type of the node-side profiling tools, and the one-line ptrace diagnosis.

`kind` is what `ProfileResult.error_kind` carries to the head (which maps it to an HTTP status);
the message is the one line a user reads, with the remedy when there is one (ray#43129: py-spy's
own messages are cryptic, and its "sudo" advice is wrong in a container).
"""
from __future__ import annotations

import os
from typing import Optional

KINDS = ("process_gone", "ptrace_denied", "not_python", "tool_missing", "memray_missing", "timeout", "failed")

CAP_SYS_PTRACE = 19  # linux/capability.h

REMEDY_SETCAP = "setcap cap_sys_ptrace+ep {tool} (and in Kubernetes securityContext.capabilities.add: [SYS_PTRACE])"
REMEDY_YAMA = "sysctl kernel.yama.ptrace_scope=0, or " + REMEDY_SETCAP
REMEDY_CONTAINER = "start the container with --cap-add SYS_PTRACE (Kubernetes: securityContext.capabilities.add: [SYS_PTRACE])"


class ProfilingError(Exception):
    """A tool could not give a result; `kind` is one of KINDS, `message` one line."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown profiling error kind {kind!r}")
        self.kind = kind
        self.message = " ".join(message.split())  # one line, whatever the tool printed
        super().__init__(self.message)


def read_status(pid: int | str) -> dict[str, str]:
    """/proc/PID/status as a dict ("self" for this process); empty when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except (FileNotFoundError, ProcessLookupError):
        return {}


def has_cap_sys_ptrace(status: dict[str, str]) -> bool:
    return bool(int(status.get("CapEff", "0"), 16) >> CAP_SYS_PTRACE & 1)


def yama_scope() -> Optional[int]:
    """kernel.yama.ptrace_scope, None where the kernel has no Yama (classic ptrace rules)."""
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def seccomp_blocks_memory_reads() -> bool:
    """Whether a seccomp filter refuses process_vm_readv to this process (Docker's default profile
    without SYS_PTRACE). Reading our own memory passes every ptrace rule, so EPERM here can only
    come from the filter; /proc tells that a filter exists, not what it refuses."""
    if read_status("self").get("Seccomp", "0") != "2":
        return False
    import ctypes  # here: workers import this module at start, and only a filtered agent gets this far

    class _IoVec(ctypes.Structure):
        _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(8)
    local, remote = _IoVec(ctypes.addressof(buf), 4), _IoVec(ctypes.addressof(buf) + 4, 4)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    n = libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return n < 0 and ctypes.get_errno() == 1  # EPERM


def ptrace_denied_reason(pid: Optional[int], tool: str) -> tuple[str, str]:
    """(why, remedy) for a ptrace EPERM of this process on `pid`, from what the kernel tells us.

    Order matters: a seccomp filter (Docker's default profile without SYS_PTRACE) denies even
    root, so it comes first; then a different owner; then Yama.
    """
    if seccomp_blocks_memory_reads():
        return "a seccomp filter blocks ptrace: a container started without SYS_PTRACE", REMEDY_CONTAINER
    cap = has_cap_sys_ptrace(read_status("self"))
    target = read_status(pid) if pid is not None else {}
    my_uid = os.geteuid()
    target_uid = int(target["Uid"].split()[1]) if target.get("Uid") else my_uid
    if target_uid != my_uid and not cap:
        return (f"the process runs as uid {target_uid}, the agent as uid {my_uid}",
                f"run the agent as uid {target_uid}, or " + REMEDY_SETCAP.format(tool=tool))
    scope = yama_scope()
    if scope is not None and scope >= 1 and not cap:
        if scope == 3:
            return "yama ptrace_scope=3 forbids all ptrace until reboot", "boot with kernel.yama.ptrace_scope below 3"
        return f"yama ptrace_scope={scope}", REMEDY_YAMA.format(tool=tool)
    if not cap:
        return "no CAP_SYS_PTRACE", REMEDY_SETCAP.format(tool=tool)
    return "the kernel refused ptrace although the agent has CAP_SYS_PTRACE (an LSM policy?)", "check the node's AppArmor/SELinux policy"


def ptrace_denied(pid: Optional[int], tool: str) -> ProfilingError:
    why, remedy = ptrace_denied_reason(pid, tool)
    return ProfilingError("ptrace_denied", f"ptrace not permitted ({why}); fix: {remedy}")
