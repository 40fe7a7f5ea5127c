"""Many simulated agents against a real head, over the real gRPC Ingest stream.

Why: Rayscope's scale claim (issue 15) needs hundreds to a thousand nodes' worth of agents on a
2-core machine. Each simulated agent speaks the agent's protocol (agent/shipper.py: hello ->
HelloAck(last committed seq) -> batches in seq order, at most MAX_INFLIGHT unacked, resend after a
reconnect) and ships what a real agent ships every tick: a node sample, an object-store sample,
its node's process snapshot (~30 workers), log lines and task/actor lifecycle events at a rate.

The content is not invented: it is rewritten from batches real agents shipped
(bench/data/agent_batches.pb.gz, made by bench/record_agent_batches.py): each simulated node gets
its own node id, IP, hostname, pids, worker ids and log files, task and actor ids are fresh per
lifecycle, and timestamps are moved to now. The head node's agent (node 0) also ships the cluster's
node table (export node events) and the job, as Ray's head node does.

Cost: all agents share one asyncio event loop (grpc.aio, one channel per agent so each is its own
HTTP/2 connection, as on a real cluster). The process snapshot, the bulk of a batch, is serialized
once per node (a few variants) and patched with the tick's timestamp at the byte level (protobuf
merges repeated occurrences of a message field), so 1,000 agents cost the generator a fraction of
a core; `stats().cpu_s` is its own CPU so a benchmark can say who was the limit.

    with SimulatedCluster(head.grpc_address, head.token, nodes=100) as sim:
        sim.node_ids()                 # the simulated Ray node ids (hex)
        sim.stats()                    # batches acked, ingest lag (creation -> ack) percentiles, CPU

    .venv/bin/python bench/sim_agents.py --head HOST:PORT --token-file F --nodes 1000 [--seconds 60]
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import resource
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import grpc
import grpc.aio

from rayscope.runtime.auth_token import read_token_file
from rayscope.wire import rayscope_ingest_pb2 as pb
from rayscope.wire.grpc_service import STREAM, method_path
from rayscope.wire.limits import MAX_MESSAGE_BYTES, grpc_options

__all__ = ["SimulatedCluster", "SimStats", "Recording", "RecordedAgent", "DATA_FILE"]

DATA_FILE = Path(__file__).resolve().parent / "data" / "agent_batches.pb.gz"
MAX_INFLIGHT = 16  # agent/shipper.py's window
SESSION = "session_2026-12-05_00-00-00_000000_1"
TERMINAL = {11, 12}  # Ray TaskStatus FINISHED, FAILED
_LAG_KEEP = 200_000  # newest lag samples kept for the percentiles


# ---------------------------------------------------------------- the recording

@dataclass
class RecordedAgent:
    hello: pb.AgentHello
    batches: list[pb.Batch]


@dataclass
class Recording:
    """Real agents' streams: per agent its hello and its batches in order.

    File format (gzip): records `[u8 kind][u32 length][bytes]`, kind 0 = AgentHello (starts an
    agent), 1 = Batch (of the last hello's agent)."""

    agents: list[RecordedAgent]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=9) as f:
            for a in self.agents:
                for kind, msg in [(0, a.hello), *((1, b) for b in a.batches)]:
                    data = msg.SerializeToString()
                    f.write(struct.pack(">BI", kind, len(data)) + data)

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> "Recording":
        raw = gzip.decompress(path.read_bytes())
        agents: list[RecordedAgent] = []
        i = 0
        while i < len(raw):
            kind, n = struct.unpack_from(">BI", raw, i)
            data = raw[i + 5:i + 5 + n]
            i += 5 + n
            if kind == 0:
                agents.append(RecordedAgent(hello=pb.AgentHello.FromString(data), batches=[]))
            elif kind == 1 and agents:
                agents[-1].batches.append(pb.Batch.FromString(data))
            else:
                raise ValueError(f"{path}: bad record kind {kind} at byte {i}")
        return cls(agents)

    def describe(self) -> str:
        out = []
        for a in self.agents:
            c: dict[str, int] = {}
            for b in a.batches:
                for name in ("tasks", "actors", "nodes", "jobs", "log_lines", "log_files", "node_samples",
                             "object_store", "workers"):
                    c[name] = c.get(name, 0) + len(getattr(b, name))
                c["processes"] = max(c.get("processes", 0), len(b.processes.processes))
            out.append(f"{'head' if a.hello.is_head_node else 'worker'} agent {a.hello.node_id[:8]}: "
                       f"{len(a.batches)} batches, " + ", ".join(f"{k} {v}" for k, v in c.items()))
        return "\n".join(out)


# ---------------------------------------------------------------- templates from the recording

@dataclass
class Templates:
    """What the generator clones, taken from a Recording."""

    node_samples: list[pb.NodeSample]
    store_samples: list[pb.ObjectStoreSample]
    system_procs: list[pb.RayProcess]  # raylet, agents, ... of a worker node
    head_system_procs: list[pb.RayProcess]  # the head node's: gcs_server, dashboard, the driver too
    worker_procs: list[pb.RayProcess]  # Ray workers (cloned up to workers_per_node)
    log_files: list[pb.LogFile]  # the files the lines came from (paths relative to <session>/logs)
    log_texts: list[tuple[int, bytes]]  # (index into log_files, line text)
    task_lifecycles: list[list[pb.TaskEvent]]  # each: one task attempt's deltas, in shipping order
    actor_lifecycles: list[list[pb.ActorEvent]]
    node_event: pb.NodeEvent
    job_event: pb.JobEvent

    @classmethod
    def from_recording(cls, rec: Recording) -> "Templates":
        batches = [b for a in rec.agents for b in a.batches]
        samples = [s for b in batches for s in b.node_samples]
        stores = [s for b in batches for s in b.object_store]
        snaps = {a.hello.is_head_node: max((b.processes for b in a.batches if b.HasField("processes")),
                                           key=lambda s: len(s.processes), default=pb.ProcessSnapshot())
                 for a in rec.agents}
        workers = [p for snap in snaps.values() for p in snap.processes if p.role == "worker"]
        system = [p for p in snaps.get(False, pb.ProcessSnapshot()).processes if p.role != "worker"]
        head_system = [p for p in snaps.get(True, pb.ProcessSnapshot()).processes if p.role != "worker"]
        files: dict[str, pb.LogFile] = {}
        for b in batches:
            for f in b.log_files:
                files[f.file_id] = f
        order = list(files)
        texts = [(order.index(ln.file_id), ln.text) for b in batches for ln in b.log_lines
                 if ln.file_id in files and ln.text.strip()]
        tasks: dict[tuple[str, int], list[pb.TaskEvent]] = {}
        for b in batches:
            for ev in b.tasks:
                tasks.setdefault((ev.task_id, ev.attempt), []).append(ev)
        lifecycles = [evs for evs in tasks.values()
                      if any(TERMINAL & set(e.state_ts_ns) for e in evs) and not any(e.type == "DRIVER_TASK" for e in evs)]
        actors: dict[str, list[pb.ActorEvent]] = {}
        for b in batches:
            for ev in b.actors:
                actors.setdefault(ev.actor_id, []).append(ev)
        nodes = [n for b in batches for n in b.nodes if n.state == "ALIVE" and not n.is_head_node]
        jobs = [j for b in batches for j in b.jobs if not j.is_dead]
        missing = [name for name, v in (("node samples", samples), ("worker processes", workers),
                                        ("a worker node's processes", system), ("the head node's processes", head_system),
                                        ("log lines", texts), ("finished tasks", lifecycles), ("actors", actors),
                                        ("node events", nodes), ("job events", jobs)) if not v]
        if missing:
            raise ValueError(f"the recording has no {', '.join(missing)}: record it again "
                             "(bench/record_agent_batches.py)")
        return cls(node_samples=samples, store_samples=stores or [pb.ObjectStoreSample()], system_procs=system,
                   head_system_procs=head_system,
                   worker_procs=workers, log_files=[files[k] for k in order], log_texts=texts,
                   task_lifecycles=lifecycles, actor_lifecycles=list(actors.values()), node_event=nodes[0],
                   job_event=jobs[0])


# ---------------------------------------------------------------- wire bytes

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return _varint((num << 3) | 2) + _varint(len(payload)) + payload


def _double(num: int, value: float) -> bytes:
    return _varint((num << 3) | 1) + struct.pack("<d", value)


# Batch field numbers (wire/rayscope_ingest.proto)
_B_TASKS, _B_ACTORS, _B_NODES, _B_JOBS, _B_FILES, _B_LINES, _B_SAMPLES, _B_PROCS, _B_STORE = 3, 4, 5, 6, 7, 8, 9, 10, 11


def _hexid(nbytes: int, *parts: int) -> str:
    """A Ray-style hex id of nbytes, unique for `parts` (a few ints packed at the front)."""
    head = "".join(f"{p & 0xFFFFFFFF:08x}" for p in parts)
    return (head + "a5" * nbytes)[: nbytes * 2]


# ---------------------------------------------------------------- one simulated agent

@dataclass
class _Pending:
    parts: list[bytes] = field(default_factory=list)
    oldest: float = 0.0  # creation time of its oldest item (the lag is measured from it)


class _Agent:
    """One node's agent: its identity, its content generators, its stream state."""

    def __init__(self, cluster: "SimulatedCluster", index: int, rng: random.Random) -> None:
        self.c = cluster
        self.t = cluster.templates
        self.index = index
        self.rng = rng
        self.node_id = _hexid(28, cluster.cluster_no, index, 0x5151)
        self.agent_id = f"{self.node_id}@{SESSION}"
        self.node_ip = f"198.18.{index // 250}.{index % 250 + 1}"  # RFC 2544's benchmarking range: never routed
        self.hostname = f"sim-node-{index:04d}"
        self.is_head = index == 0
        self.seq = 0
        self.acked = 0
        # seq -> (message bytes, oldest item's creation, the batch's creation: when it was taken to send)
        self.unacked: dict[int, tuple[bytes, float, float]] = {}
        self.pending = _Pending()
        self.window = asyncio.Event()
        self.ticks = 0
        self.ship_every_s = 0.0  # the head's pace from its acks (as agent/main.py's _ship_due)
        self.taken_at = float("-inf")  # monotonic time of the last batch taken
        self.offsets = [0] * len(self.t.log_files)
        self.file_ids = [f"{self.node_id}:{f.path}" for f in self.t.log_files]
        self.task_credit = rng.random()
        self.actor_credit = rng.random()
        self.line_credit = rng.random()
        self.later: deque[tuple[int, int, bytes]] = deque()  # (due tick, batch field, item bytes)
        self.lifecycles = 0
        self.worker_ids = [_hexid(28, cluster.cluster_no, index, w, 0x77) for w in range(cluster.workers_per_node)]
        self.system_procs = self.t.head_system_procs if self.is_head else self.t.system_procs
        self.proc_variants = self._process_variants(3)
        self.files_sent = False

    # -- content
    def _process_variants(self, n: int) -> list[bytes]:
        """Serialized ProcessSnapshot bodies (without ts) of this node: system processes plus
        workers_per_node workers cloned from the recorded ones, with this node's pids and worker ids."""
        out = []
        for _ in range(n):
            procs: list[pb.RayProcess] = []
            pid = 1000  # pids stay put across variants: only the figures move
            for p in self.system_procs:
                q = pb.RayProcess()
                q.CopyFrom(p)
                q.pid, q.ppid = pid, 1
                q.cpu_percent = p.cpu_percent * (0.6 + 0.8 * self.rng.random())
                procs.append(q)
                pid += 1
            for w in range(self.c.workers_per_node):
                src = self.t.worker_procs[w % len(self.t.worker_procs)]
                q = pb.RayProcess()
                q.CopyFrom(src)
                q.pid, q.ppid = pid, 1000
                q.worker_id = self.worker_ids[w]
                q.job_id = self.c.job_id
                q.cpu_percent = 100.0 * self.rng.random() if w % 3 else 0.0
                q.rss = int(src.rss * (0.8 + 0.4 * self.rng.random())) or 200 << 20
                q.uss = int(q.rss * 0.7)
                procs.append(q)
                pid += 1
            out.append(b"".join(_field(2, p.SerializeToString()) for p in procs))
        return out

    def _tick_parts(self, now: float) -> list[bytes]:
        """What this agent collects in one tick, as Batch field bytes."""
        t = self.t
        self.ticks += 1
        parts: list[bytes] = []
        s = pb.NodeSample()
        s.CopyFrom(t.node_samples[(self.ticks + self.index) % len(t.node_samples)])
        s.ts = now
        s.cpu_percent = (self.c.cpu(self.index, self.rng) if self.c.cpu
                         else min(100.0, s.cpu_percent * (0.5 + self.rng.random())))
        parts.append(_field(_B_SAMPLES, s.SerializeToString()))
        o = pb.ObjectStoreSample()
        o.CopyFrom(t.store_samples[(self.ticks + self.index) % len(t.store_samples)])
        o.ts = now
        parts.append(_field(_B_STORE, o.SerializeToString()))
        body = _double(1, now) + self.proc_variants[self.ticks % len(self.proc_variants)]
        parts.append(_field(_B_PROCS, body))
        if not self.files_sent:
            self.files_sent = True
            for f, fid in zip(t.log_files, self.file_ids):
                lf = pb.LogFile()
                lf.CopyFrom(f)
                lf.file_id, lf.node_id = fid, self.node_id
                parts.append(_field(_B_FILES, lf.SerializeToString()))
        self.line_credit += self.c.log_lines_per_s_per_node * self.c.sample_every_s
        while self.line_credit >= 1:
            self.line_credit -= 1
            fi, text = t.log_texts[self.rng.randrange(len(t.log_texts))]
            parts.append(_field(_B_LINES, self._line(fi, text, now)))
        self.task_credit += self.c.tasks_per_s_per_node * self.c.sample_every_s
        while self.task_credit >= 1:
            self.task_credit -= 1
            self._new_task(now)
        self.actor_credit += self.c.actors_per_s_per_node * self.c.sample_every_s
        while self.actor_credit >= 1:
            self.actor_credit -= 1
            self._new_actor(now)
        while self.later and self.later[0][0] <= self.ticks:
            _, num, item = self.later.popleft()
            parts.append(_field(num, item))
        return parts

    def _line(self, fi: int, text: bytes, now: float) -> bytes:
        ln = pb.LogLine(file_id=self.file_ids[fi], offset=self.offsets[fi], text=text, read_at=now)
        self.offsets[fi] += len(text) + 1
        return ln.SerializeToString()

    def marker_line(self, text: str, now: float) -> None:
        """A log line with `text`, in this agent's next batch (the benchmark's queryability probe)."""
        self.pending.parts.append(_field(_B_LINES, self._line(0, text.encode(), now)))
        self.pending.oldest = self.pending.oldest or now

    def _new_task(self, now: float) -> None:
        """One task attempt's recorded lifecycle, with fresh ids, on this node, its deltas one tick apart."""
        evs = self.t.task_lifecycles[self.lifecycles % len(self.t.task_lifecycles)]
        self.lifecycles += 1
        task_id = _hexid(24, self.c.cluster_no, self.index, self.lifecycles)
        task_id = task_id[:-8] + self.c.job_id  # Ray task ids end with their job id
        t0 = min((ns for e in evs for ns in e.state_ts_ns.values()), default=0)
        worker = self.rng.randrange(len(self.worker_ids))
        for i, e in enumerate(evs):
            ev = pb.TaskEvent()
            ev.CopyFrom(e)
            ev.task_id, ev.job_id = task_id, self.c.job_id
            if ev.HasField("node_id"):
                ev.node_id = self.node_id
            if ev.HasField("worker_id"):
                ev.worker_id, ev.worker_pid = self.worker_ids[worker], 1000 + len(self.system_procs) + worker
            if ev.HasField("parent_task_id"):
                ev.parent_task_id = self.c.driver_task_id
            if ev.HasField("actor_id"):
                ev.ClearField("actor_id")
                ev.type = "NORMAL_TASK"
            for k in ("stdout_file", "stderr_file"):
                if ev.HasField(k):
                    setattr(ev, k, f"/tmp/ray/{SESSION}/logs/worker-{self.worker_ids[worker]}-{self.c.job_id}.out")
            base = int(now * 1e9)
            for st, ns in list(ev.state_ts_ns.items()):
                ev.state_ts_ns[st] = base + (ns - t0)
            ev.event_time = now + i * 0.001
            self.later.append((self.ticks + i, _B_TASKS, ev.SerializeToString()))

    def _new_actor(self, now: float) -> None:
        evs = self.t.actor_lifecycles[self.lifecycles % len(self.t.actor_lifecycles)]
        self.lifecycles += 1
        actor_id = _hexid(16, self.c.cluster_no, self.index, self.lifecycles)[:-8] + self.c.job_id
        for i, e in enumerate(evs):
            ev = pb.ActorEvent()
            ev.CopyFrom(e)
            ev.actor_id, ev.job_id = actor_id, self.c.job_id
            if ev.HasField("node_id"):
                ev.node_id = self.node_id
            ev.event_time = now + i * 0.001
            self.later.append((self.ticks + i * 3, _B_ACTORS, ev.SerializeToString()))

    def cluster_parts(self, nodes: list["_Agent"], now: float) -> list[bytes]:
        """The head node's export events: every node's ALIVE event and the job."""
        out = []
        for a in nodes:
            ev = pb.NodeEvent()
            ev.CopyFrom(self.t.node_event)
            ev.node_id, ev.node_ip, ev.node_name, ev.is_head_node = a.node_id, a.node_ip, a.hostname, a.is_head
            ev.start_time_ms, ev.event_time = int(now * 1000), now
            ev.resources_total.clear()
            for k, v in self.t.node_event.resources_total.items():  # node:<ip> is the node's own resource
                ev.resources_total[f"node:{a.node_ip}" if k.startswith("node:") else k] = v
            if "ray.io/node-id" in ev.labels:
                ev.labels["ray.io/node-id"] = a.node_id
            out.append(_field(_B_NODES, ev.SerializeToString()))
        job = pb.JobEvent()
        job.CopyFrom(self.t.job_event)
        job.job_id, job.driver_ip, job.start_time_ms, job.event_time = self.c.job_id, self.node_ip, int(now * 1000), now
        out.append(_field(_B_JOBS, job.SerializeToString()))
        return out

    def hello(self) -> bytes:
        h = pb.AgentHello(agent_id=self.agent_id, node_id=self.node_id, node_ip=self.node_ip, hostname=self.hostname,
                          session_name=SESSION, session_dir=f"/tmp/ray/{SESSION}", started_at=self.c.started_at,
                          version="sim", is_head_node=self.is_head)
        return pb.AgentMessage(hello=h).SerializeToString()

    def collect(self, now: float) -> None:
        self.pending.oldest = self.pending.oldest or now
        self.pending.parts.extend(self._tick_parts(now))

    def take_batch(self) -> Optional[bytes]:
        """The pending items as the next batch's AgentMessage bytes, if the window allows one."""
        if not self.pending.parts or len(self.unacked) >= MAX_INFLIGHT:
            return None
        now = time.monotonic()
        if now - self.taken_at < self.ship_every_s - self.c.sample_every_s / 2:
            return None  # the head's pace: these ticks' items go with the next batch
        self.taken_at = now
        self.seq += 1
        body = _varint(1 << 3) + _varint(self.seq) + _double(2, time.time()) + b"".join(self.pending.parts)
        if len(body) > MAX_MESSAGE_BYTES // 2:  # a head far behind: keep the newest half, as the agent's ring does
            keep = self.pending.parts[len(self.pending.parts) // 2:]
            self.c._dropped_parts += len(self.pending.parts) - len(keep)
            body = _varint(1 << 3) + _varint(self.seq) + _double(2, time.time()) + b"".join(keep)
        msg = _field(2, body)
        self.unacked[self.seq] = (msg, self.pending.oldest, time.time())
        self.pending = _Pending()
        return msg


# ---------------------------------------------------------------- the cluster

@dataclass
class SimStats:
    nodes: int
    connected: int  # agents whose stream is open (hello acknowledged)
    batches_acked: int
    batches_sent: int
    reconnects: int
    errors: int  # streams that ended with an error (each reconnected)
    last_error: str
    lag_p50_s: float  # a batch's oldest item's creation -> the head's ack (= committed, queryable)
    lag_p95_s: float
    lag_max_s: float
    lag_samples: int
    batch_lag_p50_s: float  # a batch's creation (taken to send, as the agent's Batch.created_at) -> ack
    batch_lag_p95_s: float
    unacked_batches: int  # now, over all agents
    cpu_s: float  # this process's CPU (user + sys) since start(): the generator's own cost
    wall_s: float
    dropped_parts: int  # items the generator dropped because the head was too far behind
    ship_every_s: float = 0.0  # the head's pace in its latest acks (the slowest any agent was told)

    def line(self) -> str:
        return (f"sim: {self.connected}/{self.nodes} connected, {self.batches_acked:,} batches acked "
                f"({self.unacked_batches} unacked), lag p50 {self.lag_p50_s:.2f}s p95 {self.lag_p95_s:.2f}s "
                f"max {self.lag_max_s:.2f}s, reconnects {self.reconnects}, errors {self.errors}, "
                f"generator CPU {self.cpu_s / max(self.wall_s, 1e-9):.2f} cores")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class SimulatedCluster:
    """N simulated agents of one Ray cluster against a real head (a context manager).

    tasks_per_s_per_node: task attempts started per node per second (each ships its recorded
    deltas, one tick apart); log_lines_per_s_per_node, actors_per_s_per_node likewise;
    reconnect_every_s: each agent drops its stream and reconnects (hello, resend of the unacked)
    about this often, at a random phase; 0 = never. tls: grpc.ChannelCredentials, or None.
    cpu: each tick's cpu_percent of node i, cpu(i, rng) (e.g. a spread of loads and a node run hot,
    for the web UI's tests); default: the recorded sample's, scaled by 0.5..1.5 (at most 100)."""

    def __init__(self, head_grpc: str, token: str, nodes: int, workers_per_node: int = 30,
                 sample_every_s: float = 1.0, tasks_per_s_per_node: float = 1.0, tls=None,
                 log_lines_per_s_per_node: float = 5.0, actors_per_s_per_node: float = 0.01,
                 reconnect_every_s: float = 300.0, recording: Path = DATA_FILE, seed: int = 1,
                 cpu: Optional[Callable[[int, random.Random], float]] = None) -> None:
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        if sample_every_s <= 0:
            raise ValueError("sample_every_s must be positive")
        self.head_grpc, self.token, self.tls = head_grpc, token, tls
        self.nodes, self.workers_per_node, self.sample_every_s = nodes, workers_per_node, sample_every_s
        self.tasks_per_s_per_node = tasks_per_s_per_node
        self.log_lines_per_s_per_node = log_lines_per_s_per_node
        self.actors_per_s_per_node = actors_per_s_per_node
        self.reconnect_every_s = reconnect_every_s
        self.cpu = cpu
        self.templates = Templates.from_recording(Recording.load(recording))
        self.rng = random.Random(seed)
        self.cluster_no = self.rng.getrandbits(32)
        self.job_id = f"{self.rng.getrandbits(16):04x}0000"
        self.driver_task_id = _hexid(24, self.cluster_no, 0xD1)[:-8] + self.job_id
        self.started_at = time.time()
        self._agents: list[_Agent] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._stop: Optional[asyncio.Event] = None
        self._lags: deque[float] = deque(maxlen=_LAG_KEEP)
        self._batch_lags: deque[float] = deque(maxlen=_LAG_KEEP)
        self._acked = self._sent = self._reconnects = self._errors = self._dropped_parts = 0
        self._connected: set[int] = set()
        self._last_error = ""
        self._cpu0 = 0.0
        self._t0 = 0.0
        self._base = (0, 0, 0, 0, 0)
        self._ready = threading.Event()

    # -- public
    def __enter__(self) -> "SimulatedCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Start every agent (in a background thread's event loop); returns at once."""
        rngs = [random.Random(self.rng.getrandbits(64)) for _ in range(self.nodes)]
        self._agents = [_Agent(self, i, rngs[i]) for i in range(self.nodes)]
        self._cpu0, self._t0 = _cpu_s(), time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sim-agents", daemon=True)
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def node_ids(self) -> list[str]:
        return [a.node_id for a in self._agents]

    def samples_taken(self) -> list[int]:
        """Per node (in node_ids() order): the node samples its agent has taken so far (one a tick)."""
        return [a.ticks for a in self._agents]

    def wait_connected(self, timeout: float = 60.0) -> None:
        """Until every agent's hello has been acknowledged."""
        deadline = time.monotonic() + timeout
        while len(self._connected) < self.nodes:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._connected)} of {self.nodes} simulated agents connected after "
                                   f"{timeout:.0f}s; last error: {self._last_error or 'none'}")
            time.sleep(0.1)

    def mark(self, node_index: int, text: str) -> None:
        """Queue a log line `text` on node `node_index`'s next batch (a probe of queryability)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._agents[node_index].marker_line, text, time.time())

    def reset(self) -> None:
        """Start a new measurement window: stats() counts from now."""
        self._lags.clear()
        self._batch_lags.clear()
        self._base = (self._acked, self._sent, self._reconnects, self._errors, self._dropped_parts)
        self._cpu0, self._t0 = _cpu_s(), time.monotonic()

    def stats(self) -> SimStats:
        """Since start() or the last reset()."""
        lags = sorted(self._lags)
        batch_lags = sorted(self._batch_lags)
        b = self._base

        def pct(q: float, xs: list[float] = lags) -> float:
            return xs[min(len(xs) - 1, int(q * (len(xs) - 1)))] if xs else 0.0

        return SimStats(nodes=self.nodes, connected=len(self._connected), batches_acked=self._acked - b[0],
                        batches_sent=self._sent - b[1], reconnects=self._reconnects - b[2], errors=self._errors - b[3],
                        last_error=self._last_error, lag_p50_s=pct(0.5), lag_p95_s=pct(0.95),
                        lag_max_s=lags[-1] if lags else 0.0, lag_samples=len(lags),
                        batch_lag_p50_s=pct(0.5, batch_lags), batch_lag_p95_s=pct(0.95, batch_lags),
                        unacked_batches=sum(len(a.unacked) for a in self._agents),
                        cpu_s=_cpu_s() - self._cpu0, wall_s=time.monotonic() - self._t0,
                        dropped_parts=self._dropped_parts - b[4],
                        ship_every_s=max((a.ship_every_s for a in self._agents), default=0.0))

    # -- the event loop
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._ready.set()
        tasks = [asyncio.create_task(self._agent_main(a)) for a in self._agents]
        await self._stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _channel(self) -> grpc.aio.Channel:
        # Own subchannel pool: each agent its own TCP connection, as on a real cluster.
        opts = [*grpc_options(), ("grpc.use_local_subchannel_pool", 1), ("grpc.keepalive_time_ms", 20_000)]
        if self.tls is not None:
            return grpc.aio.secure_channel(self.head_grpc, self.tls, options=opts)
        return grpc.aio.insecure_channel(self.head_grpc, options=opts)

    async def _agent_main(self, a: _Agent) -> None:
        """Connect, stream, reconnect (as agent/shipper.py does), while collecting every tick."""
        period = self.sample_every_s
        phase = a.rng.random() * period  # agents' ticks spread over the period, as on a real cluster
        await asyncio.sleep(phase)
        collector = asyncio.create_task(self._collect(a, period))
        backoff = 0.5
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._stream(a)
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # noqa: BLE001 - counted, then the agent reconnects
                    self._errors += 1
                    self._last_error = f"{type(err).__name__}: {str(err)[:300]}"
                finally:
                    self._connected.discard(a.index)
                if time.monotonic() - started > 30:
                    backoff = 0.5
                await asyncio.sleep(backoff * (0.5 + a.rng.random()))
                backoff = min(backoff * 2, 10.0)
        finally:
            collector.cancel()

    async def _collect(self, a: _Agent, period: float) -> None:
        nxt = time.monotonic()
        while True:
            now = time.time()
            if a.is_head and a.ticks == 0:
                a.pending.parts.extend(a.cluster_parts(self._agents, now))
                a.pending.oldest = now
            a.collect(now)
            a.window.set()
            nxt += period
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async def _stream(self, a: _Agent) -> None:
        async with self._channel() as ch:
            call = ch.stream_stream(method_path(STREAM), request_serializer=None,
                                    response_deserializer=pb.HeadMessage.FromString)(
                metadata=(("authorization", f"Bearer {self.token}"),))
            await call.write(a.hello())
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello_ack":
                raise RuntimeError(f"no hello_ack: {first!r}")
            self._connected.add(a.index)
            self._on_ack(a, first.hello_ack.last_committed_seq, first.hello_ack.ship_every_s)
            reader = asyncio.create_task(self._read_acks(a, call))
            reconnect_at = (time.monotonic() + self.reconnect_every_s * (0.5 + a.rng.random())
                            if self.reconnect_every_s > 0 else float("inf"))
            try:
                for seq in sorted(a.unacked):  # the resend after a reconnect
                    await call.write(a.unacked[seq][0])
                    self._sent += 1
                while time.monotonic() < reconnect_at:
                    if reader.done():
                        reader.result()  # raises what ended the stream
                        raise RuntimeError("the head ended the stream")
                    msg = a.take_batch()
                    if msg is None:
                        a.window.clear()
                        try:
                            await asyncio.wait_for(a.window.wait(), timeout=min(1.0, max(0.0, reconnect_at - time.monotonic())))
                        except TimeoutError:
                            pass
                        continue
                    await call.write(msg)
                    self._sent += 1
                self._reconnects += 1
                await call.done_writing()
            finally:
                reader.cancel()
                call.cancel()

    async def _read_acks(self, a: _Agent, call) -> None:
        while True:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                return
            if msg.WhichOneof("kind") == "ack":
                self._on_ack(a, msg.ack.seq, msg.ack.ship_every_s)

    def _on_ack(self, a: _Agent, seq: int, ship_every_s: float) -> None:
        now = time.time()
        a.ship_every_s = ship_every_s
        for s in [s for s in a.unacked if s <= seq]:
            _, oldest, created = a.unacked.pop(s)
            self._lags.append(now - oldest)
            self._batch_lags.append(now - created)
            self._acked += 1
        if seq > a.seq:  # the head has more than we sent (an earlier sim run's agent ids): continue above
            a.seq = seq
        a.acked = max(a.acked, seq)
        a.window.set()


# ---------------------------------------------------------------- command line

def main(argv: Optional[Iterable[str]] = None) -> None:
    """Run a simulated cluster until stdin closes (or --seconds). Commands on stdin, one a line:
    `reset` (start a new measurement window: lag samples, counters and CPU from now), `report`
    (print the window's SimStats as one JSON line), `mark INDEX TEXT` (a log line on node INDEX).
    The first line printed is {"node_ids": [...], "pid": N}."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--head", required=True, help="the head's gRPC address HOST:PORT")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--workers-per-node", type=int, default=30)
    ap.add_argument("--sample-every-s", type=float, default=1.0)
    ap.add_argument("--tasks-per-s-per-node", type=float, default=1.0)
    ap.add_argument("--log-lines-per-s-per-node", type=float, default=5.0)
    ap.add_argument("--actors-per-s-per-node", type=float, default=0.01)
    ap.add_argument("--reconnect-every-s", type=float, default=300.0)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: when stdin closes)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    token = read_token_file(args.token_file)
    sim = SimulatedCluster(args.head, token, args.nodes, args.workers_per_node, args.sample_every_s,
                           args.tasks_per_s_per_node, log_lines_per_s_per_node=args.log_lines_per_s_per_node,
                           actors_per_s_per_node=args.actors_per_s_per_node,
                           reconnect_every_s=args.reconnect_every_s)
    stop = threading.Event()
    if args.seconds:
        threading.Timer(args.seconds, stop.set).start()
    with sim:
        print(json.dumps({"node_ids": sim.node_ids(), "pid": os.getpid()}), flush=True)

        def commands() -> None:
            for line in sys.stdin:
                cmd, _, rest = line.strip().partition(" ")
                if cmd == "reset":
                    sim.reset()
                elif cmd == "report":
                    print(json.dumps(sim.stats().__dict__), flush=True)
                elif cmd == "mark":
                    index, _, text = rest.partition(" ")
                    sim.mark(int(index), text)
                elif cmd:
                    print(json.dumps({"error": f"unknown command {cmd!r}"}), flush=True)
            stop.set()

        threading.Thread(target=commands, daemon=True).start()
        stop.wait()


if __name__ == "__main__":
    main()
