"""GET /logs/tail: the last lines of one file, then what was appended after a cursor (live tail)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.store.read_log_tail import log_tail

router = APIRouter(tags=["logs"])


@router.get("/logs/tail", response_model=m.Page[m.LogLine])
def tail(store: StoreDep, file_id: str, lines: int = 1000, after: Optional[str] = None) -> m.Page[m.LogLine]:
    """`next_cursor` is always set: pass it as `after` to get only the lines appended since."""
    rows, cursor = log_tail(store.conn, file_id, lines, after)
    return m.Page[m.LogLine](rows=rows, next_cursor=cursor)
