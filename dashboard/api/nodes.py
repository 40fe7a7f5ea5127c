"""GET /nodes, /nodes/summary, /nodes/{id}."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep

router = APIRouter(tags=["nodes"])

_PERCENT = Query(ge=0, le=100, description="only nodes whose latest sample is at least this percent")


@router.get("/nodes", response_model=m.Page[m.Node])
def list_nodes(store: StoreDep, q: ListingDep, min_cpu_percent: Annotated[Optional[float], _PERCENT] = None,
               min_mem_percent: Annotated[Optional[float], _PERCENT] = None,
               min_store_percent: Annotated[Optional[float], _PERCENT] = None):
    floors = {"cpu": min_cpu_percent, "mem": min_mem_percent, "store": min_store_percent}
    return store.page(store.nodes_spec({k: v for k, v in floors.items() if v is not None}), q)


@router.get("/nodes/summary", response_model=m.NodeSummary)
def node_summary(store: StoreDep) -> m.NodeSummary:
    return store.node_summary()


@router.get("/nodes/{node_id}", response_model=m.Node)
def get_node(node_id: str, store: StoreDep) -> m.Node:
    return store.node(node_id)
