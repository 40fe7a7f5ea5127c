"""Replace a file atomically: readers see the old content or the new, never half of it.

Why one helper: ready files, discovery files, checkpoints, the spool's marker, local state and
rendered configs are all read by another process while they may be rewritten. Each wrote a
temporary file and renamed it, with different temporary names (some shared between two writers),
fsync rules and clean-up on failure; this is the one way.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Union

__all__ = ["write_atomic"]

PathLike = Union[str, "os.PathLike[str]"]


def write_atomic(path: PathLike, data: Union[str, bytes], *, durable: bool = False, mode: int = 0o666) -> None:
    """Write `data` (str as UTF-8) to a new file beside `path`, then rename it over `path`.

    `durable`: fsync the file before the rename, so that after a host crash `path` holds either
    the old or the new content (without it, a crash can leave an empty file). `mode` is the new
    file's permission bits before the umask (0o600 for files only the owner may read). The
    temporary name is unique per call, so concurrent writers never write into each other's file;
    on any error it is removed (half a file on a full disk only takes space) and `path` keeps its
    old content. The parent directory must exist.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp.{secrets.token_hex(4)}")
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
