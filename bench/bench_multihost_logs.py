"""Log delivery across hosts: a task's `print` on host 2 -> the line searchable at the head on host 1,
side by side with the same cluster on one host, and with Ray's own path (log_to_driver), in one run
(issue 11, acceptance 3).

The hosts are network namespaces joined by a veth pair (tests/netns_hosts.py). Both setups are
started with the README's commands and differ only in where the worker node lives:
  - one host:  head node and worker node in host 1's namespace (the agent ships over host 1's own IP);
  - two hosts: head node in host 1, worker node in host 2 (the agent ships over the veth link).
A task pinned to the worker node (custom resource `host2`) prints N+1 unique lines, one at a time:
the bench waits a random 0-1 s (so prints land at random points of the agent's 1 s collection
tick), tells the task to go (a file on the shared filesystem), the task records time.time() right
before its print, and the bench polls GET /api/v1/logs/search (from inside host 1, where the API
listens) until the line is there. The first print (worker start-up) is not counted.
Printed per setup, p50/p95/min/max of:
  - print -> searchable (what a user waits for; mostly the agent's tick phase, uniform over 0..1 s);
  - agent read -> searchable (the hit's `read_at` to found: spool, the link, the head's commit: the
    part that crosses the network, without the tick phase that drowns a sub-millisecond link);
  - Ray's log_to_driver: print -> the line in the driver's stdout (log monitor -> GCS -> driver).
Then the two-host minus one-host differences with a bootstrap 95% interval of the p50 difference,
and the link's own round trip (TCP, 1 byte, host 1 -> host 2) next to host 1's loopback.

    .venv/bin/python bench/bench_multihost_logs.py [--prints 50]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from netns_hosts import Host, hosts  # noqa: E402
from rayscope.runtime.auth_token import read_token_file  # noqa: E402
from rayscope.runtime.state import load_state  # noqa: E402
from timing import Latency  # noqa: E402

GCS_PORT = 6379
POLL_S = 0.01

DRIVER = textwrap.dedent("""
    import os, sys, time, ray
    address, run, n, sync = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ray.init(address=address, logging_level="ERROR")  # log_to_driver on: Ray's own path, measured alongside

    @ray.remote(num_cpus=0, resources={"host2": 0.01})
    def printer(run, n, sync):
        for i in range(n):
            go = os.path.join(sync, f"go-{i}")
            while not os.path.exists(go):
                time.sleep(0.002)
            stamp = time.time()
            print(f"lat-{run}-{i}-end", flush=True)
            with open(os.path.join(sync, f".stamp-{i}"), "w") as f:
                f.write(repr(stamp))
            os.replace(os.path.join(sync, f".stamp-{i}"), os.path.join(sync, f"stamp-{i}"))
        return n

    print("READY", flush=True)
    assert ray.get(printer.remote(run, n, sync)) == n
""")

RTT_CLIENT = textwrap.dedent("""
    import socket, statistics, sys, time
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter()
        s.sendall(b"x")
        assert s.recv(1) == b"x"
        out.append(time.perf_counter() - t)
    out.sort()
    print(statistics.median(out) * 1e3, out[int(0.95 * (len(out) - 1))] * 1e3)
""")

RTT_SERVER = textwrap.dedent("""
    import socket, sys
    srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print("LISTENING", flush=True)
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (b := conn.recv(1)):
        conn.sendall(b)
""")


@dataclass
class Head:
    """Where the bench reaches the head: its API on host 1's loopback, with the cluster token."""

    host: Host
    api: str
    token: str

    def found(self, marker: str) -> float | None:
        """The line's read_at (when host 2's agent read it from the file), once it is searchable."""
        answer = self.host.http_get(self.api + "/logs/search", params={"q": marker},
                                    headers={"Authorization": f"Bearer {self.token}"})
        if answer.status != 200:
            raise RuntimeError(f"search failed: {answer.status} {answer.text[:300]}")
        return next((h["line"]["read_at"] for h in answer.json()["rows"] if h["line"]["text"] == marker), None)


@dataclass
class Measured:
    """One setup's delays, each sample a (later) time minus the task's time.time() before its print.

    total:   print -> searchable at the head (what a user waits for)
    shipped: the agent read the line -> searchable (spool, the link, the head's commit; the part
             that crosses the network: total minus the agent's collection tick phase, which is
             spread evenly over 0..1 s and drowns a sub-millisecond link in noise)
    ray:     print -> the line in the driver's stdout through Ray's own log_to_driver (log monitor
             on the worker's node -> GCS pubsub -> driver), the anchor
    """

    total: Latency
    shipped: Latency
    ray: Latency


def _check(res: subprocess.CompletedProcess, what: str) -> None:
    if res.returncode != 0:
        raise SystemExit(f"{what} failed (exit {res.returncode}):\n{res.stdout}\n{res.stderr}")


def start(h1: Host, worker_host: Host, worker_tmp: Path) -> Head:
    """The README's two commands; the worker node on `worker_host` (h1 itself for the one-host setup)."""
    _check(h1.cli("start", "--head", f"--port={GCS_PORT}", f"--node-ip-address={h1.ip}", "--num-cpus=2",
                  f"--temp-dir={h1.tmp}", "--include-dashboard=false"), "rayscope start --head")
    _check(worker_host.cli("start", f"--address={h1.ip}:{GCS_PORT}", f"--node-ip-address={worker_host.ip}",
                           "--num-cpus=2", f"--temp-dir={worker_tmp}", '--resources={"host2": 1}'),
           "rayscope start --address")
    head = next(n for n in load_state(h1.home).nodes if n.role == "head")
    assert head.head_service is not None
    return Head(h1, head.head_service.http_url + "/api/v1", read_token_file(head.token_file))


def _driver_lines(driver: subprocess.Popen, seen: dict[str, float]) -> None:
    """Stamp each line of the driver's stdout (Ray's log_to_driver output) as it arrives."""
    for line in driver.stdout:  # type: ignore[union-attr]
        text = line.rstrip("\n")
        seen.setdefault(text.rsplit(" ", 1)[-1], time.time())


def measure(head: Head, prints: int) -> Measured:
    """print -> searchable (and -> Ray's driver output), for `prints` lines after one warm-up line."""
    run = uuid.uuid4().hex[:8]
    sync = Path(tempfile.mkdtemp(prefix="rs-bench-sync-", dir="/tmp"))
    driver = head.host.popen([sys.executable, "-c", DRIVER, f"{head.host.ip}:{GCS_PORT}", run, str(prints + 1),
                              str(sync)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    at_driver: dict[str, float] = {}
    try:
        if driver.stdout.readline().strip() != "READY":
            raise SystemExit(f"driver failed: {driver.stderr.read()[-3000:]}")
        threading.Thread(target=_driver_lines, args=(driver, at_driver), daemon=True).start()
        total, shipped, ray = [], [], []
        for i in range(prints + 1):
            time.sleep(random.uniform(0, 1.0))  # a random phase of the agent's 1 s tick
            (sync / f"go-{i}").touch()
            marker = f"lat-{run}-{i}-end"
            deadline = time.monotonic() + 120
            while (read_at := head.found(marker)) is None:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{marker} never became searchable")
                time.sleep(POLL_S)
            seen = time.time()
            stamp = float((sync / f"stamp-{i}").read_text())
            while marker not in at_driver and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if i > 0:
                total.append(seen - stamp)
                shipped.append(seen - read_at)
                if marker in at_driver:
                    ray.append(at_driver[marker] - stamp)
        driver.wait(timeout=60)
        if len(ray) < prints:
            raise SystemExit(f"Ray's log_to_driver delivered {len(ray)} of {prints} lines")
        return Measured(Latency(total), Latency(shipped), Latency(ray))
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        shutil.rmtree(sync, ignore_errors=True)


def link_rtt(client: Host, server: Host, server_ip: str, count: int = 500) -> tuple[float, float]:
    """TCP round trip (ms, p50 and p95) of 1 byte from `client` to an echo server in `server`."""
    srv = server.popen([sys.executable, "-c", RTT_SERVER, server_ip, "7777"], stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "LISTENING"
        res = client.run([sys.executable, "-c", RTT_CLIENT, server_ip, "7777", str(count)], timeout=60)
        _check(res, "rtt client")
        p50, p95 = map(float, res.stdout.split())
        return p50, p95
    finally:
        srv.kill()
        srv.wait()


def one_host(prints: int) -> Measured:
    with hosts(2) as (h1, _h2):
        worker_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
        try:
            return measure(start(h1, h1, worker_tmp), prints)
        finally:
            h1.cli("stop", timeout=180)
            shutil.rmtree(worker_tmp, ignore_errors=True)


def two_hosts(prints: int) -> tuple[Measured, tuple[float, float], tuple[float, float]]:
    with hosts(2) as (h1, h2):
        veth = link_rtt(h1, h2, h2.ip)
        loopback = link_rtt(h1, h1, "127.0.0.1")
        return measure(start(h1, h2, h2.tmp), prints), veth, loopback


def p50_diff_interval(a: list[float], b: list[float], rounds: int = 2000) -> tuple[float, float]:
    """Bootstrap 95% interval of median(b) - median(a), in ms."""
    rng = random.Random(0)
    diffs = sorted(statistics.median(rng.choices(b, k=len(b))) - statistics.median(rng.choices(a, k=len(a)))
                   for _ in range(rounds))
    return 1000 * diffs[int(0.025 * rounds)], 1000 * diffs[int(0.975 * rounds)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prints", type=int, default=50)
    args = ap.parse_args()
    t0 = time.monotonic()
    one = one_host(args.prints)
    two, veth, loopback = two_hosts(args.prints)
    print(f"\n== a task's print on the worker node, {args.prints} prints per setup ({time.monotonic() - t0:.0f} s in all)")
    print(f"{'path':<52} {'p50':>9} {'p95':>9} {'min':>9} {'max':>9}")
    rows = (("Rayscope print -> searchable, one host", one.total), ("Rayscope print -> searchable, two hosts", two.total),
            ("Rayscope agent read -> searchable, one host", one.shipped),
            ("Rayscope agent read -> searchable, two hosts", two.shipped),
            ("Ray log_to_driver print -> driver stdout, one host", one.ray),
            ("Ray log_to_driver print -> driver stdout, two hosts", two.ray))
    for name, lat in rows:
        print(f"{name:<52} {lat.p50_ms:>7.1f}ms {lat.p95_ms:>7.1f}ms {1000 * min(lat.samples_s):>7.1f}ms "
              f"{1000 * max(lat.samples_s):>7.1f}ms")
    for what, a, b in (("print -> searchable", one.total, two.total), ("agent read -> searchable", one.shipped, two.shipped)):
        low, high = p50_diff_interval(a.samples_s, b.samples_s)
        print(f"two hosts - one host, {what}: p50 {b.p50_ms - a.p50_ms:+.2f} ms (95% interval {low:+.2f} .. "
              f"{high:+.2f} ms), p95 {b.p95_ms - a.p95_ms:+.2f} ms")
    print(f"Ray's log_to_driver / Rayscope, print -> visible, two hosts: p50 {two.ray.p50_ms / two.total.p50_ms:.2f}x, "
          f"p95 {two.ray.p95_ms / two.total.p95_ms:.2f}x")
    print(f"link round trip (TCP, 1 byte): veth host 1 -> host 2 p50 {veth[0]:.3f} ms p95 {veth[1]:.3f} ms; "
          f"host 1 loopback p50 {loopback[0]:.3f} ms p95 {loopback[1]:.3f} ms")
    print(json.dumps({name: [round(1000 * x, 2) for x in lat.samples_s] for name, lat in rows}))


if __name__ == "__main__":
    main()
