"""Nothing the agent reads is lost silently (issue 12 §1), end to end: a real Ray node, the real
agent process and the real head (`python -m rayscope.dashboard`).

- A full disk under the agent's state dir (a tiny tmpfs the test mounts): the batch that could not
  be spooled is held, nothing more is read meanwhile, and once space is back every line of the log
  file is at the head, in order; a generation of a log rotated twice during the stall, which the
  agent never read, is a DropReport with its exact size.
- Losses while the agent was down (a rotated file deleted before it was read, an undecodable
  spooled record) and export events of source types Rayscope does not decode arrive at the head as
  DropReports: /api/v1/ingest/health by node, source and reason, and the head's /metrics.
- An agent whose state was lost while the head was away: the batches it spooled meanwhile are
  renumbered above the head's committed seq and arrive, instead of being trimmed by the hello.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
import uuid
import zlib
from pathlib import Path

from head_process import HeadProcess, start_head
from polling import wait_for
from rayscope.agent.events import UNKNOWN_REASON
from rayscope.agent.logs.tailer import GONE, UNREAD_BACKUP
from rayscope.agent.spool import HEADER, UNREADABLE
from rayscope.runtime.node_identity import discover
from test_agent_collectors import PY, RayNode, stop_agent, token
from tiny_fs import fill, tiny_tmpfs


def _start_agent(node: RayNode, head: HeadProcess, state: Path, logs_to: Path) -> tuple[subprocess.Popen, dict]:
    state.mkdir(parents=True, exist_ok=True)
    ready = logs_to.parent / f"agent-ready-{time.monotonic_ns()}.json"
    with open(logs_to, "ab") as log:
        proc = subprocess.Popen(
            [PY, "-m", "rayscope.agent", "--session-dir", node.session_dir, "--head", head.grpc_address,
             "--token-file", node.token_file, "--state-dir", str(state), "--ready-file", str(ready),
             "--interval", "0.5"],
            stdout=log, stderr=subprocess.STDOUT, cwd=node.temp_dir,
        )
    node.procs.append(proc)
    wait_for("the agent's ready file", lambda: ready.exists() or proc.poll() is not None, 60)
    assert proc.poll() is None, logs_to.read_text()[-3000:]
    return proc, json.loads(ready.read_text())


def _agent_metric(info: dict, name: str) -> float:
    """The agent's own series; -1 until its first tick has published them."""
    with urllib.request.urlopen(info["metrics_url"], timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else -1.0


def _head_lines(head: HeadProcess, file_id: str) -> list[tuple[int, str]]:
    r = head.get("/logs/lines", file_id=file_id, limit=10_000)
    if r.status_code == 404:  # the head has not seen the file yet
        return []
    r.raise_for_status()
    return [(row["generation"], row["text"]) for row in r.json()["rows"]]


def _drops(head: HeadProcess, node_id: str) -> dict[str, dict]:
    rows = head.get("/ingest/health").json()["drops"]
    return {d["reason"]: d for d in rows if d["node_id"] == node_id}


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "ab") as f:
        f.write("".join(f"{ln}\n" for ln in lines).encode())


def _file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_full_disk_holds_the_batch_and_loses_nothing(ray_node: RayNode, tmp_path: Path) -> None:
    node_id = discover(ray_node.session_dir).node_id
    (tmp_path / "head").mkdir()
    head = start_head(workdir=tmp_path / "head", token=token(ray_node))
    uid = uuid.uuid4().hex[:8]
    logs = Path(ray_node.session_dir, "logs")
    steady = logs / f"worker-{uid}-01000000-11.out"
    rot = logs / f"rotating-{uid}.log"
    agent_log = tmp_path / "agent.log"
    agent = None
    # Room for the spool of everything the new agent reads first (all of the node's logs, from 0).
    backlog = sum(p.stat().st_size for p in logs.rglob("*") if p.is_file())
    try:
        with tiny_tmpfs(max(4096, 4 * backlog // 1024 + 4096)) as fs:
            agent, info = _start_agent(ray_node, head, fs / "agent", agent_log)
            context = lambda: agent_log.read_text()[-3000:]  # noqa: E731
            _append(steady, [f"before {i}" for i in range(50)])
            _append(rot, [f"r-before {i}" for i in range(10)])
            steady_id, rot_id = f"{node_id}:{steady.name}", f"{node_id}:{rot.name}"
            wait_for("the first lines at the head", lambda: len(_head_lines(head, steady_id)) == 50
                     and len(_head_lines(head, rot_id)) == 10, 60, context=context)

            # One segment left (older ones are deleted as acked): no ack can free space during the test.
            wait_for("a single spool segment", lambda: len(list((fs / "agent" / "spool").glob("seg-*.log"))) == 1, 30)
            filler = fill(fs)
            # Lines the next tick reads: their batch (~20 KB) cannot be spooled.
            _append(steady, [f"during {i} " + "x" * 40 for i in range(300)])
            errors = "rayscope_agent_spool_write_errors_total"
            wait_for("a failed spool append", lambda: _agent_metric(info, errors) >= 1, 30, context=context)
            # Meanwhile the log rotates twice (the agent still holds the first file open); the
            # generation in between is never read by anyone.
            _append(rot, [f"r-during {i}" for i in range(5)])
            os.rename(rot, f"{rot}.1")
            _append(rot, [f"r-middle {i}" for i in range(7)])
            middle_size = rot.stat().st_size
            os.rename(f"{rot}.1", f"{rot}.2")
            os.rename(rot, f"{rot}.1")
            _append(rot, [f"r-after {i}" for i in range(3)])
            _append(steady, [f"still full {i}" for i in range(20)])
            failed = _agent_metric(info, errors)
            wait_for("two more ticks on the full disk", lambda: _agent_metric(info, errors) >= failed + 2, 30,
                     context=context)
            assert agent.poll() is None

            filler.unlink()
            _append(steady, [f"after {i}" for i in range(50)])
            expected = _file_lines(steady)
            assert len(expected) == 420
            wait_for("every line of the log file at the head",
                     lambda: [t for _, t in _head_lines(head, steady_id)] == expected, 60,
                     context=lambda: f"(the head has {len(_head_lines(head, steady_id))} of {len(expected)}) "
                                     + context())
            expected_rot = ([(0, f"r-before {i}") for i in range(10)] + [(0, f"r-during {i}") for i in range(5)]
                            + [(2, f"r-after {i}") for i in range(3)])
            wait_for("the rotated log's generations 0 and 2 at the head",
                     lambda: _head_lines(head, rot_id) == expected_rot, 60, context=context)
            wait_for("the unread generation reported", lambda: UNREAD_BACKUP in _drops(head, node_id), 30)
            drops = _drops(head, node_id)
            assert set(drops) == {UNREAD_BACKUP}, drops  # nothing else was dropped
            unread = drops[UNREAD_BACKUP]
            assert (unread["source"], unread["bytes"]) == ("logs", middle_size)
            assert unread["last_detail"] == f"{rot.name}: {rot.name}.1 ({middle_size} bytes)"
            assert "cannot spool a batch" in agent_log.read_text()
            assert stop_agent(agent) == 0
    finally:
        if agent is not None:
            stop_agent(agent)
        head.stop()


def test_losses_while_the_agent_was_down_reach_the_head(ray_node: RayNode, tmp_path: Path) -> None:
    node_id = discover(ray_node.session_dir).node_id
    (tmp_path / "head").mkdir()
    head = start_head(workdir=tmp_path / "head", token=token(ray_node))
    uid = uuid.uuid4().hex[:8]
    logs = Path(ray_node.session_dir, "logs")
    gone = logs / f"gone-{uid}.log"
    events_file = logs / "export_events" / f"event_EXPORT_TEST_{uid}.log"
    state = tmp_path / "state"
    agent_log = tmp_path / "agent.log"
    context = lambda: agent_log.read_text()[-3000:]  # noqa: E731
    agent, _ = _start_agent(ray_node, head, state, agent_log)
    try:
        _append(gone, [f"g-before {i}" for i in range(4)])
        gone_id = f"{node_id}:{gone.name}"
        wait_for("the first lines at the head", lambda: len(_head_lines(head, gone_id)) == 4, 60, context=context)
        assert stop_agent(agent) == 0

        # While the agent is down: the log grows, rotates, and the backup is deleted unread.
        offset = gone.stat().st_size
        _append(gone, [f"g-lost {i}" for i in range(6)])
        os.rename(gone, f"{gone}.1")
        _append(gone, [f"g-new {i}" for i in range(2)])
        os.unlink(f"{gone}.1")
        # Export events of source types this decoder does not know (a newer Ray's).
        def envelope(source: str) -> bytes:
            return json.dumps({"event_id": uuid.uuid4().hex[:18], "timestamp": int(time.time()),
                               "source_type": source, "event_data": {}}).encode()
        lines = [envelope("EXPORT_FROM_A_NEWER_RAY"), envelope("EXPORT_FROM_A_NEWER_RAY"),
                 envelope("EXPORT_PLACEMENT_GROUP")]
        events_file.write_bytes(b"\n".join(lines) + b"\n")
        # A spooled record whose CRC holds but which is not a Batch (written by something else).
        meta = json.loads((state / "spool" / "spool.json").read_text())
        segment = sorted((state / "spool").glob("seg-*.log"))[-1]
        junk = b"\xff" * 20
        with open(segment, "ab") as f:
            f.write(HEADER.pack(len(junk), zlib.crc32(junk), meta["next_seq"]) + junk)

        agent, _ = _start_agent(ray_node, head, state, agent_log)
        wait_for("the new generation at the head",
                 lambda: _head_lines(head, gone_id) == [(0, f"g-before {i}") for i in range(4)]
                 + [(1, f"g-new {i}") for i in range(2)], 60, context=context)
        want = {GONE, UNKNOWN_REASON, UNREADABLE}
        wait_for("the three drop reasons at the head", lambda: want <= set(_drops(head, node_id)), 30,
                 context=lambda: f"{_drops(head, node_id)} {context()}")
        drops = _drops(head, node_id)
        assert set(drops) == want, drops
        assert drops[GONE]["source"] == "logs"
        assert drops[GONE]["last_detail"].startswith(f"{gone.name} generation 0: not read past offset {offset}")
        assert (drops[UNKNOWN_REASON]["source"], drops[UNKNOWN_REASON]["count"]) == ("events", 3)
        assert drops[UNKNOWN_REASON]["last_detail"] == "EXPORT_FROM_A_NEWER_RAY x2, EXPORT_PLACEMENT_GROUP x1"
        assert (drops[UNREADABLE]["source"], drops[UNREADABLE]["count"], drops[UNREADABLE]["bytes"]) == (
            "batch", 1, 20)
        assert drops[UNREADABLE]["last_detail"].startswith(f"batch seq {meta['next_seq']}: undecodable")

        # The head's /metrics counts them by source (reasons are in the API).
        with head.client() as c:
            text = c.get("/metrics").text
        assert re.search(r'^rayscope_dropped_items_total\{source="events",stage="agent"\} 3\.0$', text, re.M), text
        assert re.search(r'^rayscope_dropped_items_total\{source="batch",stage="agent"\} 1\.0$', text, re.M), text
        assert agent.poll() is None
    finally:
        stop_agent(agent)
        head.stop()
        events_file.unlink(missing_ok=True)  # the other tests' agents read the node's files from the start


def test_an_agent_that_lost_its_state_while_the_head_was_away_loses_nothing(
        ray_node: RayNode, tmp_path: Path) -> None:
    node_id = discover(ray_node.session_dir).node_id
    (tmp_path / "head").mkdir()
    head = start_head(workdir=tmp_path / "head", token=token(ray_node))
    port = head.grpc_address.rsplit(":", 1)[1]
    agent_log = tmp_path / "agent.log"
    context = lambda: agent_log.read_text()[-3000:]  # noqa: E731
    agent, _ = _start_agent(ray_node, head, tmp_path / "state-1", agent_log)
    agent2 = None
    try:
        # The head commits some 20 seqs of this agent (agent_id: node id @ session).
        wait_for("20 batches committed", lambda: head.get("/ingest/health").json()["batches_committed"] >= 20, 60,
                 context=context)
        assert stop_agent(agent) == 0
        committed = head.get("/ingest/health").json()["batches_committed"]
        head.stop()

        # The head is away; the agent comes back with its state dir lost and spools what it reads.
        away = Path(ray_node.session_dir, "logs", f"worker-{uuid.uuid4().hex[:8]}-01000000-12.out")
        agent2, info = _start_agent(ray_node, head, tmp_path / "state-2", agent_log)
        spooled = "rayscope_agent_spool_pending_batches"
        pending = wait_for("the agent's first tick",
                           lambda: _agent_metric(info, spooled) > 0 and _agent_metric(info, spooled), 30,
                           context=context)
        _append(away, [f"while the head was away {i}" for i in range(30)])
        wait_for("the lines spooled (two more batches)",
                 lambda: _agent_metric(info, spooled) >= pending + 2, 30,
                 context=context)
        assert _agent_metric(info, spooled) < committed  # seqs the head has seen

        head = start_head(workdir=tmp_path / "head", db_path=head.db_path, token=head.token,
                          extra_args=["--grpc-port", port])
        wait_for("the agent reconnected", lambda: head.get("/ingest/health").json()["agents_connected"] == 1, 60,
                 context=context)
        _append(away, ["marker"])  # spooled after the hello: arrives with or without renumbering
        away_id = f"{node_id}:{away.name}"
        wait_for("the marker at the head", lambda: "marker" in [t for _, t in _head_lines(head, away_id)], 60,
                 context=context)
        assert [t for _, t in _head_lines(head, away_id)] == _file_lines(away)
        assert "renumbered" in agent_log.read_text()
        assert agent2.poll() is None
    finally:
        stop_agent(agent)
        if agent2 is not None:
            stop_agent(agent2)
        head.stop()
