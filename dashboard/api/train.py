"""GET /train/runs, /train/runs/{run_id}: Ray Train runs, read from the store only (so history mode
serves them as they were)."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.errors import NotFound
from rayscope.dashboard.store import read_train, specs
from rayscope.dashboard.train_models import TrainRun, TrainRunDetail

router = APIRouter(tags=["train"])


@router.get("/train/runs", response_model=m.Page[TrainRun])
def list_train_runs(store: StoreDep, q: ListingDep):
    return store.page(specs.TRAIN_RUNS, q)


@router.get("/train/runs/{run_id}", response_model=TrainRunDetail)
def get_train_run(run_id: str, store: StoreDep) -> TrainRunDetail:
    run = read_train.train_run_detail(store.conn, run_id.lower())
    if run is None:
        raise NotFound(f"no train run {run_id}")
    return run
