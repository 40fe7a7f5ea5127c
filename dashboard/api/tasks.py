"""GET /tasks, /tasks/summary, /tasks/stuck, /tasks/{id} (every attempt)."""
from __future__ import annotations

from typing import Annotated, Optional, get_args

from fastapi import APIRouter, Depends, Query

from rayscope.common.filters import FilterSyntaxError, parse_filters
from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.errors import BadRequest
from rayscope.dashboard.store import specs
from rayscope.dashboard.store.read_stuck import StuckRules

router = APIRouter(tags=["tasks"])


@router.get("/tasks", response_model=m.Page[m.Task])
def list_tasks(store: StoreDep, q: ListingDep):
    return store.tasks_page(specs.TASKS, q)


@router.get("/tasks/summary", response_model=m.TaskSummary)
def task_summary(store: StoreDep, job_id: Optional[str] = None) -> m.TaskSummary:
    return store.task_summary(job_id)


_DEFAULT = StuckRules()
STUCK_KINDS: tuple[str, ...] = get_args(m.TaskStuck.model_fields["kind"].annotation)
STUCK_FILTER_KEYS = ("job_id", "kind")


def stuck_rules(
    factor: float = Query(_DEFAULT.factor, description="running_long: how many times the p95 duration"),
    min_running_s: float = Query(_DEFAULT.min_running_s, description="running_long: never under this"),
    min_samples: int = Query(_DEFAULT.min_samples, description="running_long: finished runs needed"),
    pending_long_s: float = Query(_DEFAULT.pending_long_s, description="pending_long: seconds awaiting a node"),
) -> StuckRules:
    """The rules' constants, each overridable per request (the stuck listing, the stuck tasks' dumps)."""
    return StuckRules(factor=factor, min_running_s=min_running_s, min_samples=min_samples, pending_long_s=pending_long_s)


StuckRulesDep = Annotated[StuckRules, Depends(stuck_rules)]


@router.get("/tasks/stuck", response_model=m.Page[m.Task])
def stuck_tasks(
    store: StoreDep,
    rules: StuckRulesDep,
    filter: Annotated[list[str], Query(description="job_id=ID and/or kind=KIND (running_long, infeasible, "
                                       "pending_long)")] = [],  # noqa: B006
    sort: Optional[str] = Query(None, description="not accepted: the listing is always longest stuck first"),
    limit: int = 100,
    cursor: Optional[str] = None,
) -> m.Page[m.Task]:
    """Tasks that look stuck now, longest stuck first (rules: dashboard/store/read_stuck.py); the
    query parameters override the rules' constants for this request."""
    if sort:
        raise BadRequest("the stuck listing takes no sort: it is always longest stuck first")
    try:
        exprs = parse_filters(filter, STUCK_FILTER_KEYS)
    except FilterSyntaxError as e:
        raise BadRequest(str(e)) from None
    if any(f.negate for f in exprs):
        raise BadRequest("the stuck listing's filters take KEY=VALUE only (no !=)")
    by_key = {f.key: f.value for f in exprs}
    kind = by_key.get("kind")
    if kind is not None and kind not in STUCK_KINDS:
        raise BadRequest(f"filter kind: {kind!r} is not one of {', '.join(STUCK_KINDS)}")
    return store.stuck_tasks(rules, limit, cursor, by_key.get("job_id"), kind)


@router.get("/tasks/{task_id}", response_model=list[m.Task])
def get_task(task_id: str, store: StoreDep) -> list[m.Task]:
    return store.task_attempts(task_id)
