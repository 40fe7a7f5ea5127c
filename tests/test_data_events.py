"""Ray Data's export events and Rayscope's progress lines: decoded (real Ray 2.60 lines, recorded from
a pipeline run in tests/data/ray_data_events/), stored at the head (the latest topology per dataset,
schemas by operator uuid, issues, progress samples) and read back as the API's DatasetDetail."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rayscope.dashboard.store import Store, specs
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.runtime import export_events
from rayscope.wire import rayscope_ingest_pb2 as pb

DATA = Path(__file__).parent / "data" / "ray_data_events"
NODE = "aa" * 28


def _lines(name: str) -> list[bytes]:
    return [ln for ln in (DATA / name).read_bytes().splitlines() if ln.strip()]


def _decode(name: str) -> list:
    return [export_events.decode(ln) for ln in _lines(name)]


def test_metadata_lines_decode_to_full_topologies_first_with_summaries() -> None:
    evs = _decode("event_EXPORT_DATASET_METADATA.log")
    assert [e.state for e in evs] == ["PENDING", "RUNNING", "RUNNING", "RUNNING", "FINISHED"]
    first, last = evs[0], evs[-1]
    assert first.dataset_id == last.dataset_id and first.job_id == "01000000"
    assert [o.operator_id for o in last.operators] == [
        "Input_0", "ReadRange->Map(slow)->MapBatches(AddOne)_1", "Filter(<lambda>)_2"]
    assert [list(o.input_dependencies) for o in last.operators] == [
        [], ["Input_0"], ["ReadRange->Map(slow)->MapBatches(AddOne)_1"]]
    assert all(o.state == "FINISHED" for o in last.operators)
    assert last.HasField("execution_end_time") and not last.HasField("context_summary")
    # the first event's DataContext and args are summarised (keys only), never shipped whole
    assert first.context_summary.endswith("…") and "keys: " in first.context_summary and len(first.context_summary) <= 300
    raw = json.loads(_lines("event_EXPORT_DATASET_METADATA.log")[0])
    assert len(first.SerializeToString()) < len(json.dumps(raw)) / 4
    assert all(o.state == "PENDING" and not o.HasField("execution_start_time") for o in first.operators)


def test_schema_and_progress_lines_decode() -> None:
    schemas = _decode("event_EXPORT_DATASET_OPERATOR_SCHEMA.log")
    assert all(s.operator_uuid for s in schemas) and dict(schemas[-1].fields) == {"id": "int64"}
    samples = _decode("event_RAYSCOPE_DATA_PROGRESS.log")
    assert {s.operator_id for s in samples} == {"Input_0", "ReadRange->Map(slow)->MapBatches(AddOne)_1",
                                                "Filter(<lambda>)_2"}
    assert all(isinstance(s, pb.DatasetProgress) and s.sample_time > 0 for s in samples)


def _envelope(source: str, data: dict) -> bytes:
    return json.dumps({"event_id": "x", "timestamp": 1796431716, "source_type": source, "event_data": data}).encode()


def test_issue_line_and_bad_lines() -> None:
    # the shape Ray's IssueDetectorManager writes (reference §1.3)
    ev = export_events.decode(_envelope("EXPORT_DATASET_OPERATOR_EVENT", {
        "dataset_id": "ds_1", "operator_id": "Map(f)_1", "operator_name": "Map(f)", "event_time": 1796431700.5,
        "event_type": "ISSUE_DETECTION_HIGH_MEMORY", "message": "Operator 'Map(f)' uses 3 GiB of memory per task"}))
    assert (ev.issue_type, ev.event_time, ev.operator_id) == ("ISSUE_DETECTION_HIGH_MEMORY", 1796431700.5, "Map(f)_1")
    with pytest.raises(export_events.MalformedEvent, match="unknown state"):
        export_events.decode(_envelope("EXPORT_DATASET_METADATA", {"dataset_id": "d", "job_id": "01000000",
                                                                     "state": "EXPLODED"}))
    with pytest.raises(export_events.MalformedEvent, match="event_type"):
        export_events.decode(_envelope("EXPORT_DATASET_OPERATOR_EVENT", {"dataset_id": "d", "event_type": "X"}))
    assert "EXPORT_DATASET_METADATA" not in export_events.IGNORED_SOURCES


def test_task_and_actor_labels_carry_the_operator() -> None:
    task = export_events.decode(_envelope("EXPORT_TASK", {
        "task_id": "AQIDBA==", "job_id": "AQAAAA==", "attempt_number": 0,
        "task_info": {"func_or_class_name": "MapWorker(Map(slow)).submit", "type": "ACTOR_TASK",
                      "labels": {"__data_operator_id": "ef72f556-823f", "__ray_data_logical_actor_id": "83bc"}}}))
    assert task.data_operator_id == "ef72f556-823f"
    actor = export_events.decode(_envelope("EXPORT_ACTOR", {
        "actor_id": "AQIDBA==", "job_id": "AQAAAA==", "state": "ALIVE", "labels": {"__data_operator_id": "ef72"}}))
    assert actor.data_operator_id == "ef72"
    plain = export_events.decode(_envelope("EXPORT_TASK", {"task_id": "AQIDBA==", "job_id": "AQAAAA==",
                                                           "task_info": {"type": "NORMAL_TASK"}}))
    assert not plain.HasField("data_operator_id")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    yield s
    s.close()


def test_head_keeps_the_latest_topology_with_schemas_progress_and_label_counts(store) -> None:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")
    schemas = _decode("event_EXPORT_DATASET_OPERATOR_SCHEMA.log")
    samples = _decode("event_RAYSCOPE_DATA_PROGRESS.log")
    dataset_id = meta[0].dataset_id
    mid = meta[-1].operators[1].uuid
    batches = [pb.Batch(seq=1, datasets=meta[:1]), pb.Batch(seq=2, datasets=meta[-1:], dataset_schemas=schemas,
                                                             dataset_progress=samples),
               # an older snapshot read late (another file, a resend) moves nothing back
               pb.Batch(seq=3, datasets=meta[1:2], tasks=[
                   pb.TaskEvent(task_id="ab" * 12, job_id="01000000", event_time=1.0, data_operator_id=mid,
                                state_ts_ns={11: 1}),
                   pb.TaskEvent(task_id="cd" * 12, job_id="01000000", event_time=1.0, data_operator_id=mid,
                                state_ts_ns={12: 1})],
                   actors=[pb.ActorEvent(actor_id="ef" * 16, job_id="01000000", state="ALIVE", event_time=1.0,
                                         data_operator_id=mid)])]
    deltas = [store.writer.call(apply_batch, "a", NODE, b, True).deltas for b in batches]
    assert {"dataset_id": dataset_id, "job_id": "01000000", "state": "PENDING"} in deltas[0]["datasets"]
    assert "datasets" not in deltas[2] or all(d.get("state") != "RUNNING" for d in deltas[2]["datasets"])
    d = store.dataset(dataset_id)
    assert d.state == "FINISHED" and d.operator_count == 3
    assert d.context_summary == meta[0].context_summary  # kept from the first event
    ops = {o.operator_id: o for o in d.operators}
    op = ops["ReadRange->Map(slow)->MapBatches(AddOne)_1"]
    assert op.args_summary == meta[0].operators[1].args_summary and op.args_summary
    assert ops["Filter(<lambda>)_2"].output_schema == {"id": "int64"}
    last = [s for s in samples if s.operator_id == op.operator_id][-1]
    assert (op.rows_output, op.blocks_output, op.queued_blocks) == (last.rows_output, last.blocks_output,
                                                                    last.queued_blocks)
    assert (op.ray_tasks, op.ray_tasks_active, op.ray_tasks_failed, op.ray_actors, op.ray_actors_alive) == (
        2, 0, 1, 1, 1)
    assert d.has_progress and d.progress_hint is None and d.bottleneck is None  # FINISHED: no hint
    # the listing and its filters
    page = store.page(specs.DATASETS, ListQuery(filters=["job_id=01000000", "state=FINISHED"]))
    assert [r.dataset_id for r in page.rows] == [dataset_id]
    assert store.page(specs.DATASETS, ListQuery(filters=["state=RUNNING"])).rows == []
    tasks = store.page(specs.TASKS, ListQuery(filters=[f"data_operator_id={mid}"])).rows
    assert sorted(t.task_id for t in tasks) == ["ab" * 12, "cd" * 12]


def test_callback_failure_is_shown_and_no_progress_gives_the_hint(store) -> None:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")[:1]
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta), True)
    d = store.dataset(meta[0].dataset_id)
    assert not d.has_progress and "RAY_DATA_EXECUTION_CALLBACKS" in d.progress_hint
    err = pb.DatasetProgress(dataset_id=meta[0].dataset_id, sample_time=5.0, error="callback stopped: KeyError")
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=2, dataset_progress=[err]), True)
    assert store.dataset(meta[0].dataset_id).progress_error == "callback stopped: KeyError"


def test_listing_rows_carry_their_operators(store) -> None:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")
    samples = _decode("event_RAYSCOPE_DATA_PROGRESS.log")
    store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta[-1:], dataset_progress=samples), True)
    (row,) = store.page(specs.DATASETS, ListQuery()).rows
    assert [(o.operator_id, o.state) for o in row.operators] == [(o.operator_id, "FINISHED") for o in meta[-1].operators]
    last = {s.operator_id: s for s in samples}
    assert [o.rows_output for o in row.operators] == [last[o.operator_id].rows_output for o in meta[-1].operators]
    assert row.rows_output == last["Filter(<lambda>)_2"].rows_output


def test_a_stopped_clusters_store_answers_the_same(tmp_path) -> None:
    """History mode reads the store only: a reopened, non-live store gives the same dataset."""
    meta = _decode("event_EXPORT_DATASET_METADATA.log")
    samples = _decode("event_RAYSCOPE_DATA_PROGRESS.log")
    live = Store(tmp_path / "head.db")
    live.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    live.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta, dataset_progress=samples), True)
    before = live.dataset(meta[0].dataset_id)
    live.close()
    history = Store(tmp_path / "head.db", live=False)
    try:
        assert history.dataset(meta[0].dataset_id) == before
        assert [r.dataset_id for r in history.page(specs.DATASETS, ListQuery()).rows] == [meta[0].dataset_id]
    finally:
        history.close()


def test_issues_are_kept_per_operator_and_time(store) -> None:
    meta = _decode("event_EXPORT_DATASET_METADATA.log")[-1:]
    dataset_id, op = meta[0].dataset_id, meta[0].operators[1]
    issue = export_events.decode(_envelope("EXPORT_DATASET_OPERATOR_EVENT", {
        "dataset_id": dataset_id, "operator_id": op.operator_id, "operator_name": op.name, "event_time": 1796431700.5,
        "event_type": "ISSUE_DETECTION_HIGH_MEMORY", "message": "uses 3 GiB per task"}))
    bad = pb.DatasetIssue(dataset_id=dataset_id, issue_type="NOT_RAYS", event_time=1.0)
    deltas = store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=1, datasets=meta, dataset_issues=[issue, issue, bad]),
                               True).deltas
    assert {"dataset_id": dataset_id} in deltas["datasets"]
    d = store.dataset(dataset_id)
    assert d.issue_count == 1  # the same issue read twice (a resend) is one
    assert [(i.operator_id, i.issue_type, i.message) for i in d.issues] == [
        (op.operator_id, "ISSUE_DETECTION_HIGH_MEMORY", "uses 3 GiB per task")]
    drops = store.ingest_health().drops
    assert any("dataset issue 'NOT_RAYS'" in dr.reason for dr in drops), drops
