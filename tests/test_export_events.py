"""runtime/export_events.py against real Ray 2.60 export-event lines.

tests/data/export_events_ray260.jsonl holds every line of one real run (Ray 2.60.0,
one head node, export API on via --system-config, driver started without the env var):
3 tasks f(), a nested outer()->f(), a failing boom() (ValueError), a named actor "acc"
killed by ray.kill, and an unnamed actor whose worker died with os._exit(1).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rayscope.runtime.export_events import IGNORED_SOURCES, MalformedEvent, Skipped, decode, decode_line
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent, JobEvent, NodeEvent, TaskEvent

DATA = Path(__file__).parent / "data" / "export_events_ray260.jsonl"


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return DATA.read_bytes().splitlines()


@pytest.fixture(scope="module")
def events(lines: list[bytes]) -> list:
    return [decode_line(line) for line in lines]


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def test_every_real_line_decodes(events: list) -> None:
    kinds = {type(e) for e in events}
    assert kinds == {TaskEvent, ActorEvent, NodeEvent, JobEvent}
    assert all(e is not None for e in events)


def test_ids_are_lowercase_hex_of_raw_bytes(lines: list[bytes], events: list) -> None:
    for raw, ev in zip(lines, events):
        data = json.loads(raw)["event_data"]
        if isinstance(ev, TaskEvent):
            assert ev.task_id == _b64_to_hex(data["task_id"])
            assert len(ev.task_id) == 48
        if isinstance(ev, (TaskEvent, ActorEvent, JobEvent)):
            assert ev.job_id == _b64_to_hex(data["job_id"]) == "01000000"
        if isinstance(ev, NodeEvent):
            # Ray puts the hex node id in the node's labels: a free cross-check.
            assert ev.node_id == ev.labels["ray.io/node-id"]


def test_failed_task_carries_error_and_states(events: list) -> None:
    boom = [e for e in events if isinstance(e, TaskEvent) and e.name == "boom"]
    assert len(boom) == 1
    ev = boom[0]
    assert ev.type == "NORMAL_TASK" and ev.language == "PYTHON"
    assert ev.error_type == "TASK_EXECUTION_EXCEPTION"
    assert "ValueError: kaboom" in ev.error_message
    assert set(ev.state_ts_ns) >= {1, 2, 5, 12}  # PENDING..SUBMITTED..FAILED
    assert all(v > 1_600_000_000 * 10**9 for v in ev.state_ts_ns.values())
    assert ev.required_resources["CPU"] == 1.0
    assert ev.HasField("node_id") and ev.HasField("worker_id")


def test_worker_side_delta_sets_only_what_it_carries(events: list) -> None:
    # Executing workers report RUNNING + pid + log offsets, but no task_info.
    running = [
        e for e in events if isinstance(e, TaskEvent) and 8 in e.state_ts_ns and not e.HasField("name")
    ]
    assert running
    ev = running[0]
    assert ev.HasField("worker_pid") and ev.worker_pid > 0
    assert not ev.HasField("type") and not ev.HasField("error_type")
    assert not ev.required_resources


def test_nested_task_has_parent(events: list) -> None:
    tasks = [e for e in events if isinstance(e, TaskEvent) and e.HasField("name")]
    outer_ids = {e.task_id for e in tasks if e.name == "outer"}
    nested = [e for e in tasks if e.name == "f" and e.parent_task_id in outer_ids]
    assert outer_ids and nested


def test_actor_lifecycle_and_death_cause(events: list) -> None:
    actors = [e for e in events if isinstance(e, ActorEvent)]
    assert {"DEPENDENCIES_UNREADY", "PENDING_CREATION", "ALIVE", "DEAD"} <= {a.state for a in actors}
    pending = next(a for a in actors if a.state == "PENDING_CREATION")
    assert not pending.HasField("pid") and not pending.HasField("node_id")  # Ray writes 0 / ""
    dead = [a for a in actors if a.state == "DEAD" and a.HasField("death_cause")]
    causes = {a.death_cause for a in dead}
    assert any(c.startswith("RAY_KILL:") for c in causes)
    assert any(c.startswith("WORKER_DIED:") for c in causes)
    assert all("\n" not in c for c in causes)
    named = [a for a in actors if a.HasField("name")]
    assert {a.name for a in named} == {"acc"}


def test_node_and_job(events: list) -> None:
    node = next(e for e in events if isinstance(e, NodeEvent))
    assert node.state == "ALIVE" and node.is_head_node
    assert node.resources_total["CPU"] == 2.0
    assert node.start_time_ms > 0 and not node.HasField("end_time_ms")
    jobs = [e for e in events if isinstance(e, JobEvent)]
    assert [j.is_dead for j in jobs] == [False, True]
    assert jobs[1].end_time_ms >= jobs[1].start_time_ms > 0
    assert jobs[0].driver_pid > 0 and "work.py" in jobs[0].entrypoint


def _envelope(source_type: str) -> bytes:
    return json.dumps({"event_id": "x", "timestamp": 1, "source_type": source_type, "event_data": {}}).encode()


def test_unknown_source_is_ignored() -> None:
    assert decode_line(_envelope("EXPORT_SUBMISSION_JOB")) is None


def test_skipped_sources_are_told_apart() -> None:
    assert decode(_envelope("EXPORT_TRAIN_RUN")) == Skipped("EXPORT_TRAIN_RUN", by_design=True)
    assert decode(_envelope("EXPORT_FROM_A_NEWER_RAY")) == Skipped("EXPORT_FROM_A_NEWER_RAY", by_design=False)
    assert decode_line(_envelope("EXPORT_FROM_A_NEWER_RAY")) is None


def test_ignored_sources_are_exactly_ray_s_library_sources() -> None:
    """Oracle: the installed Ray's own ExportEvent.SourceType enum. Every source type it can write is
    either decoded or ignored by design; nothing Ray 2.60 writes counts as unknown."""
    from ray.core.generated.export_event_pb2 import ExportEvent

    decoded = {"EXPORT_TASK", "EXPORT_ACTOR", "EXPORT_NODE", "EXPORT_DRIVER_JOB"}
    assert set(ExportEvent.SourceType.keys()) - decoded == IGNORED_SOURCES
    for name in set(ExportEvent.SourceType.keys()) - decoded:
        assert decode(_envelope(name)) == Skipped(name, by_design=True)


def _task_line(**data_overrides: object) -> bytes:
    data = {"task_id": "AAECAw==", "job_id": "AQAAAA==", "attempt_number": 0}
    data.update(data_overrides)
    return json.dumps(
        {"event_id": "x", "timestamp": 1700000000, "source_type": "EXPORT_TASK", "event_data": data}
    ).encode()


def test_status_names_are_accepted_as_keys() -> None:
    ev = decode_line(_task_line(state_updates={"state_ts_ns": {"RUNNING": "5", "11": "6"}}))
    assert dict(ev.state_ts_ns) == {8: 5, 11: 6}
    assert ev.task_id == "00010203"


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2]", "envelope"),
        (b'{"timestamp": 1, "event_data": {}}', "source_type"),
        (b'{"source_type": "EXPORT_TASK", "timestamp": 1}', "event_data"),
        (b'{"source_type": "EXPORT_TASK", "event_data": {}}', "timestamp"),
        (_task_line(task_id=None), "task_id"),
        (_task_line(job_id="!!!notbase64"), "job_id"),
        (_task_line(attempt_number="one"), "attempt_number"),
        (_task_line(state_updates={"worker_pid": "x"}), "worker_pid"),
        (_task_line(state_updates={"state_ts_ns": {"BOGUS": "1"}}), "unknown task status"),
        (_task_line(task_info=[]), "task_info"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_lines_raise_with_reason(line: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        decode_line(line)
    assert reason in info.value.reason
    assert "\n" not in info.value.reason


def test_missing_task_id_is_malformed() -> None:
    data = {"job_id": "AQAAAA=="}
    line = json.dumps({"timestamp": 1, "source_type": "EXPORT_TASK", "event_data": data}).encode()
    with pytest.raises(MalformedEvent, match="missing task_id"):
        decode_line(line)


def test_the_agent_counts_skipped_sources_in_two_reasons(tmp_path: Path) -> None:
    """The agent's EventSource on real export-event files: library lines are counted as ignored by
    design, a source type this decoder does not know apart, and neither vanishes."""
    from rayscope.agent.events import IGNORED_REASON, UNKNOWN_REASON, EventSource

    events_dir = tmp_path / "logs" / "export_events"
    events_dir.mkdir(parents=True)
    train = [_envelope("EXPORT_TRAIN_RUN"), _envelope("EXPORT_TRAIN_RUN_ATTEMPT"), _envelope("EXPORT_TRAIN_RUN")]
    (events_dir / "event_EXPORT_TRAIN_STATE.log").write_bytes(b"\n".join(train) + b"\n")
    mixed = [_envelope("EXPORT_FROM_A_NEWER_RAY"), _task_line(), _envelope("EXPORT_DATASET_METADATA")]
    (events_dir / "event_EXPORT_MIXED.log").write_bytes(b"\n".join(mixed) + b"\n")
    src = EventSource(str(tmp_path), "node1")
    res = src.poll()
    assert [t.task_id for t in res.tasks] == ["00010203"]
    by_reason = {d.reason: d for d in res.drops}
    assert set(by_reason) == {IGNORED_REASON, UNKNOWN_REASON}
    ignored, unknown = by_reason[IGNORED_REASON], by_reason[UNKNOWN_REASON]
    assert (ignored.source, ignored.count) == ("events", 4)
    assert ignored.detail == "EXPORT_DATASET_METADATA x1, EXPORT_TRAIN_RUN x2, EXPORT_TRAIN_RUN_ATTEMPT x1"
    assert ignored.bytes == sum(map(len, train)) + len(mixed[2])
    assert (unknown.source, unknown.count, unknown.detail) == ("events", 1, "EXPORT_FROM_A_NEWER_RAY x1")
    assert unknown.bytes == len(mixed[0])
    assert src.poll().drops == []  # counted once
    src.close()
