"""GET /nodes, /nodes/{id}."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep

router = APIRouter(tags=["nodes"])


@router.get("/nodes", response_model=m.Page[m.Node])
def list_nodes(store: StoreDep, q: ListingDep):
    return store.page(store.nodes_spec(), q)


@router.get("/nodes/{node_id}", response_model=m.Node)
def get_node(node_id: str, store: StoreDep) -> m.Node:
    return store.node(node_id)
