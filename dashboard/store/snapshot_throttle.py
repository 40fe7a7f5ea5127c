"""How often a node's process snapshot is stored, as the cluster grows.

Why: every agent ships its node's whole process table every second (agent/volatile.py keeps only the
latest). Storing each one rewrites ~35 rows per node per second: at 1,000 nodes ~35,000 rows a second,
a quarter of the writer's time (bench/bench_scale.py, docs/scale.md). Only the latest snapshot is
kept, so a skipped one loses no history; it only makes the CPU and memory figures of the Processes
table older. So a snapshot whose processes are the same ones as in the node's last stored snapshot
(same pids, roles, worker and job ids) is stored only once `interval_s()` has passed since that one;
a snapshot where a process appeared or went is stored at once. The interval is 1 s (every snapshot)
up to NODES_PER_INTERVAL_S nodes and grows with the number of nodes that shipped one lately, up to
MAX_INTERVAL_S. The stored row's `sampled_at` says how old its figures are.

Runs on the head's preparer thread (one caller at a time), before the batches go to the writer.
"""
from __future__ import annotations

from dataclasses import dataclass

from rayscope.wire import rayscope_ingest_pb2 as pb

NODES_PER_INTERVAL_S = 200  # up to 200 nodes every snapshot is stored; 1,000 nodes: every 5 s
MAX_INTERVAL_S = 10.0
ACTIVE_WINDOW_S = 30.0  # a node that shipped a snapshot this recently counts towards the interval


@dataclass
class _Stored:
    ts: float  # the stored snapshot's own time
    members: int  # hash of its processes' identities


def _members(snap: pb.ProcessSnapshot) -> int:
    return hash(frozenset((p.pid, p.role, p.worker_id, p.job_id) for p in snap.processes))


class SnapshotThrottle:
    def __init__(self, nodes_per_interval_s: int = NODES_PER_INTERVAL_S, max_interval_s: float = MAX_INTERVAL_S) -> None:
        self.nodes_per_interval_s = nodes_per_interval_s
        self.max_interval_s = max_interval_s
        self._stored: dict[str, _Stored] = {}
        self._seen: dict[str, float] = {}  # node -> when (head's clock) its latest snapshot arrived
        self._active = 0
        self._counted_at = float("-inf")
        self.skipped = 0  # snapshots not stored (superseded by a later one of the same processes)

    def interval_s(self, now: float) -> float:
        """now: the head's clock (agents' clocks differ)."""
        if abs(now - self._counted_at) >= 1.0:  # recounted once a second, not per snapshot
            self._active = sum(1 for ts in self._seen.values() if now - ts <= ACTIVE_WINDOW_S)
            self._counted_at = now
        return min(self.max_interval_s, max(1.0, self._active / self.nodes_per_interval_s))

    def admit(self, node_id: str, snap: pb.ProcessSnapshot, now: float) -> bool:
        """Whether to store `snap` (True), or leave the node's stored one in place (False). now: the
        head's clock; the interval is measured between the node's own snapshot times."""
        self._seen[node_id] = now
        interval = self.interval_s(now)
        members = _members(snap)
        last = self._stored.get(node_id)
        if (interval <= 1.0  # a cluster this small: every snapshot, whatever its time
                or last is None or last.members != members or snap.ts < last.ts
                or snap.ts - last.ts >= interval - 0.05):  # 0.05: a tick's jitter
            self._stored[node_id] = _Stored(snap.ts, members)
            return True
        self.skipped += 1
        return False

    def forget(self, node_id: str) -> None:
        """The node's agent reconnected: its next snapshot is stored whatever it holds (a head that
        lost an uncommitted transaction must not keep the node's processes stale for long)."""
        self._stored.pop(node_id, None)
