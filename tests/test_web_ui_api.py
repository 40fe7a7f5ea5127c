"""The head's side of the web UI: the public app shell, the token still guarding the API, and the
two endpoints the UI added (/timeline, /logs/tail), against a real head fed through the real wire."""
from __future__ import annotations

import re

import httpx
import pytest

from head_process import IngestClient, log_file, log_lines, running_head, task_event
from polling import wait_for
from rayscope.dashboard.ui import ui_dir
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ab" * 28
T0 = 1_700_000_000.0


def tid(i: int) -> str:
    return f"{i:048x}"


@pytest.fixture(scope="module")
def head():
    with running_head() as h:
        tasks = [task_event(tid(i), name=f"fn{i % 2}", type="NORMAL_TASK", node_id=NODE, worker_pid=100 + i % 3,
                            worker_id=f"{i % 3:056x}",
                            states={"PENDING_ARGS_AVAIL": T0 + i, "RUNNING": T0 + i + 0.5,
                                    **({"FAILED": T0 + i + 1} if i == 4 else {"FINISHED": T0 + i + 1})})
                 for i in range(6)]
        tasks.append(task_event(tid(99), name="waiting", node_id=NODE, states={"PENDING_ARGS_AVAIL": T0 + 50}))
        tasks.append(task_event(tid(98), name="busy", node_id=NODE, worker_pid=200, states={"PENDING_ARGS_AVAIL": T0 + 60,
                                                                                             "RUNNING": T0 + 61}))
        with IngestClient(h.grpc_address, h.token) as c:
            c.hello("agent-a", NODE)
            assert c.send(pb.Batch(seq=1, tasks=tasks, log_files=[log_file("f1", NODE, "/s/logs/raylet.out",
                                                                           kind=pb.LOG_RAYLET)],
                                   log_lines=log_lines("f1", [f"line {i}" for i in range(10)]))) == 1
        yield h


def test_app_shell_is_public_but_the_api_is_not(head) -> None:
    if ui_dir() is None:
        pytest.fail("the web UI is not built: ./run setup builds frontend/dist")
    for path in ("/", "/tasks/abc", "/logs?mode=search"):
        r = httpx.get(head.http_url + path)
        assert r.status_code == 200 and '<div id="app">' in r.text, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
    script = r.text.split('src="', 1)[1].split('"', 1)[0]
    asset = httpx.get(head.http_url + script)
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert httpx.get(head.http_url + "/assets/nope.js").status_code == 404
    assert httpx.get(head.http_url + "/api/v1/tasks").status_code == 401
    assert httpx.get(head.http_url + "/openapi.json").status_code == 401
    assert httpx.post(head.http_url + "/").status_code == 401  # only reads of the shell are public
    r = head.get("/no/such/thing")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint"}


def test_speedscope_is_served_from_the_heads_own_origin(head) -> None:
    """The vendored flame-graph viewer (frontend/build.mjs copies npm speedscope's release build):
    public like the shell, framable by the app only, and everything it loads is its own file."""
    if ui_dir() is None:
        pytest.fail("the web UI is not built: ./run setup builds frontend/dist")
    r = httpx.get(head.http_url + "/speedscope/index.html")
    assert r.status_code == 200 and "<title>speedscope</title>" in r.text
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "connect-src 'self' blob:" in csp
    assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    loaded = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert loaded and all("/" not in x and ":" not in x for x in loaded), loaded  # its own files, nothing external
    for name in loaded:
        assert httpx.get(f"{head.http_url}/speedscope/{name}").status_code == 200, name
    assert httpx.get(head.http_url + "/speedscope/").text == r.text
    assert httpx.get(head.http_url + "/speedscope/nope.js").status_code == 404
    assert httpx.get(head.http_url + "/speedscope/..%2Findex.html").status_code == 404
    assert httpx.get(head.http_url + "/").headers["content-security-policy"].endswith("frame-ancestors 'none'")


def test_timeline_groups_executions_into_worker_lanes(head) -> None:
    r = head.get("/timeline")
    assert r.status_code == 200, r.text
    tl = r.json()
    bars = {b["task_id"]: b for b in tl["bars"]}
    assert set(bars) == {tid(i) for i in range(6)} | {tid(98)}  # never-started tasks have no bar
    assert [b["start"] for b in tl["bars"]] == sorted(b["start"] for b in tl["bars"])
    assert {(lane["node_id"], lane["pid"]) for lane in tl["lanes"]} == {(NODE, 100), (NODE, 101), (NODE, 102), (NODE, 200)}
    for i in range(6):
        assert tl["lanes"][bars[tid(i)]["lane"]]["pid"] == 100 + i % 3
    assert bars[tid(4)]["state"] == "FAILED" and bars[tid(98)]["end"] is None
    assert not tl["truncated"]
    few = head.get("/timeline", limit=2).json()
    assert few["truncated"] and {b["task_id"] for b in few["bars"]} == {tid(98), tid(5)}  # the latest
    window = head.get("/timeline", since=T0 + 3.2, until=T0 + 4.6).json()
    assert {b["task_id"] for b in window["bars"]} == {tid(3), tid(4)}
    assert head.get("/timeline", limit=0).status_code == 400


def test_log_tail_returns_the_end_then_only_what_is_appended(head) -> None:
    first = head.get("/logs/tail", file_id="f1", lines=3).json()
    assert [ln["text"] for ln in first["rows"]] == ["line 7", "line 8", "line 9"]
    cursor = first["next_cursor"]
    empty = head.get("/logs/tail", file_id="f1", after=cursor).json()
    assert empty["rows"] == [] and empty["next_cursor"] == cursor
    with IngestClient(head.grpc_address, head.token) as c:
        seq = c.hello("agent-a", NODE)
        more = log_lines("f1", ["line 10", "line 11"], start_offset=sum(len(f"line {i}") + 1 for i in range(10)))
        assert c.send(pb.Batch(seq=seq + 1, log_lines=more)) == seq + 1
    got = wait_for("the new lines after the cursor",
                   lambda: head.get("/logs/tail", file_id="f1", after=cursor).json()["rows"], 10, every=0.1)
    assert [ln["text"] for ln in got] == ["line 10", "line 11"]
    assert head.get("/logs/tail", file_id="nope").status_code == 404
    r = head.get("/logs/tail", file_id="f1", after="garbage")
    assert r.status_code == 400 and "cursor" in r.json()["error"]
