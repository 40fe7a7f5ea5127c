"""The head's REST/WebSocket API over data ingested through the real wire (one head per module)."""
from __future__ import annotations

import json
import re
import time

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from head_process import IngestClient, log_file, log_lines, running_head, task_event
from polling import wait_for
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE_A, NODE_B = "aa" * 28, "bb" * 28
N_TASKS = 12_345
T0 = 1_700_000_000.0
ACTOR = "ac" * 16
WORKER_OUT = "worker-" + "77" * 28 + "-01000000-4242.out"


def tid(i: int) -> str:
    return f"{i:048x}"


def _bulk_tasks() -> list[pb.TaskEvent]:
    out = []
    for i in range(N_TASKS):
        states = {"PENDING_ARGS_AVAIL": T0 + i} if i % 10 else {}  # every 10th has no creation time
        if i % 3 == 0:
            states.update(RUNNING=T0 + i + 1, FINISHED=T0 + i + 2)
        out.append(task_event(tid(i), job_id="01000000" if i % 2 else "02000000", name=f"fn{i % 3}",
                              type="NORMAL_TASK", node_id=NODE_A if i % 4 else NODE_B, worker_pid=1000 + i % 7,
                              states=states))
    return out


def _log_dataset() -> pb.Batch:
    """A worker .out file: task T1's output, then actor-creation + actor task output (every task on
    that worker carries its id, as Ray's RUNNING events do: ranges are found by worker)."""
    texts = ["boot", ":task_name:produce", "produce says hi", "Found the NEEDLE here", "produce done",
             ":actor_name:Counter", "counter line one", "counter needle two", "tail line"]
    lines = log_lines("wfile", texts)
    off = [ln.offset for ln in lines]
    t1 = task_event(tid(900_001), name="produce", type="NORMAL_TASK", node_id=NODE_A, worker_pid=4242,
                    worker_id="77" * 28,
                    states={"PENDING_ARGS_AVAIL": T0, "RUNNING": T0 + 1, "FINISHED": T0 + 2},
                    stdout_file="/tmp/ray/session_x/logs/" + WORKER_OUT, stdout_start=off[1], stdout_end=off[5])
    create = task_event(tid(900_002), name="Counter.__init__", type="ACTOR_CREATION_TASK", node_id=NODE_A,
                        worker_pid=4242, actor_id=ACTOR, worker_id="77" * 28,
                        states={"PENDING_ARGS_AVAIL": T0 + 3, "RUNNING": T0 + 4, "FINISHED": T0 + 5},
                        stdout_file="/tmp/ray/session_x/logs/" + WORKER_OUT, stdout_start=off[5], stdout_end=off[6])
    method = task_event(tid(900_003), name="Counter.incr", type="ACTOR_TASK", node_id=NODE_A, worker_pid=4242,
                        actor_id=ACTOR, worker_id="77" * 28, states={"PENDING_ARGS_AVAIL": T0 + 6, "RUNNING": time.time()},
                        stdout_file="/tmp/ray/session_x/logs/" + WORKER_OUT, stdout_start=off[6])
    actor = pb.ActorEvent(actor_id=ACTOR, job_id="01000000", state="ALIVE", class_name="Counter", pid=4242,
                          node_id=NODE_A, event_time=time.time())
    procs = pb.ProcessSnapshot(ts=time.time(), processes=[
        pb.RayProcess(pid=4242, ppid=1, role="worker", title="ray::Counter.incr", cpu_percent=50.0, rss=1000,
                      uss=900, num_fds=10, num_threads=4, worker_id="77" * 28, job_id="01000000"),
        pb.RayProcess(pid=555, ppid=1, role="raylet", cpu_percent=1.0, rss=10, uss=9, num_fds=1, num_threads=1)])
    return pb.Batch(seq=0, tasks=[t1, create, method], actors=[actor], processes=procs,
                    log_files=[log_file("wfile", NODE_A, WORKER_OUT, worker_id="77" * 28, job_id="01000000",
                                        pid=4242)],
                    log_lines=lines)


@pytest.fixture(scope="module")
def head():
    with running_head() as h:
        tasks = _bulk_tasks()
        with IngestClient(h.grpc_address, h.token) as c:
            c.hello("agent-a", NODE_A)
            seq = 0
            for k in range(0, len(tasks), 5000):
                seq += 1
                assert c.send(pb.Batch(seq=seq, tasks=tasks[k:k + 5000])) == seq
            logs = _log_dataset()
            logs.seq = seq + 1
            assert c.send(logs) == seq + 1
        yield h


def _all_pages(head, path: str, **params) -> list[dict]:
    rows, cursor, pages = [], None, 0
    with head.client() as c:
        while True:
            p = dict(params, **({"cursor": cursor} if cursor else {}))
            r = c.get("/api/v1" + path, params=p)
            assert r.status_code == 200, r.text
            body = r.json()
            rows.extend(body["rows"])
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return rows


def test_cursor_pagination_has_no_cap(head):
    total = N_TASKS + 3
    rows = _all_pages(head, "/tasks", limit=1000)
    keys = [(r["task_id"], r["attempt"]) for r in rows]
    assert len(keys) == total and len(set(keys)) == total
    created = [r["creation_time"] for r in rows]
    non_null = [c for c in created if c is not None]
    assert non_null == sorted(non_null, reverse=True)  # default sort -creation_time, nulls last
    assert created.index(None) == len(non_null)
    by_id = _all_pages(head, "/tasks", sort="task_id", limit=10_000)
    assert [r["task_id"] for r in by_id] == sorted(r["task_id"] for r in rows)


def test_filters_and_sort(head):
    fin = _all_pages(head, "/tasks", filter=["state=FINISHED", "name=fn0"], sort="-start_time", limit=777)
    assert len(fin) == len(range(0, N_TASKS, 3))
    assert all(r["state"] == "FINISHED" and r["name"] == "fn0" for r in fin)
    starts = [r["start_time"] for r in fin]
    assert starts == sorted(starts, reverse=True)
    assert all(r["duration"] == pytest.approx(1.0) for r in fin)
    not_fin = _all_pages(head, "/tasks", filter=["state!=FINISHED", "job_id=01000000"], limit=5000)
    assert not_fin and all(r["state"] != "FINISHED" and r["job_id"] == "01000000" for r in not_fin)
    pid = _all_pages(head, "/tasks", filter=["worker_pid=1003", f"node_id={NODE_B}"])
    assert pid and all(r["worker_pid"] == 1003 and r["node_id"] == NODE_B for r in pid)
    summary = head.get("/tasks/summary").json()
    assert summary["total"] == N_TASKS + 3
    fn0 = next(r for r in summary["rows"] if r["name"] == "fn0")
    assert fn0["states"]["FINISHED"] == len(range(0, N_TASKS, 3)) and fn0["total"] == len(range(0, N_TASKS, 3))
    job2 = head.get("/tasks/summary", job_id="02000000").json()
    assert job2["total"] == (N_TASKS + 1) // 2


def test_errors_are_one_line_json(head):
    r = head.get("/tasks", filter="colour=red")
    assert r.status_code == 400 and "valid keys: task_id, attempt" in r.json()["error"]
    assert head.get("/tasks", sort="-colour").status_code == 400
    assert "valid fields" in head.get("/tasks", sort="-colour").json()["error"]
    assert head.get("/tasks", cursor="garbage!").json()["error"].startswith("bad cursor")
    assert head.get("/tasks", limit=10_001).status_code == 400
    assert head.get("/tasks", filter="worker_pid=abc").status_code == 400
    first = head.get("/tasks", limit=5).json()
    r = head.get("/tasks", sort="task_id", cursor=first["next_cursor"])
    assert r.status_code == 400 and "cursor" in r.json()["error"]
    for path in (f"/tasks/{'ff' * 24}", "/nodes/ffff", "/jobs/ffff", "/actors/ffff"):
        r = head.get(path)
        assert r.status_code == 404 and r.json()["error"].startswith("no "), path
    r = httpx.get(head.http_url + "/api/v1/tasks")
    assert r.status_code == 401 and "token" in r.json()["error"]
    r = httpx.get(head.http_url + "/openapi.json", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = httpx.get(head.http_url + "/openapi.json", headers={"Authorization": f"Bearer {head.token}"})
    assert r.status_code == 200 and "/api/v1/tasks" in r.json()["paths"]


def test_log_search_context_and_attribution(head):
    body = head.get("/logs/search", q="needle", context=1).json()
    hits = body["rows"]
    assert [h["line"]["text"] for h in hits] == ["Found the NEEDLE here", "counter needle two"]
    first, second = hits
    assert first["line"]["task_id"] == tid(900_001) and first["line"]["task_name"] == "produce"
    assert first["line"]["node_id"] == NODE_A and first["line"]["job_id"] == "01000000"
    assert [x["text"] for x in first["before"]] == ["produce says hi"]
    assert [x["text"] for x in first["after"]] == ["produce done"]
    assert second["line"]["task_id"] == tid(900_003) and second["line"]["actor_id"] == ACTOR
    assert [x["text"] for x in second["after"]] == ["tail line"]
    rx = head.get("/logs/search", regex=r"^counter \w+ (one|two)$").json()["rows"]
    assert [h["line"]["text"] for h in rx] == ["counter line one", "counter needle two"]
    short = head.get("/logs/search", q="HI").json()["rows"]  # under 3 chars: scanned, not indexed
    assert [h["line"]["text"] for h in short] == ["produce says hi"]
    only = head.get("/logs/search", q="needle", task_id=tid(900_003)).json()["rows"]
    assert [h["line"]["text"] for h in only] == ["counter needle two"]
    assert head.get("/logs/search", q="needle", regex="x").status_code == 400
    paged = head.get("/logs/search", q="line", limit=1).json()
    assert paged["next_cursor"] and len(paged["rows"]) == 1
    nxt = head.get("/logs/search", q="line", limit=1, cursor=paged["next_cursor"]).json()["rows"]
    assert nxt[0]["line"]["offset"] > paged["rows"][0]["line"]["offset"]


def test_log_lines_by_task_and_actor(head):
    t1 = head.get("/logs/lines", task_id=tid(900_001)).json()["rows"]
    assert [x["text"] for x in t1] == [":task_name:produce", "produce says hi", "Found the NEEDLE here",
                                       "produce done"]
    actor = head.get("/logs/lines", actor_id=ACTOR).json()["rows"]
    assert len(actor) == 9 and all(x["actor_id"] == ACTOR for x in actor[5:])
    assert head.get("/logs/lines", task_id="ffff").status_code == 404
    assert head.get("/logs/lines").status_code == 400
    pages = _all_pages(head, "/logs/lines", node_id=NODE_A, limit=2)
    assert [x["offset"] for x in pages] == sorted(x["offset"] for x in pages) and len(pages) == 9


def test_workers_and_processes_join_running_tasks(head):
    workers = head.get("/workers").json()["rows"]
    assert len(workers) == 1
    w = workers[0]
    assert (w["pid"], w["worker_type"], w["task_id"], w["task_name"], w["actor_id"]) == (
        4242, "WORKER", tid(900_003), "Counter.incr", ACTOR)
    procs = head.get("/processes", filter="role=raylet").json()["rows"]
    assert [p["pid"] for p in procs] == [555] and procs[0]["task_id"] is None
    actors = head.get("/actors/summary").json()
    assert actors["rows"][0]["class_name"] == "Counter" and actors["rows"][0]["states"] == {"ALIVE": 1}


def test_workers_keep_dead_ones_with_their_exit(head):
    """GCS's worker rows: a dead worker stays listed with its exit type after its process is gone, a
    late row from before its death does not revive it, and a live row takes the live process's usage."""
    dead, live = "d0" * 28, "77" * 28
    t = time.time()
    died = pb.WorkerEvent(worker_id=dead, node_id=NODE_A, pid=3131, worker_type="WORKER", job_id="01000000",
                          is_alive=False, exit_type="SYSTEM_ERROR", exit_detail="Worker exits unexpectedly. os._exit",
                          start_time=t - 10, end_time=t - 1, event_time=t)
    before = pb.WorkerEvent(worker_id=dead, node_id=NODE_A, pid=3131, worker_type="WORKER", job_id="01000000",
                            is_alive=True, start_time=t - 10, event_time=t - 5)
    alive = pb.WorkerEvent(worker_id=live, node_id=NODE_A, pid=4242, worker_type="WORKER", is_alive=True,
                           event_time=t)
    bad = pb.WorkerEvent(worker_id=dead, node_id=NODE_A, pid=1, worker_type="WORKER", exit_type="EXPLODED",
                         event_time=t)
    reused = pb.WorkerEvent(worker_id="e0" * 28, node_id=NODE_A, pid=5151, worker_type="WORKER", is_alive=False,
                            exit_type="INTENDED_SYSTEM_EXIT", start_time=t - 200, end_time=t - 100, event_time=t)
    # The latest snapshot still holds the dead worker's process (3131, created before it ended), and a
    # new process that got the pid of a worker that ended long before it started (5151).
    procs = pb.ProcessSnapshot(ts=t, processes=[
        pb.RayProcess(pid=4242, ppid=1, role="worker", title="ray::Counter.incr", cpu_percent=50.0, rss=1000,
                      uss=900, num_fds=10, num_threads=4, worker_id=live, job_id="01000000"),
        pb.RayProcess(pid=3131, ppid=1, role="worker", title="ray::IDLE", create_time=t - 10, num_fds=1, num_threads=1),
        pb.RayProcess(pid=5151, ppid=1, role="worker", title="ray::IDLE", create_time=t - 5, num_fds=1, num_threads=1)])
    with IngestClient(head.grpc_address, head.token) as c:
        seq = c.hello("agent-workers", NODE_A)
        assert c.send(pb.Batch(seq=seq + 1, workers=[died, alive, bad, reused], processes=procs)) == seq + 1
        assert c.send(pb.Batch(seq=seq + 2, workers=[before])) == seq + 2
    listed = _all_pages(head, "/workers", limit=1)
    assert sorted((w["worker_id"] or "", w["pid"], w["is_alive"]) for w in listed) == sorted([
        (dead, 3131, False), (live, 4242, True), ("e0" * 28, 5151, False), ("", 5151, True)])
    rows = {w["worker_id"]: w for w in listed}  # the live process is listed once, under its GCS row
    d = rows[dead]
    assert (d["is_alive"], d["exit_type"], d["exit_detail"], d["pid"], d["cpu_percent"]) == (
        False, "SYSTEM_ERROR", "Worker exits unexpectedly. os._exit", 3131, None)
    assert d["end_time"] == pytest.approx(t - 1)
    w = rows[live]
    assert (w["is_alive"], w["exit_type"], w["cpu_percent"], w["task_name"]) == (True, None, 50.0, "Counter.incr")
    only_dead = head.get("/workers", filter="is_alive=false").json()["rows"]
    assert sorted(x["worker_id"] for x in only_dead) == [dead, "e0" * 28]
    by_exit = head.get("/workers", filter="exit_type=SYSTEM_ERROR").json()["rows"]
    assert [x["worker_id"] for x in by_exit] == [dead]
    health = head.get("/ingest/health").json()
    assert "unknown worker exit type 'EXPLODED'" in json.dumps(health)  # the bad row is a reported drop


def test_websocket_delta_arrives(head):
    url = head.http_url.replace("http://", "ws://") + "/api/v1/ws"
    with pytest.raises(InvalidStatus):
        with ws_client.connect(url + "?token=wrong", open_timeout=10):
            pass
    with ws_client.connect(url + f"?token={head.token}", open_timeout=10) as ws:
        metrics = head.http_url + "/metrics"
        auth = {"Authorization": f"Bearer {head.token}"}
        wait_for("the hub to register the WebSocket client before the commit",
                 lambda: re.search(r"^rayscope_head_websocket_clients 1\.0$", httpx.get(metrics, headers=auth).text,
                                   re.M), 10, every=0.05)
        with IngestClient(head.grpc_address, head.token) as c:
            seq = c.hello("agent-ws", NODE_B)
            c.send(pb.Batch(seq=seq + 1, tasks=[task_event(tid(777_777), name="ws_probe",
                                                            states={"RUNNING": time.time()})],
                            workers=[pb.WorkerEvent(worker_id="f1" * 28, node_id=NODE_B, pid=9, worker_type="WORKER",
                                                    is_alive=False, exit_type="SYSTEM_ERROR", event_time=time.time())]))
        deadline = time.monotonic() + 10
        seen: dict[str, dict] = {}
        while len(seen) < 2 and time.monotonic() < deadline:
            msg = json.loads(ws.recv(timeout=10))
            if msg["kind"] in ("tasks", "workers"):
                seen[msg["kind"]] = msg
        assert set(seen) == {"tasks", "workers"}, seen
        assert {"task_id": tid(777_777), "attempt": 0, "job_id": "01000000", "state": "RUNNING"} in seen["tasks"]["rows"]
        assert {"worker_id": "f1" * 28, "state": None} in seen["workers"]["rows"]
