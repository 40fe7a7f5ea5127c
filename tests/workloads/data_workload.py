"""Ground truth for tests/test_data_e2e.py: a Ray Data pipeline with an actor-pool stage.

`python data_workload.py GCS_ADDRESS` (with or without RAY_DATA_EXECUTION_CALLBACKS) prints
`READY {"job_id": ..., "endpoints": [each node's Ray metrics endpoint]}`, waits for a line on stdin (the test is watching by then), runs
range(400, 20 blocks) -> map(slow) -> map_batches(AddOne, 2 actors) -> filter -> take_all, and
prints `TRUTH {...}`: the rows it got back and, per operator, what Ray's own `ds.stats()` says
(tasks executed, blocks produced, output rows). Then it waits for stdin to close.
"""
from __future__ import annotations

import json
import re
import sys
import time

import ray

ROWS, BLOCKS = 400, 20
_OP = re.compile(r"^Operator \d+ (.+): (\d+) tasks executed, (\d+) blocks produced", re.M)
_ROWS = re.compile(r"Total output num rows: (\d+) rows")


class AddOne:
    def __call__(self, batch):
        time.sleep(0.6)  # slow enough for the test to watch progress while it runs
        batch["id"] = batch["id"] + 1
        return batch


def slow(row):
    time.sleep(0.005)
    return row


def stats_by_operator(text: str) -> dict[str, dict[str, int]]:
    """Ray's own per-operator figures from ds.stats(): each 'Operator N name: ...' block and its
    'Total output num rows'."""
    out = {}
    heads = list(_OP.finditer(text))
    for i, m in enumerate(heads):
        block = text[m.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        rows = _ROWS.search(block)
        out[m.group(1)] = {"tasks": int(m.group(2)), "blocks": int(m.group(3)),
                           "rows": int(rows.group(1)) if rows else -1}
    return out


def main() -> None:
    ray.init(address=sys.argv[1])
    endpoints = [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in ray.nodes() if n["Alive"]]
    print("READY " + json.dumps({"job_id": ray.get_runtime_context().get_job_id(), "endpoints": endpoints}),
          flush=True)
    sys.stdin.readline()
    ds = (ray.data.range(ROWS, override_num_blocks=BLOCKS).map(slow)
          .map_batches(AddOne, concurrency=2).filter(lambda r: r["id"] % 3 == 0))
    rows = ds.take_all()
    truth = {"rows": len(rows), "expected_filtered": sum(1 for i in range(ROWS) if (i + 1) % 3 == 0),
             "operators": stats_by_operator(ds.stats())}
    print("TRUTH " + json.dumps(truth), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
