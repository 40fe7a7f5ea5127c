"""Runs the head: gRPC ingest (grpc.aio) and uvicorn (FastAPI) on one asyncio loop.

Startup order: store -> both servers listening -> ready file (atomic). SIGTERM/SIGINT stop
both servers, then the writer process commits what it has and the store closes.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Optional

import grpc
import uvicorn

from rayscope.common.atomic_file import write_atomic
from rayscope.dashboard import models as m
from rayscope.dashboard.alerting.alertmanager import AlertmanagerSender
from rayscope.dashboard.alerting.evaluator import AlertEvaluator, AlertingCollector
from rayscope.dashboard.app import create_app
from rayscope.dashboard.config import HeadConfig
from rayscope.dashboard.ingest import GRPC_OPTIONS, IngestServicer, add_ingest_service, authorized
from rayscope.dashboard.otel_traces import otlp_listener
from rayscope.dashboard.service_discovery import file_sd_loop
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_profiles import fail_unfinished
from rayscope.dashboard.store.retention import RetentionPolicy
from rayscope.dashboard.tls import add_grpc_port, load_server_tls, url_scheme
from rayscope.dashboard.ws import Hub
from rayscope.debugger.head_service import DebugServicer, add_debug_service
from rayscope.profiling.head_link import ProfileServicer, add_profile_service
from rayscope.runtime.auth_token import TokenError, read_or_create_token

log = logging.getLogger("rayscope.dashboard")
RETENTION_EVERY_S = 300.0


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the head owns SIGTERM and shuts down in order."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_ready_file(path: Path, payload: dict) -> None:
    write_atomic(path, json.dumps(payload))


def _http_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP;
    # without it every keep-alive response waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def _retention_loop(store: Store, policy: RetentionPolicy) -> None:
    while True:
        try:
            n = await store.enforce_retention(policy)
            if n:
                log.info("retention deleted %d rows", n)
        except Exception:  # noqa: BLE001 - retention must not kill the head
            log.exception("retention failed")
        await asyncio.sleep(RETENTION_EVERY_S)


def _start_alerting(app, store: Store, hub: Hub, cfg: HeadConfig, http_url: str) -> list[asyncio.Task]:
    """A live head's alert evaluator (dashboard/alerting/) and, with --alertmanager-url, its sender."""
    sender = AlertmanagerSender(cfg.alertmanager_url, generator_url=f"{http_url}/alerts") if cfg.alertmanager_url else None
    evaluator = AlertEvaluator(store, hub, sender)
    app.state.metrics_registry.register(AlertingCollector(evaluator))
    tasks = [asyncio.create_task(evaluator.loop(cfg.alert_eval_s))]
    if sender is not None:
        tasks.append(asyncio.create_task(sender.run()))
    return tasks


async def serve(cfg: HeadConfig) -> None:
    # TLS (--tls-cert/--tls-key) is checked before anything listens: a bad pair is one line on stderr.
    tls = load_server_tls(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None
    try:
        token = read_or_create_token(cfg.token_file)
    except TokenError as e:
        raise SystemExit(str(e)) from None
    store = Store(cfg.db, live=not cfg.history)
    hub = Hub()
    info = m.ClusterInfo(session_name=cfg.session_name, ray_version=_version("ray"),
                         rayscope_version=_version("rayscope") or "0.1.0", db_path=str(cfg.db.resolve()),
                         live=not cfg.history, started_at=time.time())
    app = create_app(store, token, hub, info)
    app.state.prometheus_url = cfg.prometheus_url
    traces = otlp_listener(store, cfg.otlp_endpoint) if cfg.otlp_endpoint and not cfg.history else None
    if traces is not None:
        hub.listeners.append(traces)
        traces.start()
    sock = _http_socket(cfg.host, cfg.port)
    http = _Uvicorn(uvicorn.Config(app, log_level=cfg.log_level, lifespan="off", access_log=False,
                                   ws_max_size=1 << 20, **(tls.uvicorn_options() if tls else {})))
    grpc_server: Optional[grpc.aio.Server] = None
    grpc_address: Optional[str] = None
    if not cfg.history:
        grpc_server = grpc.aio.server(options=GRPC_OPTIONS)
        add_ingest_service(grpc_server, IngestServicer(store, token, hub, cfg.agents_per_ship_second))
        add_debug_service(grpc_server, DebugServicer(app.state.debug, lambda ctx: authorized(ctx, token)))
        add_profile_service(grpc_server, ProfileServicer(app.state.profiling.broker, lambda ctx: authorized(ctx, token)))
        store.writer.call(fail_unfinished, time.time())  # profiles the previous head waited for
        bind = f"[{cfg.grpc_host}]" if ":" in cfg.grpc_host else cfg.grpc_host
        gport = add_grpc_port(grpc_server, f"{bind}:{cfg.grpc_port}", tls)
        if gport == 0:
            raise SystemExit(f"cannot bind gRPC port {cfg.grpc_port} on {cfg.grpc_host}")
        await grpc_server.start()
        grpc_address = f"{_url_host(cfg.grpc_host)}:{gport}"
    loop = asyncio.get_running_loop()
    writer_gone = asyncio.Event()

    def stop_without_writer() -> None:
        writer_gone.set()
        http.should_exit = True

    store.writer.on_death = lambda: loop.call_soon_threadsafe(stop_without_writer)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(http, "should_exit", True))
    http_task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.02)
    retention = None
    stuck_dumps = None
    sd_task = None
    alert_tasks: list[asyncio.Task] = []
    try:
        if http_task.done():
            http_task.result()
            raise SystemExit("HTTP server did not start")
        http_url = f"{url_scheme(tls)}://{_url_host(cfg.host)}:{sock.getsockname()[1]}"
        app.state.http_url = http_url
        if cfg.file_sd is not None:
            sd_task = asyncio.create_task(file_sd_loop(store, cfg.file_sd, http_url, cfg.session_name))
        if not cfg.history:
            retention = asyncio.create_task(_retention_loop(store, RetentionPolicy.from_flag(cfg.retention_hours)))
            stuck_dumps = asyncio.create_task(app.state.profiling.stuck_dump_loop())
            alert_tasks = _start_alerting(app, store, hub, cfg, http_url)
        if cfg.ready_file:
            write_ready_file(cfg.ready_file, {"pid": os.getpid(), "http_url": http_url, "grpc_address": grpc_address})
        log.warning("rayscope head: http %s grpc %s db %s", http_url, grpc_address, cfg.db)
        await http_task
    finally:
        http.should_exit = True
        if retention:
            retention.cancel()
        if stuck_dumps:
            stuck_dumps.cancel()
        if sd_task:
            sd_task.cancel()
        for t in alert_tasks:
            t.cancel()
        if traces is not None:
            await asyncio.to_thread(traces.stop)
        if grpc_server is not None:
            await grpc_server.stop(grace=2.0)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(http_task, 5)
        store.close()
    if writer_gone.is_set():
        raise SystemExit("rayscope head: the store's writer process keeps dying; stopped (agents keep "
                         "unacknowledged data and send it when a head is back)")
