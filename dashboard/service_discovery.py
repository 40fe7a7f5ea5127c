"""Prometheus service discovery: every live agent's /metrics plus the head's own.

Served two ways with the same content: GET /api/v1/metrics/targets (http_sd_configs) and a
file_sd JSON file that the head rewrites atomically (write + rename) whenever the target set
changes, checked every few seconds like Ray's own discovery file. Target labels are
`ray_session`, `component` (agent|head) and, on agents, `node_ip` (the node's Ray IP, which the
alert rules name the host by: alerts/rules.py). Not `node_id`: it is already a label of every
series, and a target label of the same name would make Prometheus rename the series' own.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

from rayscope.common.atomic_file import write_atomic
from rayscope.dashboard import models as m
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.read_prometheus import live_agent_targets

log = logging.getLogger(__name__)

FILE_SD_EVERY_S = 5.0


def _host_port(url: str) -> tuple[str, str]:
    """`http://127.0.0.1:8080/metrics` -> ("127.0.0.1:8080", "/metrics")."""
    parts = urlsplit(url)
    return parts.netloc, parts.path or "/metrics"


def target_groups(store: Store, head_url: str, session_name: str | None) -> list[m.PromTargetGroup]:
    """One group per target (each may have its own metrics path), the head first."""
    session = session_name or store.session_name() or ""
    head_target, _ = _host_port(head_url)
    head_labels = {"component": "head", "ray_session": session, "__metrics_path__": "/metrics"}
    if head_url.startswith("https://"):  # a TLS head (--tls-cert) answers https only; agents stay http
        head_labels["__scheme__"] = "https"
    groups = [m.PromTargetGroup(targets=[head_target], labels=head_labels)]
    for a in live_agent_targets(store.conn, time.time()):
        target, path = _host_port(a.metrics_url)
        groups.append(m.PromTargetGroup(targets=[target], labels={
            "component": "agent", "ray_session": a.session_name or session, "node_ip": a.node_ip or "",
            "__metrics_path__": path}))
    return groups


def write_file_sd(path: Path, groups: list[m.PromTargetGroup]) -> bool:
    """Replace `path` atomically when its content would change; True when it was written."""
    text = json.dumps([g.model_dump() for g in groups], indent=1) + "\n"
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return True


async def file_sd_loop(store: Store, path: Path, head_url: str, session_name: str | None) -> None:
    """Keeps the file current for the head's whole life; a failure is logged, never fatal."""
    while True:
        try:
            groups = await asyncio.to_thread(target_groups, store, head_url, session_name)
            if write_file_sd(path, groups):
                log.info("file_sd %s: %d targets", path, len(groups))
        except Exception:  # noqa: BLE001 - discovery must not kill the head
            log.exception("writing the file_sd file %s failed", path)
        await asyncio.sleep(FILE_SD_EVERY_S)
