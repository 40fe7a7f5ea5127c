"""GET /tasks, /tasks/summary, /tasks/{id} (every attempt)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["tasks"])


@router.get("/tasks", response_model=m.Page[m.Task])
def list_tasks(store: StoreDep, q: ListingDep):
    return store.page(specs.TASKS, q)


@router.get("/tasks/summary", response_model=m.TaskSummary)
def task_summary(store: StoreDep, job_id: Optional[str] = None) -> m.TaskSummary:
    return store.task_summary(job_id)


@router.get("/tasks/{task_id}", response_model=list[m.Task])
def get_task(task_id: str, store: StoreDep) -> list[m.Task]:
    return store.task_attempts(task_id)
