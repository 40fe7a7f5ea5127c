"""The debugger's audit log: one JSON object per line, appended next to the head's database.

Why a plain file and not the DB: it must survive a DB reset, be greppable by an operator,
and be written even when the store is busy. Every ticket issue, attach, refused attach,
detach and resume is recorded with who asked (client identity and peer address).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)


def audit_path_for(db_path: str) -> Path:
    db = Path(db_path)
    return db.with_name(db.stem + ".debug-audit.jsonl")


class AuditLog:
    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": time.time(), "event": event, **{k: v for k, v in fields.items() if v is not None}}
        if self.path is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a") as f:
                    f.write(line)
        except OSError:
            log.exception("cannot append to the debugger audit log %s", self.path)
