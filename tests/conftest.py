"""Shared fixtures: real Rayscope clusters started through the real ``rayscope`` CLI.

``rayscope_cluster`` (session scope) is a 2-node Ray cluster on this host (head + one
worker node, each with its own session dir and agent) with the Rayscope head service,
started by ``rayscope start --head`` and ``rayscope start --address``; see
``rayscope.runtime.local_cluster.LocalCluster`` for its fields.

``ray_node`` (module scope) is one plain Ray node without Rayscope, for the tests that start
their own agent against it (test_agent_collectors.py overrides it with one that runs a driver).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from browser import Browser
from rayscope.runtime.local_cluster import LocalCluster, _all_records, local_cluster, run_cli

# Names the tests import.
RayscopeCluster = LocalCluster
start_rayscope_cluster = local_cluster
__all__ = ["RayscopeCluster", "start_rayscope_cluster", "run_cli", "_all_records"]


KEPT = Path(__file__).resolve().parents[1] / "test-artifacts" / "session-cluster"


@pytest.fixture(scope="session")
def rayscope_cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """One 2-node Rayscope cluster shared by every test that asks for it (~30 s to start). When a
    test of the session failed, its logs and Ray's export-event files are kept under
    test-artifacts/session-cluster/ before the cluster is removed: the evidence of what the agents
    read and the head stored (a shared cluster's state is otherwise gone with it)."""
    with local_cluster() as cluster:
        yield cluster
        if request.session.testsfailed:
            _keep_logs(cluster)


def _keep_logs(cluster: LocalCluster) -> None:
    shutil.rmtree(KEPT, ignore_errors=True)
    for role, sess in (("head", cluster.head_session_dir), ("worker", cluster.worker_session_dir)):
        logs = sess / "logs"
        shutil.copytree(logs / "export_events", KEPT / role / "export_events", dirs_exist_ok=True)
        for log in logs.glob("rayscope-*.log"):
            shutil.copy2(log, KEPT / role / log.name)
        # The agent's offsets (what it had read of each file) and the head's store (what it kept).
        shutil.copytree(sess / "rayscope", KEPT / role / "rayscope", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("spool", "*.sock"))


@pytest.fixture(scope="module")
def ray_node():
    """A plain one-node Ray cluster (own temp dir, free ports), stopped after the module."""
    from test_agent_collectors import start_ray_node

    node = start_ray_node()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One real Chromium per test module (tests/browser.py), closed after it."""
    b = Browser()
    try:
        yield b
    finally:
        b.close()
