"""GET /logs/tail: the last lines of one selection, then what was stored after a cursor (live tail)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.store.read_log_tail import log_tail
from rayscope.dashboard.store.read_logs import LineSelector

router = APIRouter(tags=["logs"])


@router.get("/logs/tail", response_model=m.Page[m.LogLine])
def tail(
    store: StoreDep,
    file_id: Optional[str] = None, node_id: Optional[str] = None, task_id: Optional[str] = None,
    actor_id: Optional[str] = None, worker_id: Optional[str] = None, job_id: Optional[str] = None,
    lines: int = 1000, after: Optional[str] = None,
) -> m.Page[m.LogLine]:
    """Exactly one selector, as /logs/lines. `next_cursor` is always set: pass it as `after` to get
    only the lines stored since (one file: in file order; other selectors: in arrival order).
    `lines=0` without `after`: no lines, only the cursor of what comes next."""
    sel = LineSelector(file_id=file_id, node_id=node_id, task_id=task_id, actor_id=actor_id,
                       worker_id=worker_id, job_id=job_id)
    rows, cursor = log_tail(store.conn, sel, lines, after)
    return m.Page[m.LogLine](rows=rows, next_cursor=cursor)
