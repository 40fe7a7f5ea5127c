"""Persist tailer positions, written only *after* the batches holding those lines are spooled.

That order makes a restart safe: at worst lines already in the spool are read again and
resent (the head dedupes by file, generation and offset); never is a line skipped.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional

from rayscope.agent.logs.tailer import Checkpoint
from rayscope.common.atomic_file import write_atomic

log = logging.getLogger(__name__)


class OffsetStore:
    """One JSON file of {stream: [checkpoint, ...]}, replaced atomically."""

    def __init__(self, path: str, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._last: dict[str, list[list[object]]] = {}
        self.saved_at: Optional[float] = None  # wall time of the checkpoint `load` found (its file's mtime)

    def load(self) -> dict[str, list[Checkpoint]]:
        try:
            with open(self.path) as f:
                raw = json.load(f)
                self.saved_at = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.error("offset checkpoint %s unreadable (%s): re-reading files from the start", self.path, e)
            return {}
        out: dict[str, list[Checkpoint]] = {}
        for stream, rows in raw.items():
            try:
                out[stream] = [Checkpoint(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]
            except (TypeError, ValueError, IndexError, KeyError) as e:
                log.error("offset checkpoint stream %s malformed (%s): ignoring it", stream, e)
        return out

    def save(self, streams: dict[str, list[Checkpoint]]) -> None:
        """Rows are [path, inode, generation, offset]; nothing is written when nothing moved."""
        rows = {k: [[c.path, c.inode, c.generation, c.offset] for c in v] for k, v in streams.items()}
        if rows == self._last:
            return
        # dumps, not dump: only the one-shot path uses the C encoder (~10x less CPU, measured).
        # On a full disk write_atomic raises and the old file stays.
        write_atomic(self.path, json.dumps(rows, separators=(",", ":")), durable=self.fsync)
        self._last = rows
