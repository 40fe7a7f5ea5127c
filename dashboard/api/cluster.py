"""GET /cluster and GET /ingest/health."""
from __future__ import annotations

from fastapi import APIRouter, Request

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import StoreDep

router = APIRouter(tags=["cluster"])


@router.get("/cluster", response_model=m.ClusterInfo)
def cluster(request: Request, store: StoreDep) -> m.ClusterInfo:
    info: m.ClusterInfo = request.app.state.cluster_info
    if info.session_name is None:
        return info.model_copy(update={"session_name": store.session_name()})
    return info


@router.get("/ingest/health", response_model=m.IngestHealth)
def ingest_health(store: StoreDep) -> m.IngestHealth:
    return store.ingest_health()
