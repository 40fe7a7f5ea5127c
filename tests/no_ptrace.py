"""Run a command where ptrace is really denied: `python tests/no_ptrace.py -- CMD...`.

Installs a seccomp filter that answers EPERM to `ptrace`, `process_vm_readv` and
`process_vm_writev` (what Docker's default seccomp profile does to a container started without
CAP_SYS_PTRACE), then execs CMD. The filter is inherited by every child and cannot be lifted, so
CMD and all it starts can read no other process's memory, while signals (`kill`) still work.
This machine has no Yama, so this is how the tests reach the ptrace-denied path for real.
x86_64 only (the syscall numbers are the x86_64 ones; elsewhere it refuses to run).
"""
from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
BPF_LD_W_ABS = 0x20   # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06      # BPF_RET | BPF_K
DENIED = (101, 310, 311)  # ptrace, process_vm_readv, process_vm_writev


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)  # struct sock_filter


def program() -> bytes:
    """The BPF program: another arch → allow (not reached: main refuses it); a denied nr → EPERM."""
    n = len(DENIED)
    insns = [_insn(BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
             _insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
             _insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
             _insn(BPF_LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    insns += [_insn(BPF_JEQ_K, n - i, 0, nr) for i, nr in enumerate(DENIED)]
    insns += [_insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW), _insn(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM)]
    return b"".join(insns)


def deny_ptrace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    code = program()
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "--":
        sys.exit("usage: python tests/no_ptrace.py -- CMD [ARGS...]")
    if platform.machine() != "x86_64":
        sys.exit(f"no_ptrace.py: x86_64 only (the filter's syscall numbers), this is {platform.machine()}")
    deny_ptrace()
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
