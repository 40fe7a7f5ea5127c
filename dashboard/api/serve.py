"""GET /serve/applications (Ray Serve applications, listing rules as /tasks) and
/serve/applications/{name} (one with its deployments, replicas, request figures and history):
dashboard/store/read_serve.py."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep

router = APIRouter(tags=["serve"])


@router.get("/serve/applications", response_model=m.Page[m.ServeApplication])
def list_serve_apps(store: StoreDep, q: ListingDep) -> m.Page[m.ServeApplication]:
    """Every application the Serve controller has reported, also deleted ones (`present` false)."""
    return store.serve_apps(q)


@router.get("/serve/applications/{name}", response_model=m.ServeApplicationDetail)
def get_serve_app(name: str, store: StoreDep) -> m.ServeApplicationDetail:
    return store.serve_app(name)
