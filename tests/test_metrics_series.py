"""GET /metrics/nodes at the resolution the agent samples (issue 12 §4): a young cluster's default
query returns every per-second sample; an older one gets its newest 10 minutes raw and the rest of
the hour averaged; a finished run asked for from 0 comes whole. Real head, samples through the wire;
expected values are computed here from the samples sent.
"""
from __future__ import annotations

import time

import pytest

from head_process import IngestClient, running_head
from rayscope.wire import rayscope_ingest_pb2 as pb

YOUNG_A, YOUNG_B, OLD = "a1" * 28, "b2" * 28, "c3" * 28
YOUNG_S = 300          # a 5-minute-old cluster, two nodes sampling at 1 Hz on their own clocks
OLD_S = 2 * 3600       # a node that has sampled for two hours
RUN_T0 = 1_700_000_000.0
RUN_NODE, RUN_S = "d4" * 28, 75  # a finished run, long ago


def _sample(ts: float, cpu: float) -> pb.NodeSample:
    return pb.NodeSample(ts=ts, cpu_percent=cpu, mem_total=8 << 30, mem_used=int(cpu) << 20, disk_total=1, disk_used=1)


def _send(c: IngestClient, agent: str, node: str, ts: list[float], store_every: int = 5) -> None:
    seq = c.hello(agent, node)
    for k in range(0, len(ts), 2000):
        part = ts[k:k + 2000]
        seq += 1
        store = [pb.ObjectStoreSample(ts=t + 0.01, used_bytes=int(t), capacity_bytes=1 << 30)
                 for i, t in enumerate(part) if (k + i) % store_every == 0]
        assert c.send(pb.Batch(seq=seq, node_samples=[_sample(t, (k + i) % 100) for i, t in enumerate(part)],
                               object_store=store)) == seq


@pytest.fixture(scope="module")
def head():
    now = time.time()
    with running_head() as h:
        with IngestClient(h.grpc_address, h.token) as c:
            _send(c, "young-a", YOUNG_A, [now - YOUNG_S + i + 0.13 for i in range(YOUNG_S)])
        with IngestClient(h.grpc_address, h.token) as c:
            _send(c, "young-b", YOUNG_B, [now - YOUNG_S + i + 0.61 for i in range(YOUNG_S)])
        with IngestClient(h.grpc_address, h.token) as c:
            _send(c, "old", OLD, [now - OLD_S + i for i in range(OLD_S)])
        with IngestClient(h.grpc_address, h.token) as c:
            _send(c, "run", RUN_NODE, [RUN_T0 + i for i in range(RUN_S)])
        h.sent_at = now
        yield h


def _series(head, **params) -> dict[str, list[dict]]:
    r = head.get("/metrics/nodes", **params)
    assert r.status_code == 200, r.text
    return {s["node_id"]: s["points"] for s in r.json()}


def test_young_cluster_default_query_has_every_per_second_sample(head) -> None:
    got = _series(head)
    for node, offset in ((YOUNG_A, 0.13), (YOUNG_B, 0.61)):
        pts = got[node]
        assert len(pts) >= YOUNG_S - 1  # every sample (slack: one may sit on the window's edge)
        assert [round(p["ts"] - head.sent_at + YOUNG_S - offset) for p in pts] == list(range(YOUNG_S - len(pts), YOUNG_S))
        assert [p["cpu_percent"] for p in pts] == [float(i % 100) for i in range(YOUNG_S - len(pts), YOUNG_S)]


def test_object_store_value_is_the_latest_sample_at_or_before_each_point(head) -> None:
    pts = _series(head, node_id=YOUNG_A)[YOUNG_A]
    first_store = next(i for i, p in enumerate(pts) if p["object_store_used"] is not None)
    for p in pts[first_store:]:
        # store samples every 5 s, 0.01 s after a node sample (same tick): the latest one of p's tick or before
        k = int(round(p["ts"] - head.sent_at + YOUNG_S - 0.13))
        want = head.sent_at - YOUNG_S + (k - k % 5) + 0.13 + 0.01
        assert p["object_store_used"] in (int(want), int(want) + 1, int(want) - 1), (k, p)


def test_older_cluster_newest_ten_minutes_raw_rest_of_the_hour_averaged(head) -> None:
    pts = _series(head, node_id=OLD, max_points=100)[OLD]
    now = head.sent_at
    raw = [p for p in pts if p["ts"] >= now - 600]
    old = [p for p in pts if p["ts"] < now - 600]
    idx = [p["ts"] - (now - OLD_S) for p in raw]  # the samples themselves: consecutive seconds, own values
    assert len(raw) >= 599 and all(abs(x - round(x)) < 1e-3 for x in idx)
    assert [round(x) for x in idx] == list(range(round(idx[0]), OLD_S))
    assert [p["cpu_percent"] for p in raw] == [float(round(x) % 100) for x in idx]
    assert 90 <= len(old) <= 101  # the 50 minutes before, in about max_points buckets
    assert pts[0]["ts"] <= now - 3600 + 40  # the whole hour is covered
    assert [p["ts"] for p in pts] == sorted(p["ts"] for p in pts)
    assert head.get("/metrics/nodes", raw_s=-1).status_code == 400


def test_finished_run_asked_from_zero_comes_whole(head) -> None:
    pts = _series(head, node_id=RUN_NODE, since=0, until=RUN_T0 + RUN_S + 1, max_points=600)[RUN_NODE]
    assert [p["ts"] for p in pts] == [RUN_T0 + i for i in range(RUN_S)]


def test_latest_gives_each_nodes_newest_samples_as_taken(head) -> None:
    """?latest=N: each node's N newest samples, unaveraged, whatever their age (the nodes page's rates)."""
    got = _series(head, node_id=[YOUNG_A, RUN_NODE], latest=2)
    assert set(got) == {YOUNG_A, RUN_NODE}
    newest_a = head.sent_at - YOUNG_S + (YOUNG_S - 1) + 0.13
    assert [p["ts"] for p in got[YOUNG_A]] == pytest.approx([newest_a - 1, newest_a])
    assert [p["cpu_percent"] for p in got[YOUNG_A]] == [float((YOUNG_S - 2) % 100), float((YOUNG_S - 1) % 100)]
    # the finished run's last two samples, long ago; its store sample of 5 s before carried forward
    assert [p["ts"] for p in got[RUN_NODE]] == [RUN_T0 + RUN_S - 2, RUN_T0 + RUN_S - 1]
    # store samples every 5th tick (used_bytes = its ts): the newest, tick 70, carried to both (73, 74)
    assert [p["object_store_used"] for p in got[RUN_NODE]] == [int(RUN_T0 + 70 + 0.01)] * 2
    every = _series(head, latest=1)
    assert set(every) == {YOUNG_A, YOUNG_B, OLD, RUN_NODE} and all(len(p) == 1 for p in every.values())
    assert head.get("/metrics/nodes", latest=11).status_code in (400, 422)
