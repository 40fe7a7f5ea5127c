"""The worker's `up` message as the agent checks it (debugger/relay_protocol.PausedSession): the
agent's own check, without the head's pydantic models."""
from __future__ import annotations

from dataclasses import fields

import pytest

from rayscope.agent.debug_relay import _up_message
from rayscope.debugger.relay_protocol import PausedSession
from rayscope.wire import rayscope_ingest_pb2 as pb

# What debugger/worker_hook.py sends for a task paused at a breakpoint (its `_describe`).
WORKER_SENDS = dict(
    session_id="a" * 32, cluster_id="session_2026", state="paused", reason="breakpoint", pid=4242,
    paused_at=1_790_000_000.5, node_id="ab" * 28, node_ip="10.0.0.2", exception=None, job_id="01000000",
    task_id="cd" * 24, actor_id=None, attempt=0, function="f", file="/w/x.py", line=7, worker_id="ef" * 28,
    working_dir="/w",
)


def test_what_a_worker_sends_reaches_the_wire_message() -> None:
    s = PausedSession.from_message(WORKER_SENDS)
    up = _up_message(s)
    assert (up.session_id, up.reason, up.pid, up.paused_at, up.line, up.file, up.cluster_id, up.job_id) == (
        "a" * 32, "breakpoint", 4242, 1_790_000_000.5, 7, "/w/x.py", "session_2026", "01000000")
    assert up.actor_id == "" and up.exception == ""  # None travels as proto3's empty default


def test_every_wire_field_has_a_source() -> None:
    """A field added to DebugSessionUp must be carried from the worker's message too."""
    assert {f.name for f in pb.DebugSessionUp.DESCRIPTOR.fields} <= {f.name for f in fields(PausedSession)}


@pytest.mark.parametrize(("change", "message"), [
    ({"pid": None}, "session.pid is missing"),
    ({"pid": "4242"}, "session.pid must be int, not str"),
    ({"line": True}, "session.line must be int, not bool"),
    ({"paused_at": "now"}, "session.paused_at must be float, not str"),
    ({"reason": "whim"}, "session.reason must be one of breakpoint, exception, not 'whim'"),
])
def test_a_bad_field_is_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        PausedSession.from_message({**WORKER_SENDS, **change})
    assert str(err.value) == message


def test_not_an_object() -> None:
    with pytest.raises(ValueError, match="session must be an object, not list"):
        PausedSession.from_message([1])
