"""The head node's agent reads GCS's worker table (agent/collectors/workers.py) against a real Ray
node: a driver that has exited is a dead DRIVER row with its exit type; rows are offered again until
committed (a batch the spool refused loses no change), and not after, unless they change; a GCS
that refuses the call gives nothing and is counted.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from polling import wait_for
from rayscope.agent.collectors.workers import WorkerTableCollector
from rayscope.runtime.node_identity import discover

DRIVER = """
import json, os, sys, ray
ray.init(address=sys.argv[1])
@ray.remote
def f():
    return ray.get_runtime_context().get_worker_id(), os.getpid()
task_worker, task_pid = ray.get(f.remote())
print(json.dumps({"driver": ray.get_runtime_context().get_worker_id(), "pid": os.getpid(),
                  "task_worker": task_worker, "task_pid": task_pid}))
ray.shutdown()
"""


def test_worker_table_rows_until_committed(ray_node) -> None:
    ident = discover(ray_node.session_dir)
    assert ident.is_head and ident.gcs_address == ray_node.gcs_address
    res = subprocess.run([sys.executable, "-c", DRIVER, ray_node.gcs_address], env=ray_node.env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    truth = json.loads(res.stdout.strip().splitlines()[-1])
    workers = WorkerTableCollector(ident.gcs_address, Path(ray_node.token_file).read_text().strip())
    try:
        def driver_dead():
            rows = {r.event.worker_id: r for r in workers.poll(force=True)}
            d = rows.get(truth["driver"])
            return rows if d and not d.event.is_alive and d.event.HasField("exit_type") else None

        rows = wait_for("the exited driver's row, dead with an exit type", driver_dead, timeout=60)
        d = rows[truth["driver"]].event
        assert (d.worker_type, d.pid, d.node_id, d.exit_type) == ("DRIVER", truth["pid"], ident.node_id,
                                                                 "INTENDED_USER_EXIT")
        assert d.job_id and d.start_time and d.end_time >= d.start_time
        t = rows[truth["task_worker"]].event
        assert (t.worker_type, t.pid, t.node_id) == ("WORKER", truth["task_pid"], ident.node_id)
        # Not committed (the spool refused the batch): offered again.
        again = {r.event.worker_id for r in workers.poll(force=True)}
        assert {truth["driver"], truth["task_worker"]} <= again
        committed = workers.poll(force=True)
        workers.commit(committed)
        signatures = {r.event.worker_id: r.signature for r in committed}
        after = workers.poll(force=True)
        assert all(signatures.get(r.event.worker_id) != r.signature for r in after), after  # only changes
        assert truth["driver"] not in {r.event.worker_id for r in after}  # a dead row does not change
    finally:
        workers.close()
    refused = WorkerTableCollector(ident.gcs_address, "not-the-token")
    try:
        assert refused.poll(force=True) == [] and refused.errors == 1
    finally:
        refused.close()
