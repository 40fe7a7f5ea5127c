"""The head's side of profiling without a cluster: headlines and grouping of stacks, a speedscope
document's top functions, and the broker's answers when a node's agent is missing or goes away."""
from __future__ import annotations

import asyncio
import json

import pytest

from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard.speedscope_tops import BadDocument, top_functions
from rayscope.dashboard.stack_summary import group, headline
from rayscope.profiling.head_link import NodeNotLinked, ProfileBroker, ProfilingFailed
from rayscope.wire import rayscope_ingest_pb2 as pb

SITE = "/opt/venv/lib/python3.11/site-packages"


def fr(function: str, file: str, line: int) -> pm.StackFrame:
    return pm.StackFrame(function=function, file=file, short_file=file.rsplit("/", 1)[-1], line=line)


# A worker in ray.get, innermost first, as py-spy shows it on Ray 2.60.
IN_RAY_GET = [
    fr("get_objects", f"{SITE}/ray/_private/worker.py", 900),
    fr("get", f"{SITE}/ray/_private/worker.py", 2800),
    fr("wrapper", f"{SITE}/ray/_private/client_mode_hook.py", 104),
    fr("auto_init_wrapper", f"{SITE}/ray/_private/auto_init_hook.py", 22),
    fr("retrieve", "/home/u/app/retriever.py", 88),
    fr("actor_method_executor", f"{SITE}/ray/_private/function_manager.py", 700),
    fr("main_loop", f"{SITE}/ray/_private/worker.py", 1000),
    fr("<module>", f"{SITE}/ray/_private/workers/default_worker.py", 290),
]
IN_USER_CODE = [fr("embed", "/home/u/app/model.py", 41), fr("actor_method_executor", f"{SITE}/ray/_private/function_manager.py", 700)]


def test_headline_names_the_ray_call_and_the_users_line() -> None:
    assert headline(IN_RAY_GET) == "ray.get at retriever.py:88"
    assert headline(IN_USER_CODE) == "embed at model.py:41"
    waiting = [fr("wait", "/usr/lib/python3.11/threading.py", 320), fr("take", "/srv/q.py", 7)]
    assert headline(waiting) == "threading.wait at q.py:7"
    idle = [fr("main_loop", f"{SITE}/ray/_private/worker.py", 1000)]
    assert headline(idle) == "main_loop at worker.py:1000"
    assert headline([]) == "no Python frames"


def _target(pid: int) -> pm.ResolvedTarget:
    return pm.ResolvedTarget(node_id="n1", pid=pid)


def _threads(frames: list[pm.StackFrame]) -> list[pm.ThreadStack]:
    side = pm.ThreadStack(thread_id=2, name="ray_print_logs", active=False,
                          frames=[fr("wait", "/usr/lib/python3.11/threading.py", 320)])
    return [side, pm.ThreadStack(thread_id=1, name="MainThread", active=True, frames=frames)]


def test_group_counts_identical_task_threads_largest_first() -> None:
    dumps = [(_target(p), _threads(IN_RAY_GET)) for p in range(1, 39)]
    dumps += [(_target(p), _threads(IN_USER_CODE)) for p in (100, 101)]
    other_line = [fr("retrieve", "/home/u/app/retriever.py", 90)] + IN_RAY_GET[5:]
    dumps.append((_target(200), _threads(other_line)))
    groups = group(dumps)
    assert [(g.count, g.headline) for g in groups] == [
        (38, "ray.get at retriever.py:88"), (2, "embed at model.py:41"), (1, "retrieve at retriever.py:90")]
    assert [t.pid for t in groups[1].targets] == [100, 101]


def _doc(frames: list[dict], samples: list[list[int]]) -> bytes:
    """A py-spy-like document: the main thread's samples, and a helper thread idle in frame 0 all along
    (it must not dilute the main thread's shares)."""
    return json.dumps({"shared": {"frames": frames}, "profiles": [
        {"type": "sampled", "name": 'Thread 8 "ray_print_logs"', "samples": [[0]] * 9, "weights": [0.01] * 9},
        {"type": "sampled", "name": 'Thread 7 "MainThread"', "samples": samples, "weights": [1] * len(samples)}]}).encode()


def test_top_functions_counts_self_and_total_shares() -> None:
    frames = [{"name": "<module>", "file": "a.py", "line": 1}, {"name": "outer", "file": "a.py", "line": 5},
              {"name": "leaf", "file": "a.py", "line": 9}]
    tops, samples, thread = top_functions(_doc(frames, [[0, 1, 2], [0, 1, 2], [0, 1, 2], [0, 1]]))
    assert samples == 13 and thread == 'Thread 7 "MainThread"'  # samples: every thread's
    assert [(t.function, t.self_share, t.total_share) for t in tops] == [("leaf", 0.75, 0.75), ("outer", 0.25, 1.0)]
    with pytest.raises(BadDocument):
        top_functions(b"<html>")


def test_broker_fails_at_once_without_a_link_and_when_the_link_goes() -> None:
    async def scenario() -> None:
        broker = ProfileBroker()
        with pytest.raises(NodeNotLinked):
            await broker.stack("n1", 42)
        link = broker._connected(pb.ProfileHello(node_id="n1", node_ip="10.0.0.2"))
        asked = asyncio.create_task(broker.stack("n1", 42))
        request = await asyncio.wait_for(link.outbox.get(), 5)
        assert request.stack.pid == 42
        broker._answered(link, pb.ProfileResult(request_id=request.request_id, error_kind="ptrace_denied",
                                                error="ptrace not permitted; fix: ..."))
        with pytest.raises(ProfilingFailed) as failed:
            await asked
        assert failed.value.kind == "ptrace_denied"
        pending = asyncio.create_task(broker.stack("n1", 43))
        await asyncio.wait_for(link.outbox.get(), 5)
        broker._gone(link, "its stream ended")
        with pytest.raises(ProfilingFailed, match="disconnected"):
            await pending
        assert broker.link("n1") is None

    asyncio.run(scenario())
