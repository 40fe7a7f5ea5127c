"""The FastAPI application: routers, token middleware and one-line JSON errors."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rayscope.common.audit_log import AuditLog, audit_path_for
from rayscope.dashboard import metrics_endpoint, openapi
from rayscope.dashboard import models as m
from rayscope.dashboard.api import api_router
from rayscope.dashboard.api.deps import listing
from rayscope.dashboard.auth import TokenMiddleware
from rayscope.dashboard.errors import ApiError
from rayscope.dashboard.profiling_service import ProfilingService
from rayscope.dashboard.store import Store
from rayscope.dashboard.ui import UiMiddleware, is_public
from rayscope.dashboard.ws import Hub, ws_router
from rayscope.debugger.api import mount as mount_debugger
from rayscope.profiling.head_link import ProfileBroker


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status, exc.message)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where}: {e.get('msg')}")
    return _error(400, "bad request: " + "; ".join(parts))


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and msg == "Not Found":
        msg = "no such endpoint"
    return _error(exc.status_code, msg)


def create_app(store: Store, token: str, hub: Hub, cluster_info: m.ClusterInfo) -> FastAPI:
    app = FastAPI(title="Rayscope", version=cluster_info.rayscope_version,
                  responses={400: {"model": m.ErrorBody}, 401: {"model": m.ErrorBody}, 404: {"model": m.ErrorBody}})
    openapi.install(app)  # /openapi.json lists every API model, WsDelta included
    app.state.store = store
    app.state.hub = hub
    app.state.cluster_info = cluster_info
    app.include_router(api_router(), prefix=m.API_PREFIX)
    app.include_router(ws_router(hub), prefix=m.API_PREFIX)
    mount_debugger(app, hub, cluster_info.session_name, cluster_info.db_path, listing)
    # Profiling: the broker's other end is the gRPC service server.py adds (live heads only).
    app.state.profiling = ProfilingService(store, ProfileBroker(), hub,
                                           AuditLog(audit_path_for(cluster_info.db_path, "profiling")))
    app.include_router(metrics_endpoint.router)  # GET /metrics (Prometheus), token like the rest
    app.state.metrics_registry = metrics_endpoint.head_registry(store, hub, cluster_info)
    app.state.http_url = ""  # set by server.py once the port is known
    app.state.prometheus_url = None
    # Starlette types a handler's exception as Exception, not the class it is registered for.
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_middleware(UiMiddleware)  # the web UI's shell; inside the token check, which lets it through
    app.add_middleware(TokenMiddleware, token=token, public=is_public)
    return app
