"""Items over the wire's size limit (wire/limits.py: the head's 16 MiB gRPC message) never stall a
node's stream (issue 12 §1), end to end: a real Ray node, the real agent process and the real head.

Each test uses real sizes, over the head's limit (no lowered limit):
- a task whose exception is 20 MB: Ray writes it into a 40 MB export-event line (its profile events);
  the event keeps its other fields with the long string cut, the cut is a DropReport, and what
  follows arrives;
- a log file whose unread tail (20 MiB) is rotated away: read over several batches, every line
  arrives, and the new generation after it;
- a node holding 40,000 object refs (an 18 MB object table): the snapshot is cut to its share of
  the message (largest objects kept), the cut is a DropReport, and the stream goes on.
Before the fix each of these made a batch the head refused (resent forever, everything behind it
stuck) or lost the event.
"""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from head_process import HeadProcess, start_head
from polling import wait_for
from rayscope.agent.events import SHRUNK_REASON
from rayscope.agent.volatile import OBJECTS_CUT_REASON
from rayscope.runtime.node_identity import discover
from test_agent_collectors import PY, RayNode, stop_agent, token
from test_agent_loss import _append, _drops, _start_agent

MiB = 1 << 20


@dataclass
class Rig:
    """A real head and the real agent of the test's Ray node, stopped after the test."""

    node_id: str
    head: HeadProcess
    agent: subprocess.Popen
    agent_log: Path

    def context(self) -> str:
        return self.agent_log.read_text()[-3000:]


@pytest.fixture
def rig(ray_node: RayNode, tmp_path: Path) -> Iterator[Rig]:
    (tmp_path / "head").mkdir()
    head = start_head(workdir=tmp_path / "head", token=token(ray_node))
    agent_log = tmp_path / "agent.log"
    agent, _ = _start_agent(ray_node, head, tmp_path / "state", agent_log)
    try:
        yield Rig(discover(ray_node.session_dir).node_id, head, agent, agent_log)
    finally:
        stop_agent(agent)
        head.stop()


def _all_rows(head: HeadProcess, path: str, **params) -> list[dict]:
    """Every row of a listing, following its cursor (pages stop at ~4 MiB)."""
    rows: list[dict] = []
    cursor = None
    while True:
        r = head.get(path, limit=10_000, **params, **({"cursor": cursor} if cursor else {}))
        if r.status_code == 404:
            return rows
        r.raise_for_status()
        page = r.json()
        rows.extend(page["rows"])
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


def _run_driver(node: RayNode, source: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start a driver script on the node; its output goes to a file beside it (driver-*.out)."""
    script = Path(node.temp_dir, f"driver-{uuid.uuid4().hex[:8]}.py")
    script.write_text(source)
    with open(script.with_suffix(".out"), "wb") as out:
        proc = subprocess.Popen([PY, str(script), node.gcs_address, *args], env=env or node.env, cwd=node.temp_dir,
                                stdout=out, stderr=subprocess.STDOUT)
    node.procs.append(proc)
    return proc


HUGE_ERROR = r"""
import sys, time, ray
ray.init(address=sys.argv[1])

@ray.remote(max_retries=0)
def boom_{uid}():
    raise ValueError("huge:" + "x" * 20_000_000)

@ray.remote
def after_boom_{uid}():
    return 1

try:
    ray.get(boom_{uid}.remote())
except ray.exceptions.RayTaskError:
    pass
assert ray.get(after_boom_{uid}.remote()) == 1
time.sleep(600)  # a job's workers are killed when its driver exits, before they write their events
"""


def test_an_export_event_over_the_limit_keeps_its_fields_and_the_stream_goes_on(
        rig: Rig, ray_node: RayNode, tmp_path: Path) -> None:
    node_id, head, agent, context = rig.node_id, rig.head, rig.agent, rig.context
    uid = uuid.uuid4().hex[:8]
    driver = _run_driver(ray_node, HUGE_ERROR.replace("{uid}", uid))
    try:

        def task(name: str) -> dict | None:
            rows = head.get("/tasks", filter=f"name={name}").json()["rows"]
            return rows[0] if rows else None

        wait_for("the task after the huge one finished at the head",
                 lambda: (task(f"after_boom_{uid}") or {}).get("state") == "FINISHED", 90, context=context)
        events_dir = Path(ray_node.session_dir, "logs", "export_events")
        drops = wait_for("the cut reported", lambda: _drops(head, node_id).get(SHRUNK_REASON), 120,
                         context=lambda: f"{_drops(head, node_id)} "
                                         f"{[(p.name, p.stat().st_size) for p in events_dir.iterdir()]} {context()}")
        # These came in the 40 MB line only (with the exception in its profile events).
        boom = wait_for("the huge one failed at the head, with its start and worker",
                        lambda: (b := task(f"boom_{uid}")) and b["state"] == "FAILED" and b["start_time"] is not None
                        and b["worker_pid"] and b, 30, context=lambda: f"{task(f'boom_{uid}')}")
        assert boom["error_type"], boom
        assert drops["source"] == "events"
        assert drops["bytes"] >= 20_000_000  # the exception's text, at least once
        assert drops["last_detail"].startswith("event_EXPORT_TASK_"), drops
        assert agent.poll() is None
    finally:
        driver.kill()
        driver.wait(10)


def test_a_rotated_tail_over_the_limit_arrives_whole_over_several_batches(
        rig: Rig, ray_node: RayNode, tmp_path: Path) -> None:
    node_id, head, agent, context = rig.node_id, rig.head, rig.agent, rig.context
    log = Path(ray_node.session_dir, "logs", f"big-{uuid.uuid4().hex[:8]}.log")
    file_id = f"{node_id}:{log.name}"
    try:
        _append(log, [f"first {i}" for i in range(3)])
        wait_for("the first lines at the head", lambda: len(_all_rows(head, "/logs/lines", file_id=file_id)) == 3,
                 60, context=context)
        # The agent is frozen while 21 MiB (200 lines of 110 KiB, each under the line cap) are
        # written and the file is rotated: on waking, the whole tail is the old generation's.
        os.kill(agent.pid, signal.SIGSTOP)
        try:
            tail = [f"tail {i:03d} " + chr(ord("a") + i % 26) * (110 * 1024) for i in range(200)]
            _append(log, tail)
            assert log.stat().st_size > 20 * MiB
            os.rename(log, f"{log}.1")
            _append(log, ["marker after the rotation"])
        finally:
            os.kill(agent.pid, signal.SIGCONT)
        wait_for("the new generation's marker at the head",
                 lambda: any(r["generation"] == 1 for r in _all_rows(head, "/logs/lines", file_id=file_id)), 120,
                 context=context)
        rows = _all_rows(head, "/logs/lines", file_id=file_id)
        got = [(r["generation"], r["text"]) for r in rows]
        want = ([(0, f"first {i}") for i in range(3)] + [(0, t) for t in tail]
                + [(1, "marker after the rotation")])
        assert len(got) == len(want) and got == want, f"{len(got)} lines of {len(want)}"
        # Nothing of the logs was cut or lost (the node's export events, read from the start by this
        # new agent, may hold the earlier test's huge event).
        assert not [d for d in _drops(head, node_id).values() if d["source"] != "events"], _drops(head, node_id)
        assert agent.poll() is None
    finally:
        for p in (log, Path(f"{log}.1")):
            p.unlink(missing_ok=True)  # other tests' agents read the node's files from the start


MANY_REFS = r"""
import sys, time, ray
ray.init(address=sys.argv[1])
refs = [ray.put(i) for i in range(40_000)]
open(sys.argv[2], "w").write("ready")
time.sleep(600)
"""


def test_an_object_table_over_the_limit_is_cut_and_reported_and_the_stream_goes_on(
        rig: Rig, ray_node: RayNode, tmp_path: Path) -> None:
    node_id, head, agent, context = rig.node_id, rig.head, rig.agent, rig.context
    ready = tmp_path / "driver.ready"
    # Creation sites make each row ~450 bytes, as `ray memory` users see them: 40,000 rows ≈ 18 MB.
    driver = _run_driver(ray_node, MANY_REFS, str(ready), env=dict(ray_node.env, RAY_record_ref_creation_sites="1"))
    log = Path(ray_node.session_dir, "logs", f"after-objects-{uuid.uuid4().hex[:8]}.log")
    file_id = f"{node_id}:{log.name}"
    try:
        wait_for("the driver holding 40,000 refs", lambda: ready.exists() or driver.poll() is not None, 240)
        assert driver.poll() is None, "the driver died (see driver-*.out in the node's temp dir)"

        def counts(drop: dict) -> tuple[int, int]:
            """(shipped, total) from the detail "K of N refs shipped (...)"."""
            shipped, total = drop["last_detail"].split(" refs shipped")[0].split(" of ")
            return int(shipped), int(total)

        # Snapshots taken while the driver was still putting are cut too; wait for one of all 40,000.
        drop = wait_for("the cut of a snapshot with every ref reported",
                        lambda: (d := _drops(head, node_id).get(OBJECTS_CUT_REASON)) and counts(d)[1] >= 40_000 and d,
                        90, context=lambda: f"{_drops(head, node_id)} {context()}")
        assert drop["source"] == "objects"
        shipped, total = counts(drop)
        assert 0 < shipped < total, drop
        # What follows the cut snapshot still arrives.
        _append(log, ["after the big snapshot"])
        wait_for("a log line written after it at the head",
                 lambda: _all_rows(head, "/logs/lines", file_id=file_id), 60, context=context)
        rows = wait_for("the cut snapshot listed",
                        lambda: [r for r in _all_rows(head, "/objects", filter=f"node_id={node_id}")
                                 if r["pid"] == driver.pid], 60)
        # The latest snapshot is listed; each snapshot of the same 40,000 refs is cut alike.
        assert len(rows) == shipped, (len(rows), drop)
        assert agent.poll() is None
    finally:
        driver.kill()
        driver.wait(10)
        log.unlink(missing_ok=True)
