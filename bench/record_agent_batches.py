"""Record what real agents ship, as the templates of the scale benchmark's simulated agents.

A real 2-node Ray cluster (runtime/local_cluster.py, through the real CLI) runs a small workload
(tasks that print, an actor, some failures); beside each node's own agent, a second real agent
process (`python -m rayscope.agent`, its own state dir, so it reads the session from the start)
ships to a recording Ingest server here, which acks every batch and keeps its bytes. The result,
bench/data/agent_batches.pb.gz, holds for each node its AgentHello and its batches in order
(see sim_agents.Recording for the format): what sim_agents.py rewrites (ids, timestamps, node
identities) into many agents' streams, so their shape is a real agent's.

    .venv/bin/python bench/record_agent_batches.py [--seconds 25] [--out bench/data/agent_batches.pb.gz]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rayscope.runtime.local_cluster import local_cluster  # noqa: E402
from rayscope.runtime.ports import free_ports  # noqa: E402
from rayscope.wire import rayscope_ingest_pb2 as pb  # noqa: E402
from rayscope.wire.grpc_service import SERVICE, STREAM  # noqa: E402
from rayscope.wire.limits import grpc_options  # noqa: E402
from sim_agents import DATA_FILE, RecordedAgent, Recording  # noqa: E402

WORKLOAD = r'''
import sys, time, ray
ray.init(address=sys.argv[1])

@ray.remote(num_cpus=0.25)
def work(i):
    print(f"step {i}: loaded shard {i % 17} ({1000 + i * 37} rows)")
    if i % 9 == 0:
        print(f"warning: shard {i % 17} is skewed", file=sys.stderr)
    time.sleep(0.2)
    if i % 23 == 0:
        raise ValueError(f"bad record in shard {i % 17}")
    return i

@ray.remote(num_cpus=0.25)
class Counter:
    def __init__(self):
        self.n = 0
    def add(self, k):
        self.n += k
        print(f"counter at {self.n}")
        return self.n

deadline = time.time() + float(sys.argv[2])
counters = [Counter.options(scheduling_strategy="SPREAD").remote() for _ in range(2)]
i = 0
while time.time() < deadline:
    refs = [work.options(scheduling_strategy="SPREAD").remote(i + k) for k in range(8)]
    refs += [c.add.remote(i) for c in counters]
    ray.get(refs[-2:])
    ray.wait(refs, num_returns=len(refs), timeout=10)
    i += 8
print("done", i)
'''


class Recorder:
    """An Ingest/Stream server that acks everything and keeps each agent's messages, in order."""

    def __init__(self) -> None:
        self.agents: dict[str, RecordedAgent] = {}
        self.lock = threading.Lock()

    def stream(self, requests, context):
        hello = None
        for msg in requests:
            if msg.HasField("hello"):
                hello = msg.hello
                with self.lock:
                    self.agents.setdefault(hello.agent_id, RecordedAgent(hello=hello, batches=[]))
                yield pb.HeadMessage(hello_ack=pb.HelloAck(last_committed_seq=0))
            else:
                assert hello is not None
                with self.lock:
                    self.agents[hello.agent_id].batches.append(msg.batch)
                yield pb.HeadMessage(ack=pb.Ack(seq=msg.batch.seq))


def serve(recorder: Recorder) -> tuple[grpc.Server, str]:
    server = grpc.server(ThreadPoolExecutor(max_workers=8), options=grpc_options())
    handler = grpc.stream_stream_rpc_method_handler(recorder.stream, request_deserializer=pb.AgentMessage.FromString,
                                                    response_serializer=pb.HeadMessage.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {STREAM: handler}),))
    (port,) = free_ports(1)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, f"127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=25.0, help="how long the workload runs while recording")
    ap.add_argument("--out", type=Path, default=DATA_FILE)
    args = ap.parse_args()
    recorder = Recorder()
    server, address = serve(recorder)
    agents: list[subprocess.Popen] = []
    try:
        with local_cluster(num_cpus=4) as cluster, tempfile.TemporaryDirectory(prefix="rs-rec-") as tmp:
            for i, session in enumerate((cluster.head_session_dir, cluster.worker_session_dir)):
                agents.append(subprocess.Popen(
                    [sys.executable, "-m", "rayscope.agent", "--session-dir", str(session), "--head", address,
                     "--token-file", str(cluster.token_file), "--state-dir", os.path.join(tmp, f"agent{i}"),
                     "--metrics-host", "127.0.0.1", "--log-level", "WARNING"],
                    env=cluster.env))
            driver = Path(tmp) / "workload.py"
            driver.write_text(WORKLOAD)
            res = subprocess.run([sys.executable, str(driver), cluster.gcs_address, str(args.seconds)],
                                 env=cluster.env, capture_output=True, text=True, timeout=args.seconds + 120)
            if res.returncode != 0:
                raise SystemExit(f"workload failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
            time.sleep(3)  # the last events and lines reach the agents' next batches
            for p in agents:
                p.terminate()
            for p in agents:
                p.wait(30)
    finally:
        for p in agents:
            if p.poll() is None:
                p.kill()
        server.stop(1)
    with recorder.lock:
        rec = Recording(agents=sorted(recorder.agents.values(), key=lambda a: not a.hello.is_head_node))
    if len(rec.agents) != 2 or not all(a.batches for a in rec.agents):
        raise SystemExit(f"expected batches from 2 agents, got {[(a.hello.agent_id, len(a.batches)) for a in rec.agents]}")
    rec.save(args.out)
    print(rec.describe())
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
