"""GET /metrics/nodes/distribution and /distribution/cell (issue 15, the UI at 1,000 nodes): per time
step, how many nodes, their quantiles and a histogram of nodes per 5 % bucket, each node's samples in
the step averaged first; a cell lists exactly the nodes it counted. Real head, samples through the
wire; every expected figure is computed here from the values sent.
"""
from __future__ import annotations

import math
import sqlite3
import time

import pytest

from head_process import IngestClient, running_head
from rayscope.dashboard import models as m
from rayscope.dashboard.store.apply_metrics import INSERT_SAMPLE, sample_row
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.read_node_distribution import DistributionCache
from rayscope.dashboard.store.retention import RetentionPolicy, enforce
from rayscope.wire import rayscope_ingest_pb2 as pb

NODES = 119  # plus HOT: past the UI's 100-node switch to distributions
STEP = 15  # the head's rollup slot (dashboard/store/schema_rollup.py): the finest step
STEPS = 4
GIB = 1 << 30
HOT = "ff" * 28
HOT_BASE = 97.7
LATE = "ee" * 28


def node_id(i: int) -> str:
    return f"{i:04x}" * 14


def base(i: int) -> float:
    """Node i's average CPU in every step; never on a bucket edge (x.1, .3, .5, .7, .9)."""
    return 2.3 + 0.8 * i


def _samples(t0: float, avg: float, gpu: bool) -> tuple[list[pb.NodeSample], list[pb.ObjectStoreSample]]:
    """STEPS steps of STEP one-second samples around `avg` (-1.4..+1.4 within each step: the step's
    average is `avg`); memory at avg/2 %, the object store at avg %, the GPU (if any) at avg %."""
    nodes, stores = [], []
    for j in range(STEP * STEPS):
        ts = t0 + j + 0.25
        cpu = avg + ((j % STEP) - 7) * 0.2
        gpus = [pb.GpuSample(index=0, utilization_ratio=cpu / 100, memory_total=GIB)] if gpu else []
        nodes.append(pb.NodeSample(ts=ts, cpu_percent=cpu, mem_total=200 * GIB, mem_used=int(cpu * GIB), disk_total=1,
                                   disk_used=1, gpus=gpus))
        stores.append(pb.ObjectStoreSample(ts=ts + 0.01, used_bytes=int(cpu * GIB / 100), capacity_bytes=GIB))
    return nodes, stores


def _send(h, node: str, t0: float, avg: float, gpu: bool = False) -> None:
    nodes, stores = _samples(t0, avg, gpu)
    with IngestClient(h.grpc_address, h.token) as c:
        seq = c.hello(f"agent-{node[:8]}", node) + 1
        assert c.send(pb.Batch(seq=seq, node_samples=nodes, object_store=stores)) == seq


@pytest.fixture(scope="module")
def head():
    t0 = math.floor((time.time() - 900) / STEP) * STEP  # 15 minutes ago: every step complete
    with running_head() as h:
        for i in range(NODES):
            _send(h, node_id(i), t0, base(i), gpu=i % 3 == 0)
        _send(h, HOT, t0, HOT_BASE)
        h.t0 = t0
        yield h


def _get(head, path: str, **params) -> dict:
    r = head.get(path, **params)
    assert r.status_code == 200, r.text
    return r.json()


def _dist(head, **params) -> dict[str, dict]:
    out = _get(head, "/metrics/nodes/distribution", since=head.t0, until=head.t0 + STEP * STEPS, step=STEP, **params)
    assert out["step"] == STEP and out["bucket_edges"] == [5.0 * i for i in range(21)]
    return {x["metric"]: x for x in out["metrics"]}


def _nearest_rank(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[max(0, math.ceil(q * len(v)) - 1)]


def _buckets(values: list[float]) -> list[int]:
    counts = [0] * 20
    for v in values:
        counts[min(19, int(v // 5))] += 1
    return counts


@pytest.mark.parametrize("metric,scale,has", [("cpu", 1.0, lambda i: True), ("mem", 0.5, lambda i: True),
                                              ("store", 1.0, lambda i: True), ("gpu", 1.0, lambda i: i % 3 == 0)])
def test_every_step_counts_each_node_once_with_its_average(head, metric, scale, has) -> None:
    values = [base(i) * scale for i in range(NODES) if has(i)] + ([HOT_BASE * scale] if metric != "gpu" else [])
    steps = _dist(head, metric=metric)[metric]["steps"]
    assert [s["ts"] for s in steps] == [head.t0 + STEP * k for k in range(STEPS)]
    for s in steps:
        assert s["nodes"] == len(values) and sum(s["counts"]) == len(values)
        assert s["counts"] == _buckets(values)
        # store: used bytes are whole bytes of a GiB; the rest exact but for float sums
        assert s["min"] == pytest.approx(min(values), abs=1e-6) and s["max"] == pytest.approx(max(values), abs=1e-6)
        for q in (0.5, 0.9):
            assert abs(s[f"p{round(q * 100)}"] - _nearest_rank(values, q)) <= 1.0, (q, s)


def test_a_cell_lists_the_nodes_it_counted_highest_first(head) -> None:
    top = _get(head, "/metrics/nodes/distribution/cell", metric="cpu", ts=head.t0 + STEP, step=STEP, bucket=19)
    want = sorted([(base(i), node_id(i)) for i in range(NODES) if base(i) >= 95] + [(HOT_BASE, HOT)], reverse=True)
    assert top["total"] == len(want) and (top["low"], top["high"]) == (95.0, 100.0)
    assert [(n["node_id"], round(n["value"], 6)) for n in top["nodes"]] == [(n, round(v, 6)) for v, n in want]
    assert top["nodes"][0]["node_id"] == HOT and top["nodes"][0]["state"] == "ALIVE"
    mid = _get(head, "/metrics/nodes/distribution/cell", metric="cpu", ts=head.t0, step=STEP, bucket=4, limit=2)
    in_bucket = [i for i in range(NODES) if 20 <= base(i) < 25]
    assert mid["total"] == len(in_bucket) and len(mid["nodes"]) == 2


def test_a_late_sample_reaches_steps_already_summed(head) -> None:
    """An agent cut off for minutes ships its spool: the complete steps the head had summed (and
    keeps) must count the late node too."""
    before = _dist(head, metric="cpu")["cpu"]["steps"]
    _send(head, LATE, head.t0, 50.1)
    after = _dist(head, metric="cpu")["cpu"]["steps"]
    assert [s["nodes"] for s in after] == [s["nodes"] + 1 for s in before]
    assert [s["counts"][10] for s in after] == [s["counts"][10] + 1 for s in before]


def test_the_default_step_fits_the_range_and_the_range_fits_the_samples(head) -> None:
    out = _get(head, "/metrics/nodes/distribution", since=head.t0 - 3600, until=head.t0 + 3600, max_points=10)
    assert out["step"] == STEP and out["since"] == head.t0 and out["until"] == head.t0 + STEP * STEPS
    assert out["partial_from"] is None  # long over: nothing still arriving
    assert {x["metric"] for x in out["metrics"]} == {"cpu", "mem", "store", "gpu"}


def test_nodes_at_least_this_busy_and_series_of_chosen_nodes(head) -> None:
    last_cpu = {node_id(i): base(i) + 1.4 for i in range(NODES)} | {HOT: HOT_BASE + 1.4}  # a step's last sample: +1.4
    page = _get(head, "/nodes", min_cpu_percent=90, sort="-cpu_percent", limit=1000)
    assert [n["node_id"] for n in page["rows"]] == sorted((n for n, v in last_cpu.items() if v >= 90),
                                                          key=lambda n: -last_cpu[n])
    assert page["rows"][0]["node_id"] == HOT
    every = _get(head, "/nodes", limit=1000)["rows"]
    assert _get(head, "/nodes/summary") == {"total": len(every), "states": {"ALIVE": len(every)}}
    series = _get(head, "/metrics/nodes", node_id=[HOT, node_id(3)], since=head.t0, until=head.t0 + 60)
    assert sorted(s["node_id"] for s in series) == sorted([HOT, node_id(3)])


@pytest.mark.parametrize("path,params,says", [
    ("/metrics/nodes/distribution", {"metric": "disk"}, "metric"),
    ("/metrics/nodes/distribution", {"step": 0}, "step must be a multiple of 15 s"),
    ("/metrics/nodes/distribution", {"step": 20}, "step must be a multiple of 15 s"),
    ("/metrics/nodes/distribution", {"max_points": 0}, "max_points must be between"),
    ("/metrics/nodes/distribution/cell", {"metric": "cpu", "ts": 0, "step": 15, "bucket": 20}, "bucket must be between"),
    ("/metrics/nodes/distribution/cell", {"metric": "cpu", "ts": 7, "step": 15, "bucket": 1}, "ts must be a step's start"),
    ("/nodes", {"min_cpu_percent": 101}, "min_cpu_percent"),
])
def test_bad_input_is_a_one_line_400(head, path, params, says) -> None:
    r = head.get(path, **params)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert says in err and "\n" not in err, err


def _rollup(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in r)
            for r in conn.execute("SELECT * FROM node_rollup ORDER BY slot, node_id")]


def test_a_store_written_before_the_rollup_is_rolled_up_once_and_retention_trims_it(tmp_path) -> None:
    """The rollup the triggers keep as samples arrive equals the one rolled up at once from a store
    written before it existed; retention drops its slots with the samples."""
    t0 = math.floor(time.time() / STEP) * STEP - 7200
    nodes, stores = _samples(t0, 40.3, gpu=True)
    rows = [sample_row(HOT, s) for s in nodes]
    conn = open_writer(tmp_path / "head.db")
    conn.executemany(INSERT_SAMPLE, rows)
    conn.executemany("INSERT INTO object_store_samples VALUES (?, ?, ?, ?, 0, 0, 0, 0)",
                     [(HOT, s.ts, s.used_bytes, s.capacity_bytes) for s in stores])
    by_triggers = _rollup(conn)
    assert len(by_triggers) == STEPS and all(r[2] == STEP and r[8] == STEP for r in by_triggers)
    conn.execute("DELETE FROM node_rollup")
    conn.close()
    conn = open_writer(tmp_path / "head.db")  # as after an upgrade: samples, no rollup
    assert _rollup(conn) == by_triggers
    enforce(conn, RetentionPolicy(sample_hours=(time.time() - t0 - 2 * STEP) / 3600), time.time())
    assert [r[0] for r in _rollup(conn)] == [r[0] for r in by_triggers][2:]
    conn.close()


def test_the_cache_forgets_what_late_samples_reach_and_keeps_the_rest() -> None:
    """DistributionCache on its own: saw_samples is called for every committed batch (the ingest
    side: cheap), a read that overlapped a late commit keeps only the steps before it."""
    cache = DistributionCache()
    now = 1_800_000_000.0
    k_now = int(now // STEP)
    step = m.DistributionStep(ts=0, nodes=1, min=1, p50=1, p90=1, max=1, counts=[1] + [0] * 19)
    cache.put(STEP, "cpu", {k: step for k in range(k_now - 10, k_now - 1)}, cache.generation)
    cache.saw_samples(now - 1, now)  # on time: nothing cached is concerned
    assert sorted(cache.get(STEP, "cpu")) == list(range(k_now - 10, k_now - 1))
    cache.saw_samples((k_now - 4) * STEP + 3, now)  # late: reaches the step k_now - 4
    assert sorted(cache.get(STEP, "cpu")) == list(range(k_now - 10, k_now - 4))
    began = cache.generation  # a read begins, a late batch commits while it reads
    cache.saw_samples((k_now - 6) * STEP, now)
    cache.put(STEP, "cpu", {k: step for k in range(k_now - 10, k_now - 1)}, began)
    assert sorted(cache.get(STEP, "cpu")) == list(range(k_now - 10, k_now - 6))
