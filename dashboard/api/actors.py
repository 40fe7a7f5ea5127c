"""GET /actors, /actors/summary, /actors/{id}."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["actors"])


@router.get("/actors", response_model=m.Page[m.Actor])
def list_actors(store: StoreDep, q: ListingDep):
    return store.page(specs.ACTORS, q)


@router.get("/actors/summary", response_model=m.ActorSummary)
def actor_summary(store: StoreDep, job_id: Optional[str] = None) -> m.ActorSummary:
    return store.actor_summary(job_id)


@router.get("/actors/{actor_id}", response_model=m.Actor)
def get_actor(actor_id: str, store: StoreDep) -> m.Actor:
    return store.actor(actor_id)
