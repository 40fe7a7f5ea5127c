"""Ray Serve in the head (no Ray): the percentile estimate against hand-computed values, the diffing
of the controller's documents into history, and a store round-trip (documents and metric samples
in, the API's listing and detail out)."""
from __future__ import annotations

import json
import math
import time

import pytest

from rayscope.dashboard.serve_models import ServeDocApp
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.dashboard.store.serve_diff import diff_apps
from rayscope.dashboard.store.serve_figures import Sample, Series, counter_increase, histogram_quantile
from rayscope.wire import rayscope_ingest_pb2 as pb

INF = math.inf
NODE = "bb" * 28
T0 = 1_796_405_600.0


# ------------------------------------------------------------------ histogram_quantile
def test_quantile_interpolates_inside_the_bucket_holding_the_rank() -> None:
    # 10 observations: 4 in (0, 10], 4 in (10, 100], 2 in (100, +Inf)
    buckets = [(10.0, 4.0), (100.0, 8.0), (INF, 10.0)]
    # p50: rank 5 -> second bucket, 1 of its 4 -> 10 + 90 * 1/4 = 32.5
    assert histogram_quantile(0.5, buckets) == pytest.approx(32.5)
    # p25: rank 2.5 -> first bucket, lower bound 0 -> 10 * 2.5/4 = 6.25
    assert histogram_quantile(0.25, buckets) == pytest.approx(6.25)
    # p95: rank 9.5 -> the +Inf bucket -> the last finite bound
    assert histogram_quantile(0.95, buckets) == 100.0
    # p80: rank 8 -> exactly the second bound
    assert histogram_quantile(0.8, buckets) == pytest.approx(100.0)


def test_quantile_without_observations_is_none() -> None:
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(10.0, 0.0), (INF, 0.0)]) is None


def test_counter_increase_over_the_window_with_a_reset_and_a_new_series() -> None:
    old = Series("c", {}, [Sample(T0, 5.0), Sample(T0 + 20, 8.0), Sample(T0 + 40, 2.0), Sample(T0 + 50, 4.0)])
    new = Series("c", {}, [Sample(T0 + 30, 3.0)])  # first seen inside the window: counts from 0
    # window (T0 + 10, T0 + 60]: old from 5 -> 8 (+3), reset to 2 (+2), -> 4 (+2) = 7; new 3
    assert counter_increase([old, new], T0 + 10, T0 + 60) == pytest.approx(10.0)


# ------------------------------------------------------------------ diffing
def _app(status: str = "RUNNING", replicas: tuple[str, ...] = ("r1",), target: int = 1,
         dep_status: str = "HEALTHY", message: str = "") -> ServeDocApp:
    return ServeDocApp.model_validate({
        "name": "app", "status": status, "message": message, "deployments": [{
            "name": "Dep", "status": dep_status, "target_num_replicas": target,
            "replicas": [{"replica_id": r, "state": "RUNNING", "pid": 10 + i, "start_time_s": T0 - 5}
                         for i, r in enumerate(replicas)]}]})


def test_first_document_records_the_app_its_deployment_and_replicas() -> None:
    events = diff_apps({}, {"app": _app()}, T0)
    assert [(e.kind, e.deployment, e.replica_id, e.status) for e in events] == [
        ("app_status", None, None, "RUNNING"), ("deployment_status", "Dep", None, "HEALTHY"),
        ("replica_started", "Dep", "r1", "RUNNING")]
    assert events[2].ts == T0 - 5  # the replica's own start time


def test_a_replaced_replica_is_a_death_and_a_start() -> None:
    events = diff_apps({"app": _app()}, {"app": _app(replicas=("r2",))}, T0)
    assert [(e.kind, e.replica_id) for e in events] == [("replica_started", "r2"), ("replica_died", "r1")]


def test_scaling_down_is_a_stop_not_a_death() -> None:
    before, after = _app(replicas=("r1", "r2"), target=2), _app(replicas=("r1",), target=1)
    assert [(e.kind, e.replica_id) for e in diff_apps({"app": before}, {"app": after}, T0)] == [
        ("replica_stopped", "r2")]


def test_status_changes_carry_their_message_and_an_unchanged_document_records_nothing() -> None:
    failed = _app(status="DEPLOY_FAILED", dep_status="DEPLOY_FAILED", message="boom")
    events = diff_apps({"app": _app()}, {"app": failed}, T0)
    assert [(e.kind, e.previous, e.status, e.message) for e in events] == [
        ("app_status", "RUNNING", "DEPLOY_FAILED", "boom"), ("deployment_status", "HEALTHY", "DEPLOY_FAILED", "")]
    assert diff_apps({"app": failed}, {"app": failed}, T0 + 1) == []


def test_shutdown_stops_every_replica_and_removes_the_app() -> None:
    events = diff_apps({"app": _app()}, {}, T0)
    assert [(e.kind, e.replica_id) for e in events] == [
        ("replica_stopped", "r1"), ("deployment_removed", None), ("app_removed", None)]


# ------------------------------------------------------------------ store round-trip
@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    yield s
    s.close()


def _doc(app: ServeDocApp, ts: float) -> pb.ServeStatusDoc:
    return pb.ServeStatusDoc(ts=ts, document=json.dumps({"applications": [app.model_dump()],
                                                         "proxies": {NODE: "HEALTHY"}}))


def _scrape(ts: float, requests: float, errors: float, latency: list[tuple[float, float]]) -> pb.AppMetricScrape:
    tags = {"application": "app", "deployment": "Dep", "replica": "r1", "route": "/"}
    return pb.AppMetricScrape(ts=ts, families=[
        pb.AppMetricFamily(name="ray_serve_deployment_request_counter", type="counter",
                           series=[pb.AppMetricSeries(tags=tags, value=requests)]),
        pb.AppMetricFamily(name="ray_serve_deployment_error_counter", type="counter",
                           series=[pb.AppMetricSeries(tags=tags, value=errors)]),
        pb.AppMetricFamily(name="ray_serve_deployment_processing_latency_ms", type="histogram",
                           series=[pb.AppMetricSeries(tags=tags, bucket_bounds=[b for b, _ in latency],
                                                      bucket_counts=[c for _, c in latency],
                                                      count=latency[-1][1])]),
    ])


def test_store_round_trip_listing_detail_history_and_figures(store) -> None:
    now = time.time()
    seq = iter(range(1, 100))

    def send(**items) -> dict:
        return store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=next(seq), **items), True).deltas

    deltas = send(serve_status=[_doc(_app(), now - 50)])
    assert deltas["serve_apps"] == [{"name": "app", "ts": now - 50}]
    send(serve_metrics=[_scrape(now - 45, 0.0, 0.0, [(10.0, 0.0), (100.0, 0.0), (INF, 0.0)])])
    deltas = send(serve_metrics=[_scrape(now - 5, 10.0, 2.0, [(10.0, 4.0), (100.0, 8.0), (INF, 10.0)])])
    assert deltas["serve_metrics"] == [{"node_id": NODE, "ts": now - 5}]
    send(serve_status=[_doc(_app(replicas=("r2",)), now - 3)])

    page = store.serve_apps(ListQuery(filters=["status=RUNNING"]))
    assert [a.name for a in page.rows] == ["app"]
    app = page.rows[0]
    assert (app.present, app.running_replicas, app.target_replicas) == (True, 1, 1)
    dep = app.deployments[0]
    assert [r.replica_id for r in dep.replicas] == ["r2"] and dep.replica_restarts == 1
    assert dep.requests is not None
    # Ray counts a replica's successful requests and its errors apart: requests are both
    assert (dep.requests.requests_total, dep.requests.errors_total) == (12.0, 2.0)
    assert dep.requests.request_rate == pytest.approx(12.0 / 60)
    assert dep.requests.error_rate == pytest.approx(2.0 / 60)
    assert dep.requests.p50_ms == pytest.approx(32.5) and dep.requests.p95_ms == 100.0
    assert store.serve_apps(ListQuery(filters=["status=DEPLOYING"])).rows == []

    detail = store.serve_app("app")
    kinds = [(e.kind, e.replica_id) for e in detail.history]
    assert {("replica_started", "r1"), ("replica_started", "r2"), ("replica_died", "r1")} <= set(kinds), kinds
    assert [e.ts for e in detail.history] == sorted(e.ts for e in detail.history)
    assert detail.proxies == {NODE: "HEALTHY"}

    send(serve_status=[pb.ServeStatusDoc(ts=now - 1, controller_gone=True)])
    assert store.serve_apps(ListQuery(filters=["present=true"])).rows == []
    assert [a.name for a in store.serve_apps(ListQuery(filters=["present=false"], sort="-updated_at")).rows] == ["app"]
    gone = store.serve_app("app")
    assert (gone.present, gone.running_replicas, gone.history[-1].kind) == (False, 0, "app_removed")
    assert gone.deployments[0].replicas == []


def test_an_unreadable_document_is_a_drop_not_a_crash(store) -> None:
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, serve_status=[
        pb.ServeStatusDoc(ts=T0, document='{"applications": [{"name": "x", "status": "BOGUS"}]}')]), True)
    assert store.serve_apps(ListQuery()).rows == []
    health = store.ingest_health()
    assert any(d.source == "serve" and "unreadable" in d.reason for d in health.drops), health.drops


def test_history_mode_reads_the_store_alone_and_ends_the_window_at_the_last_sample(tmp_path) -> None:
    """A stopped cluster's store (`rayscope dashboard --db`): the figures' minute is the run's last,
    not the last minute of the wall clock (which would show no traffic)."""
    live = Store(tmp_path / "head.db")
    live.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    for seq, items in enumerate([
            {"serve_status": [_doc(_app(), T0)]},
            {"serve_metrics": [_scrape(T0 + 5, 0.0, 0.0, [(10.0, 0.0), (100.0, 0.0), (INF, 0.0)])]},
            {"serve_metrics": [_scrape(T0 + 45, 10.0, 2.0, [(10.0, 4.0), (100.0, 8.0), (INF, 10.0)])]}], start=1):
        live.writer.call(apply_batch, "a", NODE, pb.Batch(seq=seq, **items), True)
    stale = live.serve_app("app").deployments[0].requests
    assert stale is not None and stale.request_rate == 0.0 and stale.p50_ms is None  # live: an old run is idle now
    live.close()

    history = Store(tmp_path / "head.db", live=False)
    try:
        app = history.serve_app("app")
        figs = app.deployments[0].requests
        assert figs is not None and figs.window_end == T0 + 45
        assert figs.request_rate == pytest.approx(12.0 / 60) and figs.p50_ms == pytest.approx(32.5)
        assert sorted(e.kind for e in app.history) == ["app_status", "deployment_status", "replica_started"]
        assert [r.replica_id for r in app.deployments[0].replicas] == ["r1"]
    finally:
        history.close()
