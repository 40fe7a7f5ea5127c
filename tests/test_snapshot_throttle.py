"""Which process snapshots the head stores as the cluster grows (dashboard/store/snapshot_throttle.py)."""
from __future__ import annotations

from rayscope.dashboard.store.snapshot_throttle import SnapshotThrottle
from rayscope.wire import rayscope_ingest_pb2 as pb


def snap(ts: float, pids=(10, 11, 12), cpu: float = 1.0) -> pb.ProcessSnapshot:
    return pb.ProcessSnapshot(ts=ts, processes=[pb.RayProcess(pid=p, role="worker", cpu_percent=cpu) for p in pids])


def nodes(n: int) -> list[str]:
    return [f"{i:056x}" for i in range(n)]


def test_a_small_cluster_stores_every_snapshot() -> None:
    t = SnapshotThrottle()
    assert all(t.admit(node, snap(1000.0 + s, cpu=s), 50.0 + s) for s in range(5) for node in nodes(50))
    assert all(t.admit(node, snap(1004.0 + s / 10, cpu=s), 54.0 + s / 10) for s in range(5) for node in nodes(50)), \
        "even snapshots a tenth of a second apart"
    assert t.skipped == 0


def test_a_large_cluster_stores_a_node_every_few_seconds_but_a_change_of_processes_at_once() -> None:
    t = SnapshotThrottle(nodes_per_interval_s=200, max_interval_s=10.0)
    ids = nodes(1000)
    stored: dict[str, list[int]] = {i: [] for i in ids}
    for s in range(12):  # each second every node's snapshot, its agent's clock 7 s off the head's
        for i in ids:
            if t.admit(i, snap(1000.0 + s, cpu=s), 993.0 + s):
                stored[i].append(s)
    # the first second stores all (the interval grows as nodes appear), then every 5 s
    assert all(v == [0, 5, 10] for v in stored.values()), stored[ids[0]]
    assert t.interval_s(1004.0) == 5.0
    assert not t.admit(ids[0], snap(1011.5), 1004.5)
    assert t.admit(ids[0], snap(1011.6, pids=(10, 11, 12, 13)), 1004.6), "a new process is stored at once"
    assert t.admit(ids[0], snap(1011.7, pids=(10, 11)), 1004.7), "and a gone one too"
    t.forget(ids[1])
    assert t.admit(ids[1], snap(1011.8), 1004.8), "after a reconnect the next snapshot is stored"


def test_the_interval_is_capped_and_follows_the_nodes_still_shipping() -> None:
    t = SnapshotThrottle(nodes_per_interval_s=10, max_interval_s=3.0)
    for i in nodes(100):
        t.admit(i, snap(1000.0), 1000.0)
    assert t.interval_s(1001.0) == 3.0  # counted again a second later
    t.admit(nodes(1)[0], snap(1100.0), 1100.0)  # 100 s later only one node still ships
    assert t.interval_s(1100.0) == 1.0
