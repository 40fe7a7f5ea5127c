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
from rayscope.wire.rayscope_ingest_pb2 import ActorEvent, JobEvent, NodeEvent, SubmissionJobEvent, TaskEvent

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


def test_unknown_source_is_skipped_not_decoded() -> None:
    assert decode(_envelope("EXPORT_FROM_A_NEWER_RAY")) == Skipped("EXPORT_FROM_A_NEWER_RAY", by_design=False)
    assert decode_line(_envelope("EXPORT_FROM_A_NEWER_RAY")) is None


def test_every_source_ray_writes_is_decoded() -> None:
    """Oracle: the installed Ray's own ExportEvent.SourceType enum. Every source type it can write is
    decoded (IGNORED_SOURCES is empty since issue 13); nothing Ray 2.60 writes counts as unknown."""
    from ray.core.generated.export_event_pb2 import ExportEvent

    decoded = {"EXPORT_TASK", "EXPORT_ACTOR", "EXPORT_NODE", "EXPORT_DRIVER_JOB", "EXPORT_SUBMISSION_JOB",
               "EXPORT_TRAIN_RUN", "EXPORT_TRAIN_RUN_ATTEMPT",
               "EXPORT_DATASET_METADATA", "EXPORT_DATASET_OPERATOR_EVENT", "EXPORT_DATASET_OPERATOR_SCHEMA"}
    assert set(ExportEvent.SourceType.keys()) == decoded
    assert IGNORED_SOURCES == frozenset()


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


def test_the_agent_counts_unknown_sources(tmp_path: Path) -> None:
    """The agent's EventSource on real export-event files: lines of a source type this decoder does
    not know (a newer Ray's) are counted by type as one report per poll, and do not vanish."""
    from rayscope.agent.events import UNKNOWN_REASON, EventSource

    events_dir = tmp_path / "logs" / "export_events"
    events_dir.mkdir(parents=True)
    mixed = [_envelope("EXPORT_FROM_A_NEWER_RAY"), _task_line(), _envelope("EXPORT_PLACEMENT_GROUP"),
             _envelope("EXPORT_FROM_A_NEWER_RAY")]
    (events_dir / "event_EXPORT_MIXED.log").write_bytes(b"\n".join(mixed) + b"\n")
    src = EventSource(str(tmp_path), "node1")
    res = src.poll()
    assert [t.task_id for t in res.tasks] == ["00010203"]
    assert len(res.drops) == 1
    unknown = res.drops[0]
    assert (unknown.source, unknown.reason, unknown.count) == ("events", UNKNOWN_REASON, 3)
    assert unknown.detail == "EXPORT_FROM_A_NEWER_RAY x2, EXPORT_PLACEMENT_GROUP x1"
    assert unknown.bytes == len(mixed[0]) + len(mixed[2]) + len(mixed[3])
    assert src.poll().drops == []  # counted once
    src.close()


# A SUCCEEDED line as Ray 2.60's job agent writes it (ray-2.60-libraries.md §6.5; the runtime env as
# `ray job submit --working-dir . --runtime-env-json` leaves it).
_SUBMISSION_DATA = {
    "submission_job_id": "lv_job_1", "status": "SUCCEEDED", "entrypoint": "python job.py",
    "message": "Job finished successfully.", "start_time": "1796405608556", "end_time": "1796405635398",
    "runtime_env_json": json.dumps({"working_dir": "gcs://_ray_pkg_e50a169fa2d1e476.zip",
                                    "env_vars": {"A": "1", "SECRET": "s3cr3t"}, "pip": ["requests", "rich"]}),
    "driver_agent_http_address": "http://192.0.2.2:52365",
    "driver_node_id": "b9c07483b9c07483b9c07483b9c07483b9c07483b9c07483b9c07483",
    "driver_exit_code": 0, "metadata": {},
}


def _submission_line(**overrides: object) -> bytes:
    data = {**_SUBMISSION_DATA, **overrides}
    data = {k: v for k, v in data.items() if v is not None}
    return json.dumps({"event_id": "6ab2bB0152FbE0Bf3A", "timestamp": 1796405635,
                       "source_type": "EXPORT_SUBMISSION_JOB", "event_data": data}).encode()


def test_submitted_job_decodes_with_a_short_runtime_env() -> None:
    ev = decode_line(_submission_line())
    assert isinstance(ev, SubmissionJobEvent)
    assert (ev.submission_id, ev.status, ev.entrypoint, ev.message) == (
        "lv_job_1", "SUCCEEDED", "python job.py", "Job finished successfully.")
    assert (ev.start_time_ms, ev.end_time_ms, ev.event_time) == (1796405608556, 1796405635398, 1796405635.0)
    assert ev.HasField("driver_exit_code") and ev.driver_exit_code == 0
    assert ev.driver_node_id == _SUBMISSION_DATA["driver_node_id"]
    # keys and counts only: env var values (here a secret) never leave the node
    assert ev.runtime_env == "env_vars(2), pip(2), working_dir"
    assert not ev.HasField("error_type")


def test_pending_submission_has_no_exit_code_and_default_status() -> None:
    """Ray prints PENDING (enum 0) and leaves unset optional fields out."""
    ev = decode_line(_submission_line(status=None, driver_exit_code=None, end_time=None, runtime_env_json=None))
    assert ev.status == "PENDING"
    assert not ev.HasField("driver_exit_code") and not ev.HasField("end_time_ms")
    assert not ev.HasField("runtime_env")


def test_runtime_env_summary_is_bounded() -> None:
    from rayscope.runtime.export_events import RUNTIME_ENV_SUMMARY_MAX, runtime_env_summary

    huge = json.dumps({f"plugin_{i:04d}": list(range(i)) for i in range(1, 500)})
    summary = runtime_env_summary(huge)
    assert len(summary) == RUNTIME_ENV_SUMMARY_MAX and summary.startswith("plugin_0001(1), plugin_0002(2)")
    assert runtime_env_summary('{"working_dir": "x"') == "unreadable runtime_env_json (19 bytes)"


@pytest.mark.parametrize("overrides, reason", [
    ({"submission_job_id": ""}, "missing submission_job_id"),
    ({"status": "EXPLODED"}, "unknown job status"),
    ({"driver_exit_code": "x"}, "driver_exit_code"),
])
def test_malformed_submission_lines(overrides: dict, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        decode_line(_submission_line(**overrides))


def test_submitted_driver_carries_its_submission_id() -> None:
    """EXPORT_DRIVER_JOB of a submitted job: config.metadata names the submission (the join key)."""
    data = {"job_id": "BQAAAA==", "is_dead": False, "driver_pid": "4242", "driver_ip_address": "192.0.2.2",
            "start_time": "1796405610000", "entrypoint": "python job.py",
            "config": {"ray_namespace": "ns", "metadata": {"job_name": "lv_job_1", "job_submission_id": "lv_job_1"}}}
    line = json.dumps({"event_id": "x", "timestamp": 1796405610, "source_type": "EXPORT_DRIVER_JOB",
                       "event_data": data}).encode()
    ev = decode_line(line)
    assert isinstance(ev, JobEvent) and ev.job_id == "05000000" and ev.submission_id == "lv_job_1"


def test_the_agent_ships_submitted_jobs_not_drops(tmp_path: Path) -> None:
    """Submission lines are read (events), no longer counted as ignored."""
    from rayscope.agent.events import EventSource

    events_dir = tmp_path / "logs" / "export_events"
    events_dir.mkdir(parents=True)
    lines = [_submission_line(status="PENDING", driver_exit_code=None), _submission_line()]
    (events_dir / "event_EXPORT_SUBMISSION_JOB.log").write_bytes(b"\n".join(lines) + b"\n")
    src = EventSource(str(tmp_path), "node1")
    res = src.poll()
    assert [(e.submission_id, e.status) for e in res.submission_jobs] == [("lv_job_1", "PENDING"),
                                                                          ("lv_job_1", "SUCCEEDED")]
    assert res.drops == [] and res.count() == 2
    src.close()
