"""A paused worker's `up` message as the agent checks it (agent/debug_relay.session_up): the wire's
DebugSessionUp is the one list of fields, without the head's pydantic models."""
from __future__ import annotations

import pytest

from rayscope.agent.debug_relay import session_up

# What debugger/worker_hook.py sends for a task paused at a breakpoint (its `_describe`).
WORKER_SENDS = dict(
    session_id="a" * 32, cluster_id="session_2026", state="paused", reason="breakpoint", pid=4242,
    paused_at=1_790_000_000.5, node_id="ab" * 28, node_ip="10.0.0.2", exception=None, job_id="01000000",
    task_id="cd" * 24, actor_id=None, attempt=0, function="f", file="/w/x.py", line=7, worker_id="ef" * 28,
    working_dir="/w",
)


def test_what_a_worker_sends_becomes_the_wire_message() -> None:
    up = session_up(WORKER_SENDS)
    assert (up.session_id, up.cluster_id, up.reason, up.pid, up.paused_at, up.line, up.file, up.function,
            up.job_id, up.task_id, up.worker_id, up.working_dir) == (
        "a" * 32, "session_2026", "breakpoint", 4242, 1_790_000_000.5, 7, "/w/x.py", "f",
        "01000000", "cd" * 24, "ef" * 28, "/w")
    assert up.actor_id == "" and up.exception == ""  # None travels as proto3's empty default
    assert session_up({**WORKER_SENDS, "paused_at": 5}).paused_at == 5.0  # a whole number of seconds


@pytest.mark.parametrize(("change", "message"), [
    ({"pid": None}, "session.pid is missing"),
    ({"cluster_id": None}, "session.cluster_id is missing"),
    ({"pid": "4242"}, "session.pid must be int, not str"),
    ({"line": True}, "session.line must be int, not bool"),
    ({"paused_at": "now"}, "session.paused_at must be float, not str"),
    ({"reason": "whim"}, "session.reason must be one of breakpoint, exception, not 'whim'"),
])
def test_a_bad_field_is_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        session_up({**WORKER_SENDS, **change})
    assert str(err.value) == message


def test_out_of_range_and_not_an_object() -> None:
    with pytest.raises(ValueError):
        session_up({**WORKER_SENDS, "pid": 2**40})
    with pytest.raises(ValueError, match="session must be an object, not list"):
        session_up([1])
