"""End-to-end ingest benchmark: the REAL head process (`python -m rayscope.dashboard`, temp DB, free
ports) fed over gRPC with the wire protocol, one Ingest.Stream per agent, as agents do.

Event mix: bench_store.realistic_batches (~3 deltas per task, separate batches from 8 agents, some
out of order). All batches are generated and serialized before the clock starts, so the client
costs only the gRPC send; it still shares this machine's cores with the head.

Measured: events committed per second, by acks (first send -> last ack), and the head process's
CPU over that window (user+sys seconds per wall second; 1.0 = one core), of the service process and
of its writer process.

    .venv/bin/python bench/bench_ingest.py [--tasks 1000000] [--batch 5000] [--inflight 16]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import grpc
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import ui_pages  # noqa: E402
from bench_store import AGENTS, JOBS, NODES, realistic_batches  # noqa: E402
from head_process import running_head  # noqa: E402
from procstat import HeadMemory  # noqa: E402
from rayscope.agent.shipper import MAX_INFLIGHT  # noqa: E402
from rayscope.dashboard.native_memory import RELEASE_EVERY_S  # noqa: E402
from rayscope.wire import rayscope_ingest_pb2 as pb  # noqa: E402
from rayscope.wire.grpc_service import STREAM, method_path  # noqa: E402
from rayscope.wire.limits import grpc_options  # noqa: E402

TARGET = 20_000


def agent_stream(address: str, token: str, agent: str, node: str, msgs: list[bytes], inflight: int,
                 done: list, errors: list) -> None:
    """One agent: hello, then its batches in seq order with up to `inflight` unacked."""
    try:
        with grpc.insecure_channel(address, options=grpc_options()) as ch:
            call = ch.stream_stream(method_path(STREAM), request_serializer=lambda b: b,
                                    response_deserializer=pb.HeadMessage.FromString)
            window = threading.Semaphore(inflight)
            hello = pb.AgentMessage(hello=pb.AgentHello(agent_id=agent, node_id=node)).SerializeToString()

            def requests():
                yield hello
                for m in msgs:
                    window.acquire()
                    yield m

            acked = 0
            for resp in call(requests(), metadata=[("authorization", f"Bearer {token}")], timeout=3600):
                if resp.HasField("ack"):
                    acked += 1
                    window.release()
                    if acked == len(msgs):
                        break
            done.append((agent, acked, time.perf_counter()))
    except Exception as err:  # noqa: BLE001 - reported below
        errors.append(f"{agent}: {err!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--inflight", type=int, default=MAX_INFLIGHT, help="unacked batches per agent stream "
                    "(default: the agent's)")
    ap.add_argument("--page-rounds", type=int, default=10, help="visits of every web UI page after the load")
    args = ap.parse_args()
    t = time.perf_counter()
    per_agent: dict[str, list[bytes]] = {a: [] for a in AGENTS}
    events = 0
    for agent, _node, batch in realistic_batches(args.tasks, args.batch):
        per_agent[agent].append(pb.AgentMessage(batch=batch).SerializeToString())
        events += len(batch.tasks)
    nbytes = sum(len(m) for ms in per_agent.values() for m in ms)
    print(f"generated {events:,} task events for {args.tasks:,} tasks in "
          f"{sum(len(v) for v in per_agent.values())} batches ({nbytes / 1e6:,.0f} MB) "
          f"in {time.perf_counter() - t:.0f}s", flush=True)
    with running_head() as head:
        proc = psutil.Process(head.proc.pid)
        done: list = []
        errors: list = []
        threads = [threading.Thread(target=agent_stream, args=(head.grpc_address, head.token, a, n, per_agent[a],
                                                               args.inflight, done, errors))
                   for a, n in zip(AGENTS, NODES)]
        procs = [proc] + proc.children() + [psutil.Process()]  # the service, its writer, this client
        cpu0 = [p.cpu_times() for p in procs]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        cpu1 = [p.cpu_times() for p in procs]
        wall = max((d[2] for d in done), default=time.perf_counter()) - t0
        if errors:
            raise SystemExit(f"agent errors: {errors}")
        acked = sum(d[1] for d in done)
        assert acked == sum(len(v) for v in per_agent.values()), (acked, "batches acked")
        cpus = [(b.user + b.system - a.user - a.system) / wall for a, b in zip(cpu0, cpu1)]
        rss = [p.memory_info().rss / 2**20 for p in procs[:-1]]
        stored = head.get("/tasks/summary").json()["total"]
        page_t = []
        for _ in range(20):
            t = time.perf_counter()
            head.get("/tasks", filter="state=FAILED", limit=100).raise_for_status()
            page_t.append(time.perf_counter() - t)
        page_t.sort()
        print(f"INGEST end-to-end: {events / wall:,.0f} task events/s committed (by acks) "
              f"[target {TARGET:,}/s: {'MET' if events / wall >= TARGET else 'NOT MET'}]; "
              f"{events:,} events in {wall:.1f}s; head CPU {sum(cpus[:-1]):.2f} cores "
              f"({' + '.join(f'{c:.2f}' for c in cpus[:-1])}: service + writer), client {cpus[-1]:.2f}; "
              f"tasks stored {stored:,}; head RSS after load {' + '.join(f'{r:.0f}' for r in rss)} MiB")
        print(f"HTTP GET /tasks?filter=state=FAILED&limit=100 after load: p50 {page_t[10] * 1e3:.1f} ms, "
              f"max {page_t[-1] * 1e3:.1f} ms (includes HTTP + JSON)")
        print(HeadMemory.of(head.proc.pid).report(f"right after the ingest, {stored:,} tasks stored (peak: during it)"))
        time.sleep(RELEASE_EVERY_S + 1)  # the service releases freed memory on this period (native_memory.py)
        print(HeadMemory.of(head.proc.pid).report(f"{RELEASE_EVERY_S + 1:.0f} s later"))
        with head.client() as http:
            http.base_url = head.http_url + "/api/v1"
            for _ in range(args.page_rounds):
                ui_pages.visit(http, ui_pages.page_calls(JOBS, NODES[1], live=True))
        print(HeadMemory.of(head.proc.pid).report(f"after serving the web UI's pages {args.page_rounds} times"))


if __name__ == "__main__":
    main()
