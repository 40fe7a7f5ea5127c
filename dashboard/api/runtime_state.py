"""GET /workers, /processes, /objects: the latest per-node snapshots, joined to running tasks."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["processes"])


@router.get("/workers", response_model=m.Page[m.Worker])
def list_workers(store: StoreDep, q: ListingDep):
    return store.page(store.workers_spec(), q)


@router.get("/processes", response_model=m.Page[m.Process])
def list_processes(store: StoreDep, q: ListingDep):
    return store.page(specs.PROCESSES, q)


@router.get("/objects", response_model=m.Page[m.ObjectRef])
def list_objects(store: StoreDep, q: ListingDep):
    return store.page(specs.OBJECTS, q)
