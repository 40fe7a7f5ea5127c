"""The head's /metrics, service discovery and the ray-memory formatting, without a Ray cluster.

A real head process fed over its real ingest stream (tests/head_process.py); exact counts
because the input is exact.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from head_process import IngestClient, running_head, task_event
from polling import wait_for
from prom_text import sample_values
from rayscope.cli import memory_leaks as leaks
from rayscope.cli import memory_table as mt
from rayscope.cli.metrics_cli import prometheus_config
from rayscope.dashboard.models import ObjectRef, ObjectStoreStats
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ab" * 28
METRICS_URL = "http://127.0.0.1:45678/metrics"


def _tid(i: int) -> str:
    return f"{i:048x}"


def test_head_metrics_count_every_transition_and_sd_follows_agents() -> None:
    t0 = time.time() - 50
    with running_head() as head:
        auth = {"Authorization": f"Bearer {head.token}"}
        sd_file = head.db_path.parent / "prometheus_file_sd.json"
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello("agent-1", NODE, session_name="session_x", metrics_url=METRICS_URL)
            # 5 typed tasks pending; 3 finish and 1 fails in a later batch; 2 untyped deltas first
            c.send(pb.Batch(seq=1, tasks=[task_event(_tid(i), name="f", type="NORMAL_TASK",
                                                     states={"PENDING_NODE_ASSIGNMENT": t0 + i}) for i in range(5)]
                            + [task_event(_tid(9), states={"RUNNING": t0 + 1, "FINISHED": t0 + 2})]))
            c.send(pb.Batch(seq=2, tasks=[task_event(_tid(i), states={"RUNNING": t0 + 10, "FINISHED": t0 + 11})
                                          for i in range(3)]
                            + [task_event(_tid(3), states={"RUNNING": t0 + 10, "FAILED": t0 + 12})]
                            + [task_event(_tid(9), name="late", type="ACTOR_TASK")],  # type arrives after the end
                            actors=[pb.ActorEvent(actor_id="cd" * 16, job_id="01000000", state=s, event_time=t0 + k)
                                    for k, s in enumerate(("PENDING_CREATION", "ALIVE", "ALIVE", "DEAD"))]))
            c.send(pb.Batch(seq=3, drops=[pb.DropReport(source="logs", reason="spool over budget", count=7,
                                                        bytes=700, ts=time.time())]))
            assert httpx.get(head.http_url + "/metrics", timeout=10).status_code == 401
            s = sample_values(httpx.get(head.http_url + "/metrics", headers=auth, timeout=10).text)
            entered = {k: v for k, v in s.items() if k.startswith("rayscope_tasks_entered_total")}
            assert entered == {
                'rayscope_tasks_entered_total{state="PENDING_NODE_ASSIGNMENT",type="NORMAL_TASK"}': 5,
                # batch 2's deltas per task collapse: RUNNING is skipped by the merge, the end is exact
                'rayscope_tasks_entered_total{state="FINISHED",type="NORMAL_TASK"}': 3,
                'rayscope_tasks_entered_total{state="FAILED",type="NORMAL_TASK"}': 1,
                'rayscope_tasks_entered_total{state="FINISHED",type="ACTOR_TASK"}': 1,
            }
            assert s['rayscope_tasks_in_state{state="PENDING_NODE_ASSIGNMENT",type="NORMAL_TASK"}'] == 1
            assert s['rayscope_actors_entered_total{state="ALIVE"}'] == 1  # the repeated ALIVE is no transition
            assert s['rayscope_actors_entered_total{state="DEAD"}'] == 1
            assert s['rayscope_actors_in_state{state="DEAD"}'] == 1
            assert s['rayscope_dropped_items_total{source="logs",stage="agent"}'] == 7
            assert s['rayscope_dropped_bytes_total{source="logs",stage="agent"}'] == 700
            assert s["rayscope_head_ingest_batches_total"] == 3 and s["rayscope_head_agents_connected"] == 1
            assert s["rayscope_head_process_resident_memory_bytes"] > 0
            # discovery: the head and the agent, by http_sd and in the file_sd file
            sd = httpx.get(head.http_url + "/api/v1/metrics/targets", headers=auth, timeout=10).json()
            head_target = head.http_url.removeprefix("http://")
            assert [(g["targets"], g["labels"]["component"]) for g in sd] == [
                ([head_target], "head"), (["127.0.0.1:45678"], "agent")]
            assert all(g["labels"]["ray_session"] == "session_x" for g in sd)
            wait_for("the file_sd file to list what http_sd lists",
                     lambda: sd_file.exists() and json.loads(sd_file.read_text()) == sd, 20)
        # the agent's stream closed: it leaves both discovery paths
        wait_for("http_sd to drop the agent",
                 lambda: len(httpx.get(head.http_url + "/api/v1/metrics/targets", headers=auth).json()) == 1, 20)
        wait_for("file_sd to drop the agent", lambda: len(json.loads(sd_file.read_text())) == 1, 20)
        assert not list(sd_file.parent.glob(".prometheus_file_sd.json.tmp*"))  # replaced atomically
        # no Prometheus configured: the range endpoint says so
        r = httpx.get(head.http_url + "/api/v1/metrics/prometheus/query_range", headers=auth,
                      params={"query": "up", "start": 1, "end": 2})
        assert r.status_code == 404 and "no Prometheus configured" in r.json()["error"]
    # counters survive a restart (they live in SQLite)


def test_prometheus_config_uses_the_token_file(tmp_path: Path) -> None:
    cfg = prometheus_config("http://10.0.0.1:8290", tmp_path / "token", "http", None, "5s")
    head, agents = cfg["scrape_configs"]
    auth = {"type": "Bearer", "credentials_file": str(tmp_path / "token")}
    assert head["authorization"] == auth
    # Agents' /metrics are open plain HTTP on other hosts: the token must not be sent there.
    assert "authorization" not in agents
    for job, component in ((head, "head"), (agents, "agent")):
        assert job["http_sd_configs"][0]["url"] == "http://10.0.0.1:8290/api/v1/metrics/targets"
        assert job["http_sd_configs"][0]["authorization"] == auth  # discovery asks the head itself
        assert {"source_labels": ["component"], "regex": component, "action": "keep"} in job["relabel_configs"]
        assert {"target_label": "job", "replacement": "rayscope"} in job["relabel_configs"]
    cfg = prometheus_config("http://10.0.0.1:8290", tmp_path / "token", "file", tmp_path / "sd.json", "5s")
    for job in cfg["scrape_configs"]:
        assert job["file_sd_configs"] == [{"files": [str(tmp_path / "sd.json")], "refresh_interval": "10s"}]


# ------------------------------------------------------------------ ray-memory formatting


def _ref(i: int, size: int | None, ref_type: str = "LOCAL_REFERENCE", pid: int = 100, ip: str = "10.0.0.1",
         call_site: str = "disabled") -> ObjectRef:
    return ObjectRef(object_id=f"{i:056x}", node_id=NODE, node_ip=ip, pid=pid, worker_type="Driver",
                     call_site=call_site, task_status="FINISHED", attempt=1, object_size=size,
                     reference_type=ref_type, sampled_at=0.0)


ROWS = [_ref(1, 15), _ref(2, 30_000_000, "PINNED_IN_MEMORY", pid=7),
        _ref(3, None, "USED_BY_PENDING_TASK", pid=300, ip="10.0.0.2", call_site="a.py:12 " + "x" * 60),
        _ref(4, 2_000, "ACTOR_HANDLE", pid=50)]


def test_memory_groups_sort_largest_first_and_summaries() -> None:
    groups = mt.group_rows(ROWS, "NODE_ADDRESS", "OBJECT_SIZE")
    assert [g.key for g in groups] == ["10.0.0.1", "10.0.0.2"]
    assert [r.object_size for r in groups[0].rows] == [30_000_000, 2_000, 15]
    assert groups[0].summary.total_bytes == 30_002_015
    by_pid = {g.key: g for g in mt.group_rows(ROWS, "NODE_ADDRESS", "PID")}
    assert [r.pid for r in by_pid["10.0.0.1"].rows] == [100, 50, 7]
    by_type = mt.group_rows(ROWS, "STACK_TRACE", "REFERENCE_TYPE")
    assert [r.reference_type for r in by_type[0].rows] == ["ACTOR_HANDLE", "PINNED_IN_MEMORY", "LOCAL_REFERENCE"]
    lines = mt.summary_lines(groups[0].summary, "MB")
    assert lines[0].split("  ")[0] == "Mem Used by Objects" and "30.002015 MB" in lines[1]
    assert "1, (30.0 MB)" in lines[1]  # pinned: count, (bytes)


@pytest.mark.parametrize("width", [60, 100, 160, 300])
def test_memory_table_fits_any_width_and_never_cuts_ids(width: int) -> None:
    lines = mt.table_lines(ROWS, "B", width)
    text = "\n".join(lines)
    assert all(f"{i:056x}" in text for i in range(1, 5))  # whole ids
    assert "?" in text  # unknown size, as Ray prints it
    if width >= 150:
        # header + one line per entry, + the long call site's wrapped lines when it does not fit
        assert len(lines) == 1 + len(ROWS) if width == 300 else len(lines) > 1 + len(ROWS)
        assert all(len(line) <= width for line in lines)
        col = lines[0].index("Object Ref")  # every id starts under its header
        assert sorted(line[col:col + 56] for line in lines[1:] if line[col:col + 1].strip()) == [
            f"{i:056x}" for i in range(1, 5)]
    else:
        assert len(lines) == 2 + 2 * len(ROWS)  # two lines per entry, the id alone on the second
        assert all(re.fullmatch(r"  [0-9a-f]{56}", line) for line in lines[3::2])


def test_store_block_like_ray() -> None:
    s = ObjectStoreStats(nodes=2, used_bytes=195 << 20, capacity_bytes=500 << 20, num_objects=2000,
                         spilled_bytes_total=0, restored_bytes_total=0, fallback_bytes=0)
    assert mt.store_block(s) == ["--- Aggregate object store stats across all nodes ---",
                                 "Plasma memory usage 195 MiB, 2000 objects, 39.0% full"]


def test_leak_hint_needs_steady_growth(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    site = "leaky.py:3"
    snaps = []
    for n in (1, 2, 4):
        snaps = leaks.record(path, leaks.call_site_totals([_ref(i, 100, call_site=site) for i in range(n)]
                                                        + [_ref(99, 5, call_site="steady.py:1")]))
    hints = leaks.leak_hints(snaps, 3)
    assert [(h.call_site, h.objects, h.bytes) for h in hints] == [(site, [1, 2, 4], [100, 200, 400])]
    snaps = leaks.record(path, leaks.call_site_totals([_ref(0, 100, call_site=site)]))  # it shrank
    assert leaks.leak_hints(snaps, 3) == []
    for _ in range(25):
        snaps = leaks.record(path, [])
    assert len(path.read_text().splitlines()) == leaks.MAX_SNAPSHOTS
