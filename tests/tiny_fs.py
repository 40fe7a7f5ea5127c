"""A real, tiny filesystem for tests of what happens when the disk is full: a tmpfs of a few
hundred KiB that the test mounts itself (needs root, as the test machines run) and unmounts.

    with tiny_tmpfs(256) as fs:      # Path of the mount point
        filler = fill(fs)            # the filesystem is now full (ENOSPC on the next page)
        filler.unlink()              # space is back
"""
from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def tiny_tmpfs(size_kib: int) -> Iterator[Path]:
    mnt = Path(tempfile.mkdtemp(prefix="rs-tinyfs-", dir="/tmp"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        mnt.rmdir()
        raise RuntimeError(f"cannot mount a tmpfs at {mnt} (these tests need root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:  # still busy (a process of the test holds a file): detach it anyway
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            mnt.rmdir()


def fill(directory: Path, name: str = "filler") -> Path:
    """Write a file until the filesystem refuses more (ENOSPC); returns it."""
    path = directory / name
    chunk = b"\0" * 4096
    with open(path, "ab", buffering=0) as f:
        while True:
            try:
                if f.write(chunk) == 0:
                    break
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    st = os.statvfs(directory)
    assert st.f_bavail == 0, f"{directory} not full: {st.f_bavail} blocks free"
    return path
