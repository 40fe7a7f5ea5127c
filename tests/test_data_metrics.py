"""Ray Data's own gauges (`ray_data_*`, set by Ray's _StatsActor) as the progress fallback, without
Ray: the agent keeps only the per-operator families (nothing on a node without them, finished
operators only when they changed), and the head turns constructed scrapes into progress samples
with source 'metrics' for datasets without callback samples; the callback's samples win."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from rayscope.agent.collectors.app_metrics import AppMetricsCollector, data_operator_text
from rayscope.dashboard.store import Store, specs
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.apply_data_metrics import operator_figures, progress_row
from rayscope.dashboard.store.listing import ListQuery
from rayscope.dashboard.store.schema_data import PROGRESS_COLUMNS
from rayscope.runtime import export_events
from rayscope.runtime.ray_metric_names import is_application_metric, is_data_operator_metric
from rayscope.wire import rayscope_ingest_pb2 as pb

DATA = Path(__file__).parent / "data" / "ray_data_events"
NODE = "aa" * 28
LABELS = 'SessionName="s",NodeAddress="10.0.0.1",Component="core_worker",WorkerId="w1",JobId="01000000"'


def _gauge(name: str, series: list[tuple[str, str, float]]) -> str:
    lines = [f"# HELP {name} a Ray Data gauge", f"# TYPE {name} gauge"]
    lines += [f'{name}{{dataset="{d}",operator="{o}",{LABELS}}} {v}' for d, o, v in series]
    return "\n".join(lines) + "\n"


EXPOSITION = (
    "# HELP ray_tasks Current number of tasks.\n# TYPE ray_tasks gauge\nray_tasks{State=\"RUNNING\"} 3.0\n"
    + _gauge("ray_data_output_rows", [("ds_0", "Input_0", 400.0), ("ds_0", "Map(f)_1", 240.0),
                                      ("old_0", "Input_0", 50.0)])
    + _gauge("ray_data_operator_state", [("ds_0", "Input_0", 2.0), ("ds_0", "Map(f)_1", 1.0),
                                         ("old_0", "Input_0", 2.0)])
    + _gauge("ray_data_spilled_bytes", [("ds_0", "Map(f)_1", 0.0)])  # a Ray Data family not kept
    + "# HELP ray_data_dataset_state x\n# TYPE ray_data_dataset_state gauge\n"
      'ray_data_dataset_state{dataset="ds_0",job_id="01000000",start_time="1"} 1.0\n'
    + "# HELP ray_my_rows user metric\n# TYPE ray_my_rows gauge\nray_my_rows{k=\"v\"} 1.0\n"
)


def test_family_filter_keeps_the_operator_gauges_only() -> None:
    assert is_data_operator_metric("ray_data_output_rows")
    assert is_data_operator_metric("ray_data_operator_queued_blocks")
    assert not is_data_operator_metric("ray_data_spilled_bytes")
    assert not is_data_operator_metric("ray_data_dataset_state")
    assert not is_data_operator_metric("ray_serve_num_http_requests_total")
    assert not is_application_metric("ray_data_output_rows")  # never a user's metric
    kept = data_operator_text(EXPOSITION)
    assert "ray_data_output_rows" in kept and "ray_data_operator_state" in kept
    assert "ray_data_spilled_bytes" not in kept and "ray_data_dataset_state" not in kept and "ray_tasks" not in kept
    assert data_operator_text(EXPOSITION.replace("ray_data_", "ray_x_")) == ""  # no _StatsActor here


def test_collector_ships_running_operators_every_scrape_and_finished_ones_once() -> None:
    c = AppMetricsCollector("http://unused", every_s=0.0)
    text = [EXPOSITION]
    c._fetch = lambda: text[0]  # type: ignore[method-assign]  # the endpoint's answer, without Ray
    app = c.sample(now=100.0)
    assert app is not None and [f.name for f in app.families] == ["ray_my_rows"]
    first = c.take_data()
    assert first is not None and first.ts == 100.0
    assert set(operator_figures(first)) == {("ds_0", "Input_0"), ("ds_0", "Map(f)_1"), ("old_0", "Input_0")}
    assert all("WorkerId" not in s.tags and "SessionName" not in s.tags for f in first.families for s in f.series)
    assert c.take_data() is None  # taken once

    c.sample(now=110.0)  # same figures: only the running operator again
    second = c.take_data()
    assert second is not None and set(operator_figures(second)) == {("ds_0", "Map(f)_1")}

    text[0] = EXPOSITION.replace('"Map(f)_1",', '"Map(f)_1",', 1).replace(
        'operator="Map(f)_1",' + LABELS + "} 1.0", 'operator="Map(f)_1",' + LABELS + "} 2.0")
    c.sample(now=120.0)  # Map finished: its final figures once, then nothing
    third = c.take_data()
    assert third is not None and operator_figures(third)[("ds_0", "Map(f)_1")]["state"] == 2.0
    c.sample(now=130.0)
    assert c.take_data() is None

    core_only = AppMetricsCollector("http://unused", every_s=0.0)
    core_only._fetch = lambda: EXPOSITION.split("# HELP ray_data_output_rows")[0]  # type: ignore[method-assign]
    core_only.sample(now=100.0)
    assert core_only.take_data() is None


def _scrape(ts: float, ops: dict[tuple[str, str], dict[str, float]]) -> pb.AppMetricScrape:
    by_family: dict[str, list[pb.AppMetricSeries]] = {}
    for (ds, op), fig in ops.items():
        for name, v in fig.items():
            by_family.setdefault(name, []).append(pb.AppMetricSeries(tags={"dataset": ds, "operator": op}, value=v))
    scrape = pb.AppMetricScrape(ts=ts)
    for name, series in by_family.items():
        fam = scrape.families.add(name=name, type="gauge")
        fam.series.extend(series)
    return scrape


def _figures(rows: float, state: float, queued: float = 0, running: float = 0, actors: float = 0,
             est_rows: float = 0) -> dict[str, float]:
    return {"ray_data_output_rows": rows, "ray_data_num_outputs_taken": rows / 20,
            "ray_data_operator_queued_blocks": queued, "ray_data_num_tasks_running": running,
            "ray_data_num_tasks_finished": rows / 20, "ray_data_num_alive_actors": actors,
            "ray_data_cpu_usage_cores": running * 1.0, "ray_data_operator_estimated_total_rows": est_rows,
            "ray_data_operator_state": state}


def test_conversion_of_one_operator() -> None:
    (fig,) = operator_figures(_scrape(50.0, {("d", "Map_1"): _figures(240, 1, queued=8, running=2,
                                                                      actors=2)})).values()
    row = dict(zip(PROGRESS_COLUMNS, progress_row("d", "Map_1", "u-1", 50.0, fig)))
    assert (row["rows_output"], row["blocks_output"], row["queued_blocks"], row["tasks_running"],
            row["actors_alive"], row["cpu"]) == (240, 12, 8, 2, 2, 2.0)
    assert row["estimated_rows"] is None  # Ray's 0 before it has an estimate
    assert row["finished"] == 0 and row["operator_uuid"] == "u-1" and row["sample_time"] == 50.0
    assert row["cpu_budget"] is None and row["cluster_cpu_limit"] is None  # not in Ray's gauges
    assert row["bytes_output"] is None  # a family the scrape did not carry: unknown, not 0
    (done,) = operator_figures(_scrape(60.0, {("d", "Map_1"): _figures(400, 2)})).values()
    assert dict(zip(PROGRESS_COLUMNS, progress_row("d", "Map_1", "", 60.0, done)))["finished"] == 1


def _decode(name: str) -> list:
    return [export_events.decode(ln) for ln in (DATA / name).read_bytes().splitlines() if ln.strip()]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    yield s
    s.close()


def _running_meta() -> tuple[list, str, list[str]]:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")
    i = next(i for i, m in enumerate(meta) if any(o.state == "RUNNING" for o in m.operators))
    return meta[:i + 1], meta[i].dataset_id, [o.operator_id for o in meta[i].operators]


def test_head_stores_metrics_samples_with_their_source_and_figures(store) -> None:
    meta, ds, ops = _running_meta()
    first, mid, out = ops
    send = iter(range(1, 100))

    def batch(**items) -> dict:
        return store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=next(send), **items), True).deltas

    batch(datasets=meta)
    t0 = time.time() - 40
    for i, (rows, queued) in enumerate([(40, 2), (120, 6), (200, 10), (260, 14)]):
        deltas = batch(data_metrics=[_scrape(t0 + 10 * i, {
            (ds, first): _figures(400, 2, est_rows=400),
            (ds, mid): _figures(rows, 1, queued=queued, running=1, actors=1, est_rows=400),
            (ds, out): _figures(rows // 2, 1, est_rows=200)})])
    assert {"dataset_id": ds} in deltas["datasets"]
    d = store.dataset(ds)
    assert d.progress_source == "metrics" and d.has_progress
    assert "Ray's metrics" in (d.progress_source_text or "") and "10 s" in (d.progress_source_text or "")
    assert d.progress_hint is not None and "RAY_DATA_EXECUTION_CALLBACKS" in d.progress_hint  # the hint stays
    o = {x.operator_id: x for x in d.operators}
    assert (o[mid].rows_output, o[mid].queued_blocks, o[mid].estimated_rows) == (260, 14, 400)
    assert o[mid].uuid and o[first].rows_output == 400 and o[out].rows_output == 130
    assert d.rows_output == 130
    assert o[mid].throughput_current == pytest.approx(6.0)  # (260 - 200) / 10 s
    assert o[mid].throughput_avg is not None
    # queue 2 -> 14 blocks in 30 s while its one actor was busy: the hint works from these samples
    assert d.bottleneck is not None and d.bottleneck.startswith(o[mid].name) and "2 to 14" in d.bottleneck
    (row,) = store.page(specs.DATASETS, ListQuery()).rows
    assert row.progress_source == "metrics" and row.rows_output == 130


def test_callback_samples_win_and_are_never_mixed_with_metrics(store, tmp_path) -> None:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")
    samples = _decode("event_RAYSCOPE_DATA_PROGRESS.log")
    ds = meta[0].dataset_id
    ops = [o.operator_id for o in meta[-1].operators]
    t = max(s.sample_time for s in samples)
    scrape = _scrape(t - 100, {(ds, op): _figures(7, 1) for op in ops})
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta, data_metrics=[scrape]), True)
    assert store.dataset(ds).progress_source == "metrics"
    # the callback's samples come (read later from their file): Ray's metrics' samples go
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=2, dataset_progress=samples), True)
    # and a later scrape is not taken for this dataset
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=3, data_metrics=[
        _scrape(t + 100, {(ds, op): _figures(7, 2) for op in ops})]), True)
    d = store.dataset(ds)
    assert d.progress_source == "callback" and d.progress_hint is None
    last = {s.operator_id: s for s in samples}
    assert [o.rows_output for o in d.operators] == [last[o.operator_id].rows_output for o in d.operators]
    with sqlite3.connect(tmp_path / "head.db") as conn:
        n = conn.execute("SELECT count(*) FROM dataset_progress WHERE dataset_id = ? AND source = 'metrics'",
                         (ds,)).fetchone()[0]
    assert n == 0


def test_a_stopped_clusters_store_shows_the_metrics_figures(tmp_path) -> None:
    meta, ds, ops = _running_meta()
    live = Store(tmp_path / "head.db")
    live.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    live.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta, data_metrics=[
        _scrape(1_796_405_300.0, {(ds, op): _figures(400, 2) for op in ops})]), True)
    before = live.dataset(ds)
    live.close()
    history = Store(tmp_path / "head.db", live=False)
    try:
        after = history.dataset(ds)
        assert after == before and after.progress_source == "metrics"
        assert [o.rows_output for o in after.operators] == [400] * len(ops)
    finally:
        history.close()


def test_scrapes_ride_the_in_memory_ring_in_field_29_and_come_back_when_the_link_drops() -> None:
    from rayscope.agent.volatile import VolatileBuffer
    buf = VolatileBuffer()
    scrape = _scrape(50.0, {("d", "Map_1"): _figures(240, 1)})
    buf.add(data=scrape)
    batch = pb.Batch(seq=1)
    buf.attach(batch)
    assert list(batch.data_metrics) == [scrape] and not batch.app_metrics and not batch.serve_metrics
    buf.requeue()  # not acked: sent again with the next batch
    again = pb.Batch(seq=2)
    buf.attach(again)
    assert list(again.data_metrics) == [scrape]
    buf.ack(2)
    last = pb.Batch(seq=3)
    buf.attach(last)
    assert not last.data_metrics
