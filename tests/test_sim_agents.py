"""The scale benchmark's load generator (bench/sim_agents.py) against a real head: its simulated agents
show up as nodes with samples, processes, tasks and log files through the API, and survive their
reconnects without a stream error. Keeps the generator from rotting silently (it is only run by hand
at full size, in bench/bench_scale.py, and by the 1,000-node web UI test)."""
from __future__ import annotations

import sys
from pathlib import Path

from head_process import running_head
from polling import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from sim_agents import SimulatedCluster  # noqa: E402

NODES = 4
WORKERS = 5


def test_simulated_agents_show_up_as_nodes_with_samples_processes_and_tasks() -> None:
    with running_head() as head, head.client() as api:
        def get(path: str, **params):
            r = api.get("/api/v1" + path, params=params)
            r.raise_for_status()
            return r.json()

        with SimulatedCluster(head.grpc_address, head.token, nodes=NODES, workers_per_node=WORKERS,
                              tasks_per_s_per_node=3, reconnect_every_s=2.0) as sim:
            sim.wait_connected(timeout=20)
            ids = sim.node_ids()
            assert len(set(ids)) == NODES

            def nodes_with_samples():
                rows = {n["node_id"]: n for n in get("/nodes", limit=100)["rows"]}
                ok = all(i in rows and rows[i]["cpu_percent"] is not None and rows[i]["agent_connected"]
                         and rows[i]["node_ip"] and rows[i]["resources_total"] for i in ids)
                return rows if ok else None

            rows = wait_for("every simulated node listed, connected, with its latest sample and resources",
                            nodes_with_samples, timeout=20, context=head.log_text)
            assert sum(1 for i in ids if rows[i]["is_head_node"]) == 1

            def processes_of(node_id: str):
                procs = get("/processes", filter=f"node_id={node_id}", limit=1000)["rows"]
                return procs if sum(p["role"] == "worker" for p in procs) == WORKERS else None

            procs = wait_for("a simulated node's process snapshot with its workers", lambda: processes_of(ids[1]),
                             timeout=20)
            assert len({p["pid"] for p in procs}) == len(procs)
            assert all(p["role"] != "worker" or p["worker_id"] for p in procs)

            def finished_tasks_of(node_id: str):
                page = get("/tasks", filter=f"node_id={node_id}", limit=100)["rows"]
                return [t for t in page if t["state"] in ("FINISHED", "FAILED")]

            wait_for("finished tasks run on a simulated node", lambda: finished_tasks_of(ids[2]), timeout=20)
            files = get("/logs/files", filter=f"node_id={ids[3]}", limit=100)["rows"]
            assert files, "the simulated node's log files are listed"

            # Every agent reconnects every ~1-3 s: wait for several, then check none broke a stream and
            # no sample taken before them was lost (each is resent until acked).
            wait_for("as many reconnects as agents", lambda: sim.stats().reconnects >= NODES, timeout=20)
            taken = sim.samples_taken()[0]

            def stored_samples() -> int:
                series = get("/metrics/nodes", node_id=ids[0], since=0, raw_s=3600, max_points=1)
                return len(series[0]["points"]) if series else 0

            wait_for(f"the {taken} samples node 0 took before the reconnects, all stored",
                     lambda: stored_samples() >= taken, timeout=20)
            st = sim.stats()
            assert st.errors == 0, st.last_error
            assert st.batches_acked > 0 and st.lag_samples > 0
