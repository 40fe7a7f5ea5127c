"""What applying one batch produces besides rows: head-side drops and the WebSocket deltas."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

_HEX = re.compile(r"[0-9a-f]+")


class MalformedItem(ValueError):
    """An item the head cannot store; it is counted as a drop with this message as reason."""


def require_hex(value: str, what: str, allow_empty: bool = False) -> str:
    """Ids are lowercase hex on the wire; anything else is a malformed item."""
    if not value:
        if allow_empty:
            return value
        raise MalformedItem(f"empty {what}")
    if not _HEX.fullmatch(value):
        raise MalformedItem(f"{what} is not lowercase hex")
    return value


@dataclass
class HeadDrop:
    """One item the head refused, aggregated into the drops table by (source, reason)."""

    source: str
    reason: str
    detail: str
    count: int = 1
    bytes: int = 0


@dataclass
class ApplyContext:
    """State shared by the per-kind apply functions during one batch transaction."""

    conn: sqlite3.Connection
    node_id: str
    now: float
    drops: list[HeadDrop] = field(default_factory=list)
    deltas: dict[str, list[dict]] = field(default_factory=dict)
    collect_deltas: bool = True

    def drop(self, source: str, err: Exception, detail: str = "", nbytes: int = 0) -> None:
        self.drops.append(HeadDrop(source, f"malformed at head: {err}", detail[:200], 1, nbytes))

    def delta(self, kind: str, row: dict) -> None:
        if self.collect_deltas:
            self.deltas.setdefault(kind, []).append(row)
