"""GET /datasets, /datasets/{id}: Ray Data executions with their operators (issue 13)."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.store import specs

router = APIRouter(tags=["datasets"])


@router.get("/datasets", response_model=m.Page[m.Dataset])
def list_datasets(store: StoreDep, q: ListingDep):
    return store.page(specs.DATASETS, q)


@router.get("/datasets/{dataset_id}", response_model=m.DatasetDetail)
def get_dataset(dataset_id: str, store: StoreDep) -> m.DatasetDetail:
    return store.dataset(dataset_id)
