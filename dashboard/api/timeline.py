"""GET /timeline: the task stream (one lane per worker, one bar per execution) for the web UI."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep
from rayscope.dashboard.store.read_timeline import timeline

router = APIRouter(tags=["timeline"])


@router.get("/timeline", response_model=m.Timeline)
def get_timeline(store: StoreDep, job_id: Optional[str] = None, since: Optional[float] = None,
                 until: Optional[float] = None, limit: int = 20_000) -> m.Timeline:
    """Executions that overlap [since, until] (both optional), the latest `limit` of them."""
    return timeline(store.conn, job_id, since, until, limit)
