"""GET /jobs, /jobs/{id}."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=m.Page[m.Job])
def list_jobs(store: StoreDep, q: ListingDep):
    return store.page(specs.JOBS, q)


@router.get("/jobs/{job_id}", response_model=m.Job)
def get_job(job_id: str, store: StoreDep) -> m.Job:
    return store.job(job_id)
