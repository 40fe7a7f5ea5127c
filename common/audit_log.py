"""Audit logs of what the token holder did to processes: one JSON object per line, appended next to
the head's database. The debugger's (`<db>.debug-audit.jsonl`: every ticket issue, attach, refused
attach, detach and resume) and profiling's (`<db>.profiling-audit.jsonl`: every stack dump and
profile asked for), each with who asked (client identity and peer address).

Why a plain file and not the DB: it must survive a DB reset, be greppable by an operator,
and be written even when the store is busy.
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


def audit_path_for(db_path: str, kind: str = "debug") -> Optional[Path]:
    """`<db stem>.<kind>-audit.jsonl` beside the database; None for an in-memory one."""
    if db_path in ("", ":memory:"):
        return None
    db = Path(db_path)
    return db.with_name(f"{db.stem}.{kind}-audit.jsonl")


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
            log.exception("cannot append to the audit log %s", self.path)
