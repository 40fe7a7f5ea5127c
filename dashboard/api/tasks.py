"""GET /tasks, /tasks/summary, /tasks/stuck, /tasks/{id} (every attempt)."""
from __future__ import annotations

from typing import Literal, Optional

from fastapi import APIRouter, Query

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
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


@router.get("/tasks/stuck", response_model=m.Page[m.Task])
def stuck_tasks(
    store: StoreDep,
    job_id: Optional[str] = None,
    kind: Optional[Literal["running_long", "infeasible", "pending_long"]] = None,
    limit: int = 100,
    cursor: Optional[str] = None,
    factor: float = Query(_DEFAULT.factor, description="running_long: how many times the p95 duration"),
    min_running_s: float = Query(_DEFAULT.min_running_s, description="running_long: never under this"),
    min_samples: int = Query(_DEFAULT.min_samples, description="running_long: finished runs needed"),
    pending_long_s: float = Query(_DEFAULT.pending_long_s, description="pending_long: seconds awaiting a node"),
) -> m.Page[m.Task]:
    """Tasks that look stuck now, longest first (rules: dashboard/store/read_stuck.py); the query
    parameters override the rules' constants for this request."""
    rules = StuckRules(factor=factor, min_running_s=min_running_s, min_samples=min_samples,
                       pending_long_s=pending_long_s)
    return store.stuck_tasks(rules, limit, cursor, job_id, kind)


@router.get("/tasks/{task_id}", response_model=list[m.Task])
def get_task(task_id: str, store: StoreDep) -> list[m.Task]:
    return store.task_attempts(task_id)
