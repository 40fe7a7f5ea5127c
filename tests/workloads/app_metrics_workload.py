"""Ground truth for tests/test_app_metrics_e2e.py: an actor records application metrics with tags.

`python app_metrics_workload.py GCS_ADDRESS` starts a `Bank` actor that records, with
ray.util.metrics, a Counter `failed_withdrawals` (tag `bank`: north 3, south 2), a Gauge `balance`
(north 42.5) and a Histogram `withdraw_ms` (north: 5, 50, 500), prints `TRUTH {...}` with those
numbers and every node's metrics export address (from `ray.nodes()`), and keeps the actor alive
(Ray exports a process's metrics only while it lives) until
its stdin closes.
`python app_metrics_workload.py GCS_ADDRESS many N` instead has an actor count one read on each of N
shards (Counter `shard_reads`, tag `shard`: "0".."N-1"), prints `TRUTH {"shards": N}` and waits likewise.
"""
from __future__ import annotations

import json
import sys

import ray
from ray.util.metrics import Counter, Gauge, Histogram

WITHDRAWALS = {"north": [5.0, 50.0, 500.0]}
FAILED = {"north": 3, "south": 2}
BALANCE = {"north": 42.5}


@ray.remote(num_cpus=0)
class Bank:
    def __init__(self) -> None:
        self.failed = Counter("failed_withdrawals", description="Withdrawals refused.", tag_keys=("bank",))
        self.balance = Gauge("balance", description="Money in the vault.", tag_keys=("bank",))
        self.latency = Histogram("withdraw_ms", description="Withdrawal time.", boundaries=[10.0, 100.0],
                                 tag_keys=("bank",))

    def record(self) -> bool:
        for bank, n in FAILED.items():
            for _ in range(n):
                self.failed.inc(1.0, tags={"bank": bank})
        for bank, value in BALANCE.items():
            self.balance.set(value, tags={"bank": bank})
        for bank, values in WITHDRAWALS.items():
            for v in values:
                self.latency.observe(v, tags={"bank": bank})
        return True


@ray.remote(num_cpus=0)
class Shards:
    def read_all(self, n: int) -> bool:
        reads = Counter("shard_reads", description="Reads per shard.", tag_keys=("shard",))
        for i in range(n):
            reads.inc(1.0, tags={"shard": str(i)})
        return True


if __name__ == "__main__" and sys.argv[2:3] == ["many"]:
    ray.init(address=sys.argv[1], log_to_driver=False)
    shards = Shards.remote()
    assert ray.get(shards.read_all.remote(int(sys.argv[3])))
    print("TRUTH " + json.dumps({"shards": int(sys.argv[3])}), flush=True)
    sys.stdin.read()
    ray.shutdown()
elif __name__ == "__main__":
    ray.init(address=sys.argv[1], log_to_driver=False)
    bank = Bank.remote()
    assert ray.get(bank.record.remote())
    truth = {"failed": FAILED, "balance": BALANCE,
             "withdraw_count": {b: len(v) for b, v in WITHDRAWALS.items()},
             "withdraw_sum": {b: sum(v) for b, v in WITHDRAWALS.items()},
             # every live node's metrics export address, as GCS knows it (the test reads Ray's own figures there)
             "endpoints": [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in ray.nodes() if n["Alive"]]}
    print("TRUTH " + json.dumps(truth), flush=True)
    sys.stdin.read()  # keep the actor (and its metrics) alive until the test closes our stdin
    ray.shutdown()
