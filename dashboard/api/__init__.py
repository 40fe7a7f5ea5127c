"""The REST routers, one module per resource; all mounted under /api/v1."""
from __future__ import annotations

from fastapi import APIRouter

from rayscope.dashboard.api import (
    actors,
    alerts,
    app_metrics,
    cluster,
    datasets,
    jobs,
    log_tail,
    logs,
    metrics,
    nodes,
    profiling,
    prometheus,
    runtime_state,
    serve,
    tasks,
    timeline,
    train,
)


def api_router() -> APIRouter:
    router = APIRouter()
    for module in (cluster, nodes, jobs, tasks, actors, runtime_state, logs, metrics, app_metrics, prometheus, log_tail,
                   timeline, train, datasets, serve, profiling, alerts):
        router.include_router(module.router)
    return router
