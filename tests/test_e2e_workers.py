"""`rayscope list workers` after the job ended: dead workers stay listed with Ray's exit type and
detail (issue 12 §4), as `ray list workers --detail` shows them.

A real 2-node cluster (with Ray's own dashboard, for the oracle) runs a job whose actor is killed
with ray.kill, whose other actor exits itself and whose task's worker calls os._exit; after the driver has exited, the CLI and the
API list both workers (and the driver) dead, with the exit type and detail Ray's State API gives
for the same worker ids.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from polling import wait_for
from rayscope.runtime.local_cluster import LocalCluster, local_cluster

WORKLOAD = Path(__file__).parent / "workloads" / "dying_workers.py"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster(ray_dashboard=True) as c:
        yield c


@pytest.fixture(scope="module")
def truth(cluster: LocalCluster) -> dict:
    res = subprocess.run([sys.executable, str(WORKLOAD), cluster.gcs_address], env=cluster.env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("TRUTH "))[6:])


def _rayscope_workers(cluster: LocalCluster) -> dict[str, dict]:
    res = cluster.cli("list", "workers", "--json", "--limit", "10000", "--address", cluster.http_url, timeout=60)
    assert res.returncode == 0, res.stderr
    return {w["worker_id"]: w for w in json.loads(res.stdout) if w["worker_id"]}


def _ray_workers(cluster: LocalCluster) -> dict[str, dict]:
    """The oracle: Ray's own CLI over its State API, parsed here (no Rayscope code involved)."""
    res = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "list", "workers", "--detail",
                          "--format", "json", "--limit", "10000", "--address", cluster.ray_dashboard_url],
                         env=cluster.env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return {w["worker_id"]: w for w in json.loads(res.stdout)}


def test_dead_workers_are_listed_with_their_exit_type(cluster: LocalCluster, truth: dict) -> None:
    killed, exited, quit_ = (truth[k]["worker_id"] for k in ("killed", "exited", "quit"))

    def both_dead() -> dict[str, dict] | None:
        rows = _rayscope_workers(cluster)
        done = all(w in rows and not rows[w]["is_alive"] and rows[w]["exit_type"] for w in (killed, exited, quit_))
        drivers = [r for r in rows.values() if r["worker_type"] == "DRIVER" and r["job_id"] == truth["job_id"]]
        return rows if done and drivers and not drivers[0]["is_alive"] else None

    ours = wait_for("the three dead workers and the job's driver, listed dead", both_dead, timeout=90)
    ray_rows = _ray_workers(cluster)
    for wid, pid in ((w["worker_id"], w["pid"]) for w in (truth["killed"], truth["exited"], truth["quit"])):
        mine, theirs = ours[wid], ray_rows[wid]
        assert mine["pid"] == pid == theirs["pid"]
        assert theirs["is_alive"] is False
        assert (mine["exit_type"], mine["exit_detail"]) == (theirs["exit_type"], theirs["exit_detail"]), wid
    assert ours[killed]["exit_type"] == "INTENDED_SYSTEM_EXIT"  # what Ray 2.60 records for ray.kill
    assert ours[quit_]["exit_type"] == "INTENDED_USER_EXIT"
    assert ours[exited]["exit_type"] == "SYSTEM_ERROR"
    # Every worker Ray knows is listed, alive or dead as Ray says.
    missing = set(ray_rows) - set(ours)
    assert not missing, f"workers Ray lists and Rayscope does not: {missing}"
    for wid, theirs in ray_rows.items():
        if not theirs["is_alive"]:
            assert ours[wid]["is_alive"] is False and ours[wid]["exit_type"] == theirs["exit_type"], wid

    # The table the user reads: dead rows with their exit type.
    table = cluster.cli("list", "workers", "--filter", "is_alive=false", "--address", cluster.http_url, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "No workers found" not in table.stdout
    line = next(ln for ln in table.stdout.splitlines() if exited in ln)
    assert "SYSTEM_ERROR" in line.split() and "false" in line.split()

    # The API answers the same, filtered by exit type.
    with httpx.Client(base_url=cluster.http_url + "/api/v1", headers={"Authorization": f"Bearer {cluster.token}"},
                      timeout=30) as api:
        rows = api.get("/workers", params={"filter": "exit_type=INTENDED_USER_EXIT", "limit": 1000}).json()["rows"]
    assert quit_ in {r["worker_id"] for r in rows} and killed not in {r["worker_id"] for r in rows}
