"""Ray Data progress delay (issue 13, acceptance 2): from an operator's progress in the driver to the
head's API showing it, Rayscope vs Ray's own `GET /api/data/datasets/{job_id}`, on one real 2-node
cluster (with Ray's dashboard) and one pipeline run.

Ground truth is sampled in the driver itself: a second ExecutionCallback (added to the DataContext by
the driver) stamps each change of each operator's figures in every scheduling step: the blocks its
consumer took (`num_outputs_taken`, what Rayscope's "Outputted blocks" shows) and its completed tasks
(`OpState.num_completed_tasks`, what Ray's endpoint calls `progress`). Both APIs are polled every
POLL_S seconds while the pipeline runs; a change's delay is the first poll showing a value at least
as high minus the driver's stamp (same host, same clock; resolution POLL_S). Changes an API never
showed while the pipeline ran are counted apart.

Also prints the head node's agent CPU and memory over AGENT_WINDOW_S seconds of the run (the driver,
its progress file and Ray's _StatsActor are on that node): the budget is < 2 % of a core, < 50 MB USS.

Run: `.venv/bin/python bench/bench_data_delay.py [--blocks 60] [--batch-s 0.4]`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procstat import ProcessUsage, measure  # noqa: E402
from rayscope.runtime.data_progress import ENV_VALUE  # noqa: E402
from rayscope.runtime.local_cluster import local_cluster  # noqa: E402
from timing import Latency, print_comparison  # noqa: E402

POLL_S = 0.2
AGENT_WINDOW_S = 10.0

DRIVER = textwrap.dedent('''
    import json, sys, time
    import ray
    from ray.data._internal.execution.execution_callback import ExecutionCallback

    def say(kind, **kw):
        print(kind + " " + json.dumps(kw), flush=True)

    class Truth(ExecutionCallback):
        """Stamps each change of each operator's outputs taken and completed tasks."""
        def __init__(self):
            self.last = {}
        def _look(self, ex):
            now = time.time()
            for i, (op, st) in enumerate(ex._topology.items()):
                key = f"{op.name}_{i}"
                cur = (op.metrics.num_outputs_taken, st.num_completed_tasks)
                if self.last.get(key) != cur:
                    self.last[key] = cur
                    say("CHANGE", op=key, t=now, taken=cur[0], tasks=cur[1])
        def before_execution_starts(self, ex):
            say("DATASET", dataset_id=ex._dataset_id, job_id=ray.get_runtime_context().get_job_id())
            self._look(ex)
        def on_execution_step(self, ex):
            self._look(ex)
        def after_execution_succeeds(self, ex):
            self._look(ex)
            say("DONE", t=time.time())

    class Slow:
        def __call__(self, batch):
            time.sleep(BATCH_S)
            return batch

    ray.init(address=sys.argv[1])
    ray.data.DataContext.get_current().custom_execution_callback_classes.append(Truth)
    ray.data.range(BLOCKS * 10, override_num_blocks=BLOCKS).map_batches(Slow, concurrency=2) \\
        .filter(lambda r: r["id"] % 2 == 0).take_all()
''')


class Poller(threading.Thread):
    """Polls one API every POLL_S, keeping for each (operator, figure, value) the first time seen."""

    def __init__(self, read) -> None:  # read() -> {op_id: value}
        super().__init__(daemon=True)
        self.read, self.first = read, {}
        self.stop, self.errors = threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                now, values = time.time(), self.read()
                for op, v in values.items():
                    self.first.setdefault((op, v), now)
            except (httpx.HTTPError, KeyError, ValueError):
                self.errors += 1
            self.stop.wait(POLL_S)

    def shown_at(self, op: str, value: int) -> float | None:
        times = [t for (o, v), t in self.first.items() if o == op and v is not None and v >= value]
        return min(times) if times else None


def delays(changes: list[dict], figure: str, poller: Poller) -> tuple[list[float], int]:
    out, missed = [], 0
    for c in changes:
        if c[figure] <= 0:
            continue
        t = poller.shown_at(c["op"], c[figure])
        if t is None:
            missed += 1
        else:
            out.append(max(0.0, t - c["t"]))
    return out, missed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=60)
    ap.add_argument("--batch-s", type=float, default=0.4)
    args = ap.parse_args()
    script = Path(tempfile.mkdtemp(prefix="bench-data-")) / "driver.py"
    script.write_text(DRIVER.replace("BATCH_S", str(args.batch_s)).replace("BLOCKS", str(args.blocks)))
    with local_cluster(ray_dashboard=True) as c:
        assert c.ray_dashboard_url
        headers = {"Authorization": f"Bearer {c.token}"}
        env = dict(c.env, RAY_DATA_EXECUTION_CALLBACKS=ENV_VALUE, RAY_enable_export_api_write="1")
        proc = subprocess.Popen([sys.executable, str(script), c.gcs_address], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        changes: list[dict] = []
        ours = theirs = None
        agent: list[ProcessUsage] = []
        head = next(n for n in c.state.nodes if n.role == "head")
        assert head.agent is not None
        agent_pid = head.agent.pid
        for line in proc.stdout:
            kind, _, body = line.partition(" ")
            if kind == "DATASET":
                ds = json.loads(body)
                ours = Poller(lambda: {o["operator_id"]: o["blocks_output"] for o in httpx.get(
                    f"{c.http_url}/api/v1/datasets/{ds['dataset_id']}", headers=headers, timeout=10).json()["operators"]})
                theirs = Poller(lambda: {o["operator"]: o["progress"] for d in httpx.get(
                    f"{c.ray_dashboard_url}/api/data/datasets/{ds['job_id']}", headers=headers, timeout=10
                ).json()["datasets"] if d["dataset"] == ds["dataset_id"] for o in d["operators"]})
                ours.start()
                theirs.start()
                threading.Thread(target=lambda: agent.append(measure(agent_pid, AGENT_WINDOW_S)), daemon=True).start()
            elif kind == "CHANGE":
                changes.append(json.loads(body))
            elif kind == "DONE":
                break
        time.sleep(15)  # both sides' final updates (Ray's forced one at the end; our last sample)
        assert ours is not None and theirs is not None
        ours.stop.set()
        theirs.stop.set()
        proc.wait(60)
        ok, ok_missed = delays(changes, "taken", ours)
        ray, ray_missed = delays(changes, "tasks", theirs)
    print(f"\n{len(changes)} changes stamped in the driver ({args.blocks} blocks, {args.batch_s} s per batch, "
          f"2 actors); polled every {POLL_S} s")
    print(f"never shown: rayscope {ok_missed}, ray {ray_missed}; polls without the dataset (not listed yet, "
          f"or an error): rayscope {ours.errors}, ray {theirs.errors}")
    if agent:
        print(f"head node's agent over {AGENT_WINDOW_S:.0f} s of the run: {agent[0].cpu_percent_of_one_core:.2f} % of "
              f"one core, USS {agent[0].uss_bytes / 2**20:.1f} MB, RSS {agent[0].rss_bytes / 2**20:.1f} MB")
    if ok and ray:
        print_comparison("operator progress in the driver -> shown by the API",
                         [("blocks output (ours) / progress (Ray)", Latency(ok), Latency(ray))])


if __name__ == "__main__":
    main()
