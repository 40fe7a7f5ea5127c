"""The agent shipping to the real head (`python -m rayscope.dashboard`) from a real Ray node:
data arrives through the REST API, a head restart loses nothing, a wrong token is refused."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from head_process import IngestClient
from polling import wait_for
from rayscope.runtime.node_identity import discover
from test_agent_collectors import PY, RayNode, start_agent, stop_agent, token


def start_head(node: RayNode, db: str, token_file: str, grpc_port: int = 0,
               extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, dict]:
    ready = os.path.join(node.temp_dir, f"head-ready-{time.monotonic_ns()}.json")
    log = open(os.path.join(node.temp_dir, "head.log"), "ab")
    proc = subprocess.Popen(
        [PY, "-m", "rayscope.dashboard", "--db", db, "--token-file", token_file, "--ready-file", ready,
         "--grpc-port", str(grpc_port), *extra], stdout=log, stderr=subprocess.STDOUT, cwd=node.temp_dir,
    )
    node.procs.append(proc)
    wait_for("head ready file", lambda: os.path.exists(ready) or proc.poll() is not None, 60)
    assert proc.poll() is None, Path(node.temp_dir, "head.log").read_text()[-3000:]
    return proc, json.loads(Path(ready).read_text())


def api(info: dict, tok: str, path: str, **params) -> dict:
    r = httpx.get(info["http_url"] + "/api/v1" + path, params=params, headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    r.raise_for_status()
    return r.json()


def test_agent_to_real_head_with_head_restart(ray_node: RayNode) -> None:
    tok = token(ray_node)
    ident = discover(ray_node.session_dir)
    db = os.path.join(ray_node.temp_dir, "rayscope.db")
    head, info = start_head(ray_node, db, ray_node.token_file)
    state = os.path.join(ray_node.temp_dir, "agent-state")
    os.makedirs(state)
    agent = start_agent(ray_node, info["grpc_address"], state, os.path.join(state, "ready.json"))
    marker = os.path.join(ray_node.session_dir, "logs", "worker-abcd-01000000-7.out")
    try:
        Path(marker).write_bytes(b"".join(b"first %d\n" % i for i in range(100)))
        fid = f"{ident.node_id}:worker-abcd-01000000-7.out"

        def lines() -> list[str]:
            try:
                return [r["text"] for r in api(info, tok, "/logs/lines", file_id=fid, limit=1000)["rows"]]
            except httpx.HTTPStatusError as e:
                if e.response.status_code == 404:  # the head has not seen the file yet
                    return []
                raise

        wait_for("first lines at the head", lambda: len(lines()) == 100, 60)
        wait_for("process snapshot at the head", lambda: api(info, tok, "/processes", limit=1000)["rows"], 30)
        roles = {r["role"] for r in api(info, tok, "/processes", limit=1000)["rows"]}
        assert {"raylet", "gcs_server"} <= roles
        health = api(info, tok, "/ingest/health")
        assert health["agents_connected"] == 1 and health["batches_committed"] > 0

        # head down: the agent keeps spooling; head back on the same port: everything arrives once
        head.terminate()
        head.wait(20)
        with open(marker, "ab") as f:
            f.write(b"".join(b"second %d\n" % i for i in range(100)))
        # the agent keeps spooling while the head is down: the last line is in a spool segment (raw bytes)
        spooled = Path(state, "spool")
        wait_for("the lines written while the head is down in the agent's spool",
                 lambda: any(b"second 99" in seg.read_bytes() for seg in spooled.glob("seg-*.log")), 30)
        port = int(info["grpc_address"].rsplit(":", 1)[1])
        head, info = start_head(ray_node, db, ray_node.token_file, grpc_port=port)
        wait_for("lines spooled while the head was down", lambda: len(lines()) == 200, 90)
        got = lines()
        assert got == [f"first {i}" for i in range(100)] + [f"second {i}" for i in range(100)]
        assert agent.poll() is None
        assert stop_agent(agent) == 0
    finally:
        stop_agent(agent)
        head.terminate()
        head.wait(20)


def test_wrong_token_is_refused_and_logged_once(ray_node: RayNode) -> None:
    bad = os.path.join(ray_node.temp_dir, "bad-token")
    Path(bad).write_text("not-the-token")
    db = os.path.join(ray_node.temp_dir, "rayscope-2.db")
    head, info = start_head(ray_node, db, ray_node.token_file)
    state = os.path.join(ray_node.temp_dir, "agent-state-bad")
    os.makedirs(state)
    proc = subprocess.Popen(
        [PY, "-m", "rayscope.agent", "--session-dir", ray_node.session_dir, "--head", info["grpc_address"],
         "--token-file", bad, "--state-dir", state, "--ready-file", os.path.join(state, "ready.json")],
        stdout=open(os.path.join(state, "agent.log"), "wb"), stderr=subprocess.STDOUT,
    )
    try:
        log_path = Path(state, "agent.log")
        wait_for("the unauthenticated log line", lambda: "UNAUTHENTICATED" in log_path.read_text(), 60)
        time.sleep(2)
        assert proc.poll() is None  # keeps retrying
        assert log_path.read_text().count("rejected our token") == 1
        assert api(info, token(ray_node), "/ingest/health")["batches_committed"] == 0
    finally:
        stop_agent(proc)
        head.terminate()
        head.wait(20)


def _batches_committed(db: str, node_id: str) -> int:
    """The batches the head has committed from a node's agent, read from its database (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT sum(batches_committed) FROM agents WHERE node_id = ?", (node_id,)).fetchone()
    return row[0] or 0


def test_agent_ships_at_the_heads_pace_and_keeps_every_sample(ray_node: RayNode) -> None:
    """Up to --agents-per-ship-second agents the head does not pace them: an agent sampling every
    0.5 s ships every tick. Past it the head asks each, in its acks, to ship every ceil(agents / N) s
    (dashboard/ingest_pace.py): here 2 agents over N=1, so every 2 s; the real agent then commits one
    batch per 2 s, and the head still has each of its 0.5 s node samples."""
    tok = token(ray_node)
    ident = discover(ray_node.session_dir)
    db = os.path.join(ray_node.temp_dir, "rayscope-paced.db")
    head, info = start_head(ray_node, db, ray_node.token_file, extra=("--agents-per-ship-second", "1"))
    state = os.path.join(ray_node.temp_dir, "agent-state-paced")
    os.makedirs(state)
    agent = None

    def batches_over(seconds: float) -> tuple[int, float, float]:
        n0, t0 = _batches_committed(db, ident.node_id), time.time()
        time.sleep(seconds)
        return _batches_committed(db, ident.node_id) - n0, t0, time.time()

    try:
        agent = start_agent(ray_node, info["grpc_address"], state, os.path.join(state, "ready.json"))
        wait_for("the agent's first batches", lambda: _batches_committed(db, ident.node_id) >= 2, 60)
        # one agent, not over N: every 0.5 s tick ships (12 in 6 s; slack for a loaded machine's late ticks)
        alone, t0, t1 = batches_over(6)
        assert alone >= 9, f"{alone} batches in {t1 - t0:.1f}s from a lone agent ticking every 0.5 s"
        with IngestClient(info["grpc_address"], tok) as other:  # a second agent: 2 > 1, the pace is 2 s
            other.hello("other-agent", "ef" * 28)
            time.sleep(3)  # the agent hears the new pace with its next ack
            batches, t0, t1 = batches_over(10)
            # 10 s at the 2 s pace: 5 batches (+1 for the edges)
            assert 3 <= batches <= 7, f"{batches} batches in {t1 - t0:.1f}s: expected ~5 at a 2 s pace"
            series = api(info, tok, "/metrics/nodes", node_id=ident.node_id, since=t0, until=t1 - 2.5,
                         raw_s=60, max_points=1)
            [points] = [x["points"] for x in series if x["node_id"] == ident.node_id]
            # (t1 - 2.5) - t0 = 7.5 s of 0.5 s samples: 15, each at the head though shipped 4 at a time
            assert len(points) >= 13, f"{len(points)} node samples over 7.5 s at a 0.5 s interval"
            assert agent.poll() is None
    finally:
        if agent is not None:
            stop_agent(agent)
        head.terminate()
        head.wait(20)

