"""GET /alerts: the alerts the head's own evaluator raised (dashboard/alerting/), newest first."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=m.Page[m.Alert])
def list_alerts(store: StoreDep, q: ListingDep,
                state: Annotated[Literal["firing", "resolved", "all"],
                                 Query(description="firing (default), resolved, or all")] = "firing"):
    if state != "all":
        q.filters.append(f"state={state}")
    return store.page(specs.ALERTS, q)
