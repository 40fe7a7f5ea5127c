"""ray-memory's leak hint: call sites whose object count or bytes keep growing across snapshots.

The head keeps only each node's latest object table, so ray-memory keeps the history itself:
every run appends one line of per-call-site totals to
`$RAYSCOPE_HOME/ray-memory/<head>.jsonl` (the last MAX_SNAPSHOTS runs). A call site is flagged
when its count or its bytes grew from each snapshot to the next over the last `window` ones:
one bump is noise, steady growth is the shape of a leak.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rayscope.common.atomic_file import write_atomic
from rayscope.dashboard.models import ObjectRef
from rayscope.runtime.auth_token import rayscope_home

MAX_SNAPSHOTS = 20
DEFAULT_WINDOW = 3


@dataclass(frozen=True)
class CallSiteTotal:
    call_site: str
    objects: int
    bytes: int


@dataclass(frozen=True)
class LeakHint:
    call_site: str
    objects: list[int]  # oldest first, one per snapshot in the window
    bytes: list[int]


def call_site_totals(rows: list[ObjectRef]) -> list[CallSiteTotal]:
    """Per call site, largest bytes first (what --top-callsites prints)."""
    acc: dict[str, list[int]] = {}
    for r in rows:
        a = acc.setdefault(r.call_site or "disabled", [0, 0])
        a[0] += 1
        a[1] += r.object_size if r.object_size and r.object_size > 0 else 0
    out = [CallSiteTotal(k, n, b) for k, (n, b) in acc.items()]
    return sorted(out, key=lambda t: (-t.bytes, -t.objects, t.call_site))


def history_path(head_url: str, home: Optional[Path] = None) -> Path:
    digest = hashlib.sha256(head_url.encode()).hexdigest()[:16]
    return (home or rayscope_home()) / "ray-memory" / f"{digest}.jsonl"


def record(path: Path, totals: list[CallSiteTotal], now: Optional[float] = None) -> list[dict]:
    """Append this snapshot, keep the last MAX_SNAPSHOTS (atomic rewrite); returns them, oldest first."""
    snaps: list[dict] = []
    try:
        for line in path.read_text().splitlines():
            try:
                snaps.append(json.loads(line))
            except ValueError:
                continue  # a torn line from an old crash: skip it
    except OSError:
        pass
    snaps.append({"ts": now if now is not None else time.time(),
                  "sites": {t.call_site: [t.objects, t.bytes] for t in totals}})
    snaps = snaps[-MAX_SNAPSHOTS:]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "".join(json.dumps(s) + "\n" for s in snaps))
    return snaps


def _growing(values: list[int]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def leak_hints(snaps: list[dict], window: int = DEFAULT_WINDOW) -> list[LeakHint]:
    """Call sites present in each of the last `window` snapshots whose count or bytes grew every time."""
    if window < 2 or len(snaps) < window:
        return []
    recent = [s["sites"] for s in snaps[-window:]]
    out = []
    for site in recent[-1]:
        if not all(site in s for s in recent):
            continue
        counts = [s[site][0] for s in recent]
        sizes = [s[site][1] for s in recent]
        if _growing(counts) or _growing(sizes):
            out.append(LeakHint(site, counts, sizes))
    return sorted(out, key=lambda h: -(h.bytes[-1] - h.bytes[0]))
