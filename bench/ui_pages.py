"""The API calls the web UI makes when a user opens its main pages (frontend/src/pages/*.tsx), so a
benchmark can load the head the way a browser does: each page's calls at once, up to 6 in parallel
(Chromium's connections per host), every page in turn.

    calls = page_calls(job_ids, node_id, live=False)
    visit(client, calls)            # {page: [seconds per call]}
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import httpx

PARALLEL = 6  # a browser's connections per host
Call = tuple[str, dict]


def _series(live: bool, now: float, node_id: Optional[str] = None, max_points: int = 360) -> dict:
    """useNodeSeries (overview.tsx): a finished cluster's whole run, a live one's last hour."""
    base = {"node_id": node_id} if node_id else {}
    if not live:
        return {**base, "since": 0, "until": now, "max_points": max_points}
    return {**base, "since": now - 3600, "max_points": max_points}


def page_calls(job_ids: list[str], node_id: Optional[str], live: bool) -> dict[str, list[Call]]:
    """Each page's calls on first render, in the order its components ask (latest 10 jobs shown)."""
    now = time.time()
    jobs = job_ids[:10]
    overview: list[Call] = [
        ("/cluster", {}),
        ("/nodes", {"limit": 10000}),
        ("/jobs", {"limit": 10}),
        ("/jobs", {"filter": "state=RUNNING", "limit": 100}),
        ("/tasks/summary", {}),
        ("/actors/summary", {}),
        ("/tasks", {"filter": "state=FAILED", "limit": 8}),
        ("/metrics/nodes", _series(live, now)),
        ("/ingest/health", {}),
        *[("/tasks/summary", {"job_id": j}) for j in jobs],  # "Tasks by job": one bar per job
    ]
    nodes: list[Call] = [
        ("/nodes", {"limit": 10000}),
        ("/metrics/nodes", {"since": now - 15, "until": now, "raw_s": 15, "max_points": 1}),
        ("/profiling/capabilities", {}),
        ("/ingest/health", {}),
    ]
    tasks: list[Call] = [
        ("/tasks/summary", {}),
        ("/jobs", {"limit": 200}),  # the job picker
        ("/tasks", {"limit": 200}),
        ("/tasks", {"filter": "state=FAILED", "limit": 200}),
        *[("/tasks", {"filter": f"job_id={j}", "limit": 200}) for j in jobs[:1]],
        ("/tasks", {"sort": "-duration", "limit": 200}),
    ]
    pages = {"overview": overview, "nodes": nodes, "tasks": tasks}
    if node_id:
        pages["node"] = [
            ("/nodes/" + node_id, {}),
            ("/metrics/nodes", _series(live, now, node_id, 600)),
            ("/processes", {"filter": f"node_id={node_id}", "sort": "-cpu_percent", "limit": 2000}),
            ("/workers", {"filter": f"node_id={node_id}", "sort": "-start_time", "limit": 1000}),
        ]
    return pages


def visit(client: httpx.Client, pages: dict[str, list[Call]], parallel: int = PARALLEL) -> dict[str, list[float]]:
    """Open every page once: its calls concurrently (as the browser fires them), one page after the
    other. Returns each call's latency in seconds, by page; an HTTP error raises."""
    def one(call: Call) -> float:
        t = time.perf_counter()
        client.get(call[0], params=call[1]).raise_for_status()
        return time.perf_counter() - t

    out: dict[str, list[float]] = {}
    with ThreadPoolExecutor(parallel) as pool:
        for page, calls in pages.items():
            out[page] = list(pool.map(one, calls))
    return out
