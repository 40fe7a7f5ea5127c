"""Ray Train's export events (EXPORT_TRAIN_RUN / EXPORT_TRAIN_RUN_ATTEMPT): decoding the lines Ray 2.60
wrote (ray-2.60-libraries.md §6.4: a run with one injected failure, tracking on), shipping them from
the agent, and storing them at the head: latest snapshot per run and attempt, workers, and every
status change. The oracle for the decoded values is the lines themselves (ids decoded with base64
here, by hand)."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.dashboard.store.read_train import train_run_detail
from rayscope.dashboard.store.specs import TRAIN_RUNS
from rayscope.runtime.export_events import MalformedEvent, decode
from rayscope.wire import rayscope_ingest_pb2 as pb

# The RUNNING line of §6.4, as Ray wrote it (the panel lists and data_config shortened there too).
RUN_LINE = {
    "event_id": "B6D90EafeDfc48A269", "timestamp": 1796405309, "source_type": "EXPORT_TRAIN_RUN",
    "event_data": {
        "schema_version": 4, "id": "f94697db4e114787838f3d4462b87a64", "name": "lv_track", "job_id": "AQAAAA==",
        "controller_actor_id": "ew1iLto/6JAho0MWAQAAAA==", "status": "RUNNING", "start_time_ns": "1796405291750849972",
        "controller_log_file_path": "/tmp/ray/session_x/logs/train/ray-train-app-controller-f7b23e38.log",
        "ray_train_version": 2,
        "train_run_panels": [{"id": "1", "title": "Controller State"}],
        "train_worker_panels": [{"id": "1", "title": "Cumulative Time in ray.train.report"}],
        "framework_versions": {"ray": "2.60.0"},
        "run_settings": {
            "train_loop_config": {"marker": "/tmp/m", "fail_once": True},
            "backend_config": {"config": {}, "framework": "TRAINING_FRAMEWORK_UNSPECIFIED"},
            "scaling_config": {"num_workers_fixed": 2, "resources_per_worker": {"values": {"CPU": 0.5}},
                               "placement_strategy": "PACK", "use_gpu": False, "use_tpu": False},
            "data_config": {"all": {}, "enable_shard_locality": True,
                            "data_execution_options": {"default": {}, "per_dataset_execution_options": {}}},
            "run_config": {"name": "lv_track", "failure_config": {"max_failures": 1, "controller_failure_limit": -1},
                           "worker_runtime_env": {}, "checkpoint_config": {"checkpoint_score_order": "MAX"},
                           "storage_path": "/tmp/x/train_results"},
            "datasets": []}}}
# The RUNNING attempt line of §6.4 (its second worker filled in from the same run).
ATTEMPT_LINE = {
    "event_id": "33AcC7b11e8bfCC8fD", "timestamp": 1796405309, "source_type": "EXPORT_TRAIN_RUN_ATTEMPT",
    "event_data": {
        "schema_version": 4, "run_id": "f94697db4e114787838f3d4462b87a64",
        "attempt_id": "0246f5cc2d134e06be16db0457d355ce", "status": "RUNNING", "start_time_ns": "1796405298072372569",
        "resources": [{"resources": {"CPU": 0.5}}, {"resources": {"CPU": 0.5}}],
        "workers": [
            {"actor_id": "pV+Z0x84WHNv9tLSAQAAAA==", "node_id": "dDKa4QFMV1e7RQClveJxnmulVmw7QyLYKpM6QQ==",
             "node_ip": "192.0.2.2", "pid": 23813, "status": "ALIVE", "resources": {"resources": {"CPU": 0.5}},
             "log_file_path": "/tmp/ray/session_x/logs/train/ray-train-app-worker-9d1693d0.log",
             "world_rank": 0, "local_rank": 0, "node_rank": 0, "gpu_ids": []},
            {"actor_id": "qV+Z0x84WHNv9tLSAQAAAA==", "node_id": "dDKa4QFMV1e7RQClveJxnmulVmw7QyLYKpM6QQ==",
             "node_ip": "192.0.2.2", "pid": 23848, "status": "ALIVE", "resources": {"resources": {"CPU": 0.5}},
             "log_file_path": "/tmp/ray/session_x/logs/train/ray-train-app-worker-1e2f3a4b.log",
             "world_rank": 1, "local_rank": 1, "node_rank": 0, "gpu_ids": []}],
        "ray_train_version": 2}}
ERROR = "[Rank 0,1 Error Snippet]:\nTraceback (most recent call last):\nRuntimeError: injected failure for attempt 1"


def _hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def _line(template: dict, event_id: str | None = None, ts: int | None = None, **data) -> bytes:
    env = json.loads(json.dumps(template))
    env["event_data"].update(data)
    if event_id:
        env["event_id"] = event_id
    if ts:
        env["timestamp"] = ts
    return json.dumps(env).encode()


def test_a_run_line_decodes_to_its_settings_summary() -> None:
    ev = decode(_line(RUN_LINE))
    assert isinstance(ev, pb.TrainRunEvent)
    d = RUN_LINE["event_data"]
    assert (ev.event_id, ev.run_id, ev.name, ev.status) == ("B6D90EafeDfc48A269", d["id"], "lv_track", "RUNNING")
    assert ev.job_id == _hex(d["job_id"]) == "01000000"
    assert ev.controller_actor_id == _hex(d["controller_actor_id"])
    assert ev.start_time_ns == 1796405291750849972 and not ev.HasField("end_time_ns")
    assert ev.controller_log_file_path == d["controller_log_file_path"]
    assert dict(ev.framework_versions) == {"ray": "2.60.0"}
    assert (ev.num_workers, ev.HasField("min_workers"), dict(ev.resources_per_worker)) == (2, False, {"CPU": 0.5})
    assert (ev.use_gpu, ev.max_failures, ev.storage_path) == (False, 1, "/tmp/x/train_results")
    assert ev.event_time == 1796405309 and not ev.HasField("status_detail")


def test_an_elastic_run_keeps_its_range() -> None:
    settings = json.loads(json.dumps(RUN_LINE["event_data"]["run_settings"]))
    del settings["scaling_config"]["num_workers_fixed"]
    settings["scaling_config"]["num_workers_range"] = {"min": 1, "max": 4}
    ev = decode(_line(RUN_LINE, run_settings=settings))
    assert isinstance(ev, pb.TrainRunEvent)
    assert (ev.HasField("num_workers"), ev.min_workers, ev.max_workers) == (False, 1, 4)


def test_an_attempt_line_decodes_with_its_workers() -> None:
    ev = decode(_line(ATTEMPT_LINE))
    assert isinstance(ev, pb.TrainRunAttemptEvent)
    d = ATTEMPT_LINE["event_data"]
    assert (ev.run_id, ev.attempt_id, ev.status) == (d["run_id"], d["attempt_id"], "RUNNING")
    assert [(w.world_rank, w.pid, w.node_ip, w.status) for w in ev.workers] == [
        (0, 23813, "192.0.2.2", "ALIVE"), (1, 23848, "192.0.2.2", "ALIVE")]
    w0 = ev.workers[0]
    assert w0.actor_id == _hex(d["workers"][0]["actor_id"]) and w0.node_id == _hex(d["workers"][0]["node_id"])
    assert (dict(w0.resources), list(w0.gpu_ids), w0.log_file_path) == (
        {"CPU": 0.5}, [], d["workers"][0]["log_file_path"])


def test_an_errored_attempt_keeps_the_traceback_and_end() -> None:
    ev = decode(_line(ATTEMPT_LINE, status="ERRORED", status_detail=ERROR, end_time_ns="1796405316000000000"))
    assert isinstance(ev, pb.TrainRunAttemptEvent)
    assert (ev.status, ev.status_detail, ev.end_time_ns) == ("ERRORED", ERROR, 1796405316000000000)


def test_a_pending_attempt_has_no_workers() -> None:
    ev = decode(_line(ATTEMPT_LINE, status="PENDING", workers=[]))
    assert isinstance(ev, pb.TrainRunAttemptEvent)
    assert ev.status == "PENDING" and list(ev.workers) == []


@pytest.mark.parametrize("template, overrides, reason", [
    (RUN_LINE, {"status": "SLEEPING"}, "status: unknown value 'SLEEPING'"),
    (RUN_LINE, {"id": ""}, "missing id"),
    (RUN_LINE, {"job_id": "not base64!"}, "job_id: not base64"),
    (RUN_LINE, {"start_time_ns": "soon"}, "start_time_ns: not an integer"),
    (ATTEMPT_LINE, {"attempt_id": ""}, "missing run_id or attempt_id"),
    (ATTEMPT_LINE, {"workers": {}}, "workers: expected list"),
])
def test_malformed_train_lines_say_why(template: dict, overrides: dict, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason.replace("(", r"\(").replace(")", r"\)")):
        decode(_line(template, **overrides))


def test_a_train_line_without_event_id_is_malformed() -> None:
    env = json.loads(_line(RUN_LINE))
    del env["event_id"]
    with pytest.raises(MalformedEvent, match="missing event_id"):
        decode(json.dumps(env).encode())


def test_the_agent_ships_train_lines_as_events(tmp_path: Path) -> None:
    from rayscope.agent.events import EventSource

    events_dir = tmp_path / "logs" / "export_events"
    events_dir.mkdir(parents=True)
    (events_dir / "event_EXPORT_TRAIN_STATE.log").write_bytes(_line(RUN_LINE) + b"\n" + _line(ATTEMPT_LINE) + b"\n")
    src = EventSource(str(tmp_path), "node1")
    res = src.poll()
    assert [e.status for e in res.train_runs] == ["RUNNING"]
    assert [e.attempt_id for e in res.train_run_attempts] == [ATTEMPT_LINE["event_data"]["attempt_id"]]
    assert res.drops == [] and res.count() == 2
    src.close()


# ---------------------------------------------------------------- the head's store

NODE = "aa" * 28
SESSION = "/tmp/ray/session_x"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE, session_dir=SESSION), time.time())
    yield s
    s.close()


class Feed:
    def __init__(self, store: Store) -> None:
        self.store, self.seq = store, 0

    def send(self, **items) -> dict[str, list[dict]]:
        self.seq += 1
        res = self.store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=self.seq, **items), True)
        return res.deltas


def _ev(template: dict, event_id: str, ts: int, **data):
    ev = decode(_line(template, event_id=event_id, ts=ts, **data))
    assert not isinstance(ev, Exception)
    return ev


def _the_run_in_order() -> list:
    """What §6.4's 15 lines say, in file order (two attempts: the first ERRORED, the second FINISHED)."""
    a2 = "0a4cc4eb0a4cc4eb0a4cc4eb0a4cc4eb"  # the first attempt is the template's
    sched = {"status_detail": "Scheduling 2 workers, each requiring: {'CPU': 0.5}."}
    return [
        _ev(RUN_LINE, "e01", 100, status="INITIALIZING"), _ev(RUN_LINE, "e02", 100, status="SCHEDULING", **sched),
        _ev(ATTEMPT_LINE, "e03", 100, status="PENDING", workers=[]),
        _ev(ATTEMPT_LINE, "e04", 111), _ev(RUN_LINE, "e05", 111, status="SCHEDULING", **sched),
        _ev(RUN_LINE, "e06", 111, status="RUNNING"),
        _ev(RUN_LINE, "e07", 118, status="RESTARTING"), _ev(RUN_LINE, "e08", 118, status="SCHEDULING", **sched),
        _ev(ATTEMPT_LINE, "e09", 118, status="ERRORED", status_detail=ERROR, end_time_ns="1796405316000000000"),
        _ev(ATTEMPT_LINE, "e10", 118, status="PENDING", attempt_id=a2, workers=[], start_time_ns="1796405318000000000"),
        _ev(ATTEMPT_LINE, "e11", 126, attempt_id=a2, start_time_ns="1796405318000000000"),
        _ev(RUN_LINE, "e12", 126, status="SCHEDULING", **sched), _ev(RUN_LINE, "e13", 126, status="RUNNING"),
        _ev(ATTEMPT_LINE, "e14", 138, status="FINISHED", attempt_id=a2, start_time_ns="1796405318000000000",
            end_time_ns="1796405330000000000"),
        _ev(RUN_LINE, "e15", 138, status="FINISHED", end_time_ns="1796405330000000000"),
    ]


def _send_in_file_order(feed: Feed, events: list) -> list[dict]:
    deltas: list[dict] = []
    for ev in events:
        key = "train_runs" if isinstance(ev, pb.TrainRunEvent) else "train_run_attempts"
        deltas.extend(feed.send(**{key: [ev]}).get("train_runs", []))
    return deltas


def test_the_head_keeps_latest_snapshots_and_every_transition(store) -> None:
    events = _the_run_in_order()
    deltas = _send_in_file_order(Feed(store), events)
    run_id = RUN_LINE["event_data"]["id"]
    assert len(deltas) == 15 and {d["run_id"] for d in deltas} == {run_id}
    conn = store.conn
    run = train_run_detail(conn, run_id)
    assert run is not None
    assert (run.status, run.num_attempts, run.end_time, run.num_workers, run.max_failures) == (
        "FINISHED", 2, 1796405330.0, 2, 1)
    assert [(a.status, len(a.workers)) for a in run.attempts] == [("ERRORED", 2), ("FINISHED", 2)]
    assert run.attempts[0].status_detail == ERROR  # in full
    assert [w.pid for w in run.attempts[0].workers] == [23813, 23848]
    assert [(h.attempt_id is not None, h.status) for h in run.history] == [
        (e.__class__ is pb.TrainRunAttemptEvent, e.status) for e in events]
    # the same events again (a resend): nothing counted twice
    _send_in_file_order(Feed(store), events)
    conn = store.conn
    again = train_run_detail(conn, run_id)
    assert again is not None and len(again.history) == 15


def test_listing_filters_by_status_name_and_job(store) -> None:
    feed = Feed(store)
    feed.send(train_runs=[_ev(RUN_LINE, "r1", 100)])
    feed.send(train_runs=[_ev(RUN_LINE, "r2", 100, id="bb" * 16, name="other", status="ERRORED")])
    conn = store.conn
    from rayscope.dashboard.store.listing import list_page

    def names(*filters: str) -> list[str]:
        return [r.name for r in list_page(conn, TRAIN_RUNS, ListQuery(filters=list(filters)))[0]]

    assert sorted(names()) == ["lv_track", "other"]
    assert names("status=ERRORED") == ["other"]
    assert names("name=lv_track") == ["lv_track"]
    assert sorted(names("job_id=01000000")) == ["lv_track", "other"]
    assert names("job_id=02000000") == []


def test_a_worker_log_path_maps_to_the_agents_file_id(store) -> None:
    feed = Feed(store)
    rel = "train/ray-train-app-worker-9d1693d0.log"
    node = _hex(ATTEMPT_LINE["event_data"]["workers"][0]["node_id"])
    store.writer.call(record_hello, pb.AgentHello(agent_id="b", node_id=node, session_dir=SESSION), time.time())
    feed.send(log_files=[pb.LogFile(file_id=f"{node}:{rel}", node_id=node, path=rel)])
    feed.send(train_runs=[_ev(RUN_LINE, "r1", 100)], train_run_attempts=[_ev(ATTEMPT_LINE, "a1", 100)])
    conn = store.conn
    run = train_run_detail(conn, RUN_LINE["event_data"]["id"])
    assert run is not None
    assert [w.log_file_id for w in run.attempts[0].workers] == [f"{node}:{rel}", None]  # rank 1's was not shipped


def test_a_bad_train_item_is_dropped_with_a_report(store) -> None:
    bad = pb.TrainRunEvent(event_id="x", run_id="NOT-HEX", name="n", status="RUNNING", event_time=1.0)
    Feed(store).send(train_runs=[bad])
    conn = store.conn
    assert conn.execute("SELECT count(*) FROM train_runs").fetchone()[0] == 0
    reasons = [r[0] for r in conn.execute("SELECT reason FROM drops")]
    assert any("run_id is not lowercase hex" in r for r in reasons), reasons


def test_clusters_rayscope_starts_turn_train_tracking_on_unless_the_user_said_otherwise() -> None:
    from rayscope.runtime.ray_settings import ray_start_env

    assert ray_start_env({}, joining=False)["RAY_TRAIN_ENABLE_STATE_TRACKING"] == "1"
    assert ray_start_env({}, joining=True)["RAY_TRAIN_ENABLE_STATE_TRACKING"] == "1"
    assert ray_start_env({"RAY_TRAIN_ENABLE_STATE_TRACKING": "0"}, joining=False)["RAY_TRAIN_ENABLE_STATE_TRACKING"] == "0"


def test_the_agent_tails_ray_trains_own_log_files_under_their_logs_path(tmp_path: Path) -> None:
    """`<session>/logs/train/*.log` get the file ids the head maps Train's `log_file_path` to."""
    from rayscope.agent.logs.files import describe
    from rayscope.agent.logs.train_logs import rel_paths, train_log_tailer

    missing = train_log_tailer(str(tmp_path), "node1")
    assert missing.poll().new_files == []  # no Train on this node: nothing, no error
    train_dir = tmp_path / "logs" / "train"
    train_dir.mkdir(parents=True)
    (train_dir / "ray-train-app-worker-9d1693d0.log").write_text("train worker rank 0 pid 7\n")
    res = missing.poll()
    assert [describe("node1", p).file_id for p in rel_paths(res)] == ["node1:train/ray-train-app-worker-9d1693d0.log"]
    assert [(ln.file_id, ln.text) for ln in res.lines] == [
        ("node1:train/ray-train-app-worker-9d1693d0.log", b"train worker rank 0 pid 7")]
    missing.close()
