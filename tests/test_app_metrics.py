"""Application metrics without a cluster: the agent's parsing and bounds, the head's store and queries.

The exposition below is written by hand in the shape a Ray 2.60 node serves (Ray's labels on every
series, counters with `_total`, two workers recording the same tags, Ray's own families around the
user's); the expected numbers are worked out by hand here, not by the code under test.
The real-cluster check is tests/test_app_metrics_e2e.py.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rayscope.agent.collectors.app_metrics import (
    SERIES_REASON,
    CardinalityBound,
    parse_application_metrics,
)
from rayscope.agent.volatile import APP_CUT_REASON, VolatileBuffer
from rayscope.dashboard.errors import BadRequest, NotFound
from rayscope.dashboard.store.apply_batch import apply_batch
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.read_app_metrics import app_metric_series, list_app_metrics
from rayscope.runtime.ray_metric_names import is_application_metric
from rayscope.wire import rayscope_ingest_pb2 as pb

RAY = 'SessionName="session_x",NodeAddress="10.0.0.1",otel_scope_name="ray",otel_scope_version=""'
EXPOSITION = f"""# HELP ray_node_cpu_utilization Total CPU usage on a ray node
# TYPE ray_node_cpu_utilization gauge
ray_node_cpu_utilization{{{RAY},ip="10.0.0.1"}} 12.5
# HELP ray_failed_withdrawals_total Number of failed withdrawals.
# TYPE ray_failed_withdrawals_total counter
ray_failed_withdrawals_total{{{RAY},WorkerId="aa",bank="north"}} 3.0
ray_failed_withdrawals_total{{{RAY},WorkerId="bb",bank="north"}} 2.0
ray_failed_withdrawals_total{{{RAY},WorkerId="aa",bank="south"}} 7.0
# HELP ray_balance Current balance.
# TYPE ray_balance gauge
ray_balance{{{RAY},WorkerId="aa",bank="north"}} 42.5
# HELP ray_tasks Current number of tasks
# TYPE ray_tasks gauge
ray_tasks{{{RAY},State="RUNNING"}} 4.0
# HELP ray_withdraw_ms Withdrawal latency.
# TYPE ray_withdraw_ms histogram
ray_withdraw_ms_bucket{{{RAY},WorkerId="aa",bank="north",le="10.0"}} 1.0
ray_withdraw_ms_bucket{{{RAY},WorkerId="aa",bank="north",le="100.0"}} 2.0
ray_withdraw_ms_bucket{{{RAY},WorkerId="aa",bank="north",le="+Inf"}} 3.0
ray_withdraw_ms_count{{{RAY},WorkerId="aa",bank="north"}} 3.0
ray_withdraw_ms_sum{{{RAY},WorkerId="aa",bank="north"}} 255.0
ray_withdraw_ms_bucket{{{RAY},WorkerId="bb",bank="north",le="10.0"}} 0.0
ray_withdraw_ms_bucket{{{RAY},WorkerId="bb",bank="north",le="100.0"}} 1.0
ray_withdraw_ms_bucket{{{RAY},WorkerId="bb",bank="north",le="+Inf"}} 1.0
ray_withdraw_ms_count{{{RAY},WorkerId="bb",bank="north"}} 1.0
ray_withdraw_ms_sum{{{RAY},WorkerId="bb",bank="north"}} 50.0
# HELP ray_serve_num_http_requests_total Requests.
# TYPE ray_serve_num_http_requests_total counter
ray_serve_num_http_requests_total{{{RAY},route="/"}} 9.0
# HELP python_gc_objects_collected_total Objects collected during gc
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{{generation="0"}} 100.0
"""


def _by_name(families: list[pb.AppMetricFamily]) -> dict[str, pb.AppMetricFamily]:
    return {f.name: f for f in families}


def _series(fam: pb.AppMetricFamily) -> dict[tuple, pb.AppMetricSeries]:
    return {tuple(sorted(s.tags.items())): s for s in fam.series}


def test_only_the_users_families_with_ray_labels_removed_and_workers_summed() -> None:
    fams = _by_name(parse_application_metrics(EXPOSITION))
    assert sorted(fams) == ["ray_balance", "ray_failed_withdrawals", "ray_withdraw_ms"]
    c = fams["ray_failed_withdrawals"]
    assert (c.type, c.description) == ("counter", "Number of failed withdrawals.")
    assert {k: s.value for k, s in _series(c).items()} == {(("bank", "north"),): 5.0, (("bank", "south"),): 7.0}
    g = fams["ray_balance"]
    assert g.type == "gauge" and [s.value for s in g.series] == [42.5]
    h = _series(fams["ray_withdraw_ms"])[(("bank", "north"),)]
    assert (h.count, h.sum) == (4.0, 305.0)
    assert list(h.bucket_bounds) == [10.0, 100.0, float("inf")]
    assert list(h.bucket_counts) == [1.0, 3.0, 4.0]


@pytest.mark.parametrize("name,app", [
    ("ray_failed_withdrawals_total", True), ("ray_my_latency_ms", True), ("ray_tasks", False),
    ("ray_node_mem_used", False), ("ray_data_output_rows", False), ("ray_serve_num_http_requests_total", False),
    ("python_gc_objects_collected_total", False), ("failed_withdrawals", False),
])
def test_the_rule_that_tells_the_users_families_from_rays(name: str, app: bool) -> None:
    assert is_application_metric(name) is app


def _family(name: str, n: int) -> pb.AppMetricFamily:
    fam = pb.AppMetricFamily(name=name, type="gauge")
    fam.series.extend(pb.AppMetricSeries(tags={"k": str(i)}, value=float(i)) for i in range(n))
    return fam


def test_series_past_the_bound_are_cut_and_reported_and_the_first_ones_keep_their_place() -> None:
    bound = CardinalityBound(max_series=3, max_metrics=1)
    fams = [_family("ray_a", 5), _family("ray_b", 1)]
    reports = bound.apply(fams, ts=1.0)
    assert [f.name for f in fams] == ["ray_a"]
    assert [s.tags["k"] for s in fams[0].series] == ["0", "1", "2"]
    by_reason = {r.reason: r for r in reports}
    assert by_reason[SERIES_REASON].count == 2 and "ray_a: 2 series" in by_reason[SERIES_REASON].detail
    assert [r.detail for r in reports if r.reason != SERIES_REASON] == ["ray_b"]
    # the next scrape: the accepted tag sets stay, new ones are still cut
    again = [_family("ray_a", 4)]
    assert bound.apply(again, ts=2.0)[0].count == 1
    assert [s.tags["k"] for s in again[0].series] == ["0", "1", "2"]


def test_a_scrape_over_its_share_of_the_wire_is_cut_and_reported() -> None:
    buf = VolatileBuffer()
    scrape = pb.AppMetricScrape(ts=1.0)
    big = pb.AppMetricFamily(name="ray_big", type="gauge")
    big.series.extend(pb.AppMetricSeries(tags={"k": "x" * 1000, "i": str(i)}, value=1.0) for i in range(2000))
    scrape.families.extend([_family("ray_small", 2), big])
    buf.add(app=scrape)
    reports = buf.take_drop_reports()
    assert [(r.reason, r.count) for r in reports] == [(APP_CUT_REASON, 2000)]
    batch = pb.Batch(seq=1)
    buf.attach(batch)
    assert [f.name for s in batch.app_metrics for f in s.families] == ["ray_small"]


def _scrape(ts: float, families: list[pb.AppMetricFamily]) -> pb.AppMetricScrape:
    s = pb.AppMetricScrape(ts=ts)
    s.families.extend(families)
    return s


def _counter(north: float, south: float) -> pb.AppMetricFamily:
    fam = pb.AppMetricFamily(name="ray_failed_withdrawals", type="counter", description="d")
    fam.series.extend([pb.AppMetricSeries(tags={"bank": "north"}, value=north),
                       pb.AppMetricSeries(tags={"bank": "south"}, value=south)])
    return fam


def test_head_lists_latest_values_summed_over_nodes_and_charts_them_by_tag(tmp_path: Path) -> None:
    conn = open_writer(tmp_path / "head.db")
    hist = pb.AppMetricFamily(name="ray_withdraw_ms", type="histogram")
    hist.series.append(pb.AppMetricSeries(tags={"bank": "north"}, bucket_bounds=[10.0, float("inf")],
                                          bucket_counts=[1.0, 2.0], sum=30.0, count=2.0))
    # node a scrapes at 100 and 110; node b at 105 (its counter then stops)
    apply_batch(conn, "a@s", "aa", pb.Batch(seq=1, app_metrics=[_scrape(100.0, [_counter(1, 2), hist])]))
    apply_batch(conn, "b@s", "bb", pb.Batch(seq=1, app_metrics=[_scrape(105.0, [_counter(10, 0)])]))
    apply_batch(conn, "a@s", "aa", pb.Batch(seq=2, app_metrics=[_scrape(110.0, [_counter(4, 2)])]))
    conn.row_factory = sqlite3.Row  # as the head's readers
    listed = {m.name: m for m in list_app_metrics(conn)}
    c = listed["ray_failed_withdrawals"]
    assert (c.type, c.tag_keys, c.series_count) == ("counter", ["bank"], 2)
    assert {v.tags["bank"]: (v.value, v.nodes) for v in c.series} == {"north": (14.0, 2), "south": (2.0, 2)}
    h = listed["ray_withdraw_ms"].series[0]
    assert (h.count, h.sum, h.value) == (2.0, 30.0, None)

    lines = app_metric_series(conn, "ray_failed_withdrawals", 0, 200, "bank", max_points=2)
    got = {ln.group: [(p.ts, p.value) for p in ln.points] for ln in lines}
    # points at 105 (a:100 + b:105) and 110 (a:110 + b:105)
    assert got == {"north": [(105.0, 11.0), (110.0, 14.0)], "south": [(105.0, 2.0), (110.0, 2.0)]}
    total = app_metric_series(conn, "ray_failed_withdrawals", 0, 200, None, max_points=2)
    assert [(ln.group, [p.value for p in ln.points]) for ln in total] == [(None, [13.0, 16.0])]
    with pytest.raises(NotFound):
        app_metric_series(conn, "ray_nope", 0, 200, None, 10)
    with pytest.raises(BadRequest):
        app_metric_series(conn, "ray_failed_withdrawals", 10, 0, None, 10)


def test_head_refuses_a_non_finite_value_as_a_drop(tmp_path: Path) -> None:
    conn = open_writer(tmp_path / "head.db")
    fam = pb.AppMetricFamily(name="ray_g", type="gauge")
    fam.series.extend([pb.AppMetricSeries(tags={"k": "1"}, value=float("nan")),
                       pb.AppMetricSeries(tags={"k": "2"}, value=2.0)])
    res = apply_batch(conn, "a@s", "aa", pb.Batch(seq=1, app_metrics=[_scrape(100.0, [fam])]))
    assert res.head_drops == 1
    assert conn.execute("SELECT count(*) FROM app_metric_samples").fetchone()[0] == 1
    row = conn.execute("SELECT source, count FROM drops WHERE source = 'app_metrics'").fetchone()
    assert tuple(row) == ("app_metrics", 1)


def test_the_apis_metric_types_are_the_ones_the_agent_ships() -> None:
    import typing

    from rayscope.dashboard.models import AppMetricType
    from rayscope.runtime.ray_metric_names import APP_METRIC_TYPES

    assert typing.get_args(AppMetricType) == APP_METRIC_TYPES


def test_retention_deletes_old_samples_and_keeps_the_latest_values(tmp_path: Path) -> None:
    from rayscope.dashboard.store.retention import RetentionPolicy, enforce

    conn = open_writer(tmp_path / "head.db")
    apply_batch(conn, "a@s", "aa", pb.Batch(seq=1, app_metrics=[_scrape(1000.0, [_counter(1, 2)])]))
    apply_batch(conn, "a@s", "aa", pb.Batch(seq=2, app_metrics=[_scrape(9000.0, [_counter(5, 6)])]))
    enforce(conn, RetentionPolicy(sample_hours=1.0), now=9000.0 + 60)
    assert [r[0] for r in conn.execute("SELECT DISTINCT ts FROM app_metric_samples")] == [9000.0]
    conn.row_factory = sqlite3.Row
    listed = list_app_metrics(conn)
    assert {v.tags["bank"]: v.value for v in listed[0].series} == {"north": 5.0, "south": 6.0}
