"""Scale benchmark: a real head fed by 100, 300 and 1,000 simulated agents (bench/sim_agents.py) at 1 s
sampling, each with ~30 workers' process samples, log lines, task and actor events, reconnects.

Per size, on a fresh head (`python -m rayscope.dashboard`, temp DB, free ports; the simulated agents
run in their own process, so their CPU is measured apart):
- head CPU (cores: user+sys per wall second) and RSS of the service and its writer process;
- ingest lag: a batch's creation (when its agent sends it) -> the head's ack (sent after the commit,
  so the data is queryable then), p50/p95 over every batch of the window; the same from the batch's
  oldest item (longer when the head paces its agents: items wait for the next batch); and end to end
  through the API: a node sample's timestamp -> the moment GET /metrics/nodes first returns it
  (probes). The target (p95 < 2 s) is judged on the first and the last;
- API latency p50/p95 of the calls the web UI's pages make (frontend/src/pages/*.tsx), one client;
- WebSocket fan-out: the head's CPU in the second half of the window with 20 /api/v1/ws clients
  connected, against the first half without;
- SQLite growth per hour (used pages, WAL included), extrapolated from the window;
- what breaks first: the first target missed (ingest lag p95 < 2 s, every page call's p95 < 200 ms),
  or a process saturated (service or writer >= 0.9 of a core), a backlog growing, errors;
- then the head's memory with 1,000,000 tasks stored while serving every web UI page (target: 300 MB
  RSS, service + writer), as bench_tasks_1m.py measures it (`--tasks-memory 0` skips it).

    .venv/bin/python bench/bench_scale.py [--sizes 100,300,1000] [--window 60] [--warmup 20] [--tasks-memory 0]

Default total runtime for the three sizes is ~6 minutes. Numbers taken on a machine shared with
other work are indicative only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import httpx
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from head_process import PYTHON, HeadProcess, running_head  # noqa: E402
from timing import Latency  # noqa: E402

SIM = Path(__file__).resolve().parent / "sim_agents.py"
LAG_P95_TARGET_S = 2.0
API_P95_TARGET_MS = 200.0
SATURATED = 0.9  # of one core: a Python process (one GIL) is at its limit
WS_CLIENTS = 20


# ---------------------------------------------------------------- the simulated cluster, in its own process

class SimProcess:
    """sim_agents.py as a child process, driven by its stdin commands (see sim_agents.main)."""

    def __init__(self, head: HeadProcess, nodes: int, extra: list[str]) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, str(SIM), "--head", str(head.grpc_address), "--token-file", str(head.token_file),
             "--nodes", str(nodes), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError(f"sim_agents.py exited with {self.proc.wait()}")
        info = json.loads(first)
        self.node_ids: list[str] = info["node_ids"]
        self.ps = psutil.Process(self.proc.pid)

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f"sim_agents.py exited with {self.proc.wait()}") from None

    def report(self) -> dict:
        self.command("report")
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sim_agents.py exited with {self.proc.wait()}")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- measurements

def cpu_s(procs: list[psutil.Process]) -> list[float]:
    out = []
    for p in procs:
        try:
            t = p.cpu_times()
            out.append(t.user + t.system)
        except psutil.Error:
            out.append(0.0)
    return out


def db_bytes(db: Path) -> int:
    """The database's size as a reader sees it (committed pages, WAL included, free pages not):
    the files' sizes would measure the WAL's churn, which is reused after each checkpoint."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size


DISTRIBUTION_OVER = 100  # frontend/src/metrics.ts: above this many nodes the charts are distributions
NODE_PAGE = 100  # frontend/src/pages/nodes.tsx: rows per page of the nodes table (and their latest io)


def page_calls(node_ids: list[str], rng: random.Random,
               extra: tuple[str, ...] = ()) -> dict[str, Callable[[], tuple[str, dict]]]:
    """The API calls the pages make when opened or refreshed (frontend/src/pages/*.tsx), by page, as
    the web UI makes them at this many nodes: up to DISTRIBUTION_OVER the overview draws a line per
    node (every node's hour, then what is new), above it distributions computed at the head.
    `extra`: more, as PATH?QUERY (e.g. a new aggregate endpoint a page switched to)."""
    many = len(node_ids) > DISTRIBUTION_OVER

    def live_chart() -> tuple[str, dict]:  # the overview charts' refresh: what is new since the last points
        now = time.time()
        return "/metrics/nodes", {"since": now - 5, "raw_s": 10, "max_points": 1}

    def node_io() -> tuple[str, dict]:  # nodes page: latest disk/network of the page's nodes
        return "/metrics/nodes", {"node_id": node_ids[:NODE_PAGE], "latest": 2}

    def full_chart() -> tuple[str, dict]:  # the overview charts' full-hour fetch, every node's lines
        now = time.time()
        return "/metrics/nodes", {"since": now - 3600, "max_points": 360}

    def distribution() -> tuple[str, dict]:  # overview + nodes page above DISTRIBUTION_OVER: the hour's heatmaps
        now = time.time()
        return "/metrics/nodes/distribution", {"since": now - 3600, "until": now}

    calls: dict[str, Callable[[], tuple[str, dict]]] = {
        "nodes: counts (/nodes/summary)": lambda: ("/nodes/summary", {}),
        f"nodes: table page (/nodes?limit={NODE_PAGE})": lambda: ("/nodes", {"limit": NODE_PAGE}),
        f"nodes: latest io of {NODE_PAGE} (/metrics/nodes?latest=2)": node_io,
        "all nodes (/nodes?limit=10000: timeline, logs, objects)": lambda: ("/nodes", {"limit": 10000}),
        "overview: task summary": lambda: ("/tasks/summary", {}),
        "overview: jobs": lambda: ("/jobs", {"limit": 10}),
        "overview: actor summary": lambda: ("/actors/summary", {}),
        "overview: failed tasks": lambda: ("/tasks", {"filter": "state=FAILED", "limit": 8}),
        **({"overview + nodes: distributions, hour (/metrics/nodes/distribution)": distribution} if many else {
            "overview: chart refresh (new points)": live_chart,
            "overview: chart full hour, all nodes": full_chart}),
        "tasks page (/tasks?limit=200)": lambda: ("/tasks", {"limit": 200}),
        "node page (/nodes/{id})": lambda: (f"/nodes/{rng.choice(node_ids)}", {}),
        "node processes (/processes by node)": lambda: (
            "/processes", {"filter": f"node_id={rng.choice(node_ids)}", "sort": "-cpu_percent", "limit": 2000}),
    }
    for spec in extra:
        path, _, query = spec.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        calls[spec] = lambda path=path, params=params: (path, params)
    return calls


@dataclass
class Window:
    """What the probe threads collect during one measurement window."""

    api: dict[str, list[float]] = field(default_factory=dict)
    api_errors: dict[str, str] = field(default_factory=dict)
    api_lag: list[float] = field(default_factory=list)
    ws_messages: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def api_loop(head: HeadProcess, node_ids: list[str], w: Window, extra: tuple[str, ...], pause_s: float = 0.2) -> None:
    """One user going round the pages: every call once, then again."""
    rng = random.Random(3)
    calls = page_calls(node_ids, rng, extra)
    with head.client() as c:
        while not w.stop.is_set():
            for name, make in calls.items():
                if w.stop.is_set():
                    return
                path, params = make()
                t = time.perf_counter()
                try:
                    c.get("/api/v1" + path, params=params).raise_for_status()
                except httpx.HTTPError as err:
                    w.api_errors[name] = f"{type(err).__name__}: {str(err)[:120]}"
                    continue
                w.api.setdefault(name, []).append(time.perf_counter() - t)
                w.stop.wait(pause_s)


def lag_probe_loop(head: HeadProcess, node_ids: list[str], w: Window, poll_s: float = 0.1) -> None:
    """End-to-end ingest lag: pick a node, then poll its samples until one taken after the pick is
    served by the API; the lag is the time seen minus that sample's own timestamp."""
    rng = random.Random(5)
    with head.client() as c:
        while not w.stop.is_set():
            node = rng.choice(node_ids)
            t0 = time.time()
            while not w.stop.is_set():
                r = c.get("/api/v1/metrics/nodes", params={"node_id": node, "since": t0, "raw_s": 120, "max_points": 1})
                pts = [p for s in r.json() for p in s["points"] if p["ts"] >= t0] if r.status_code == 200 else []
                if pts:
                    w.api_lag.append(time.time() - min(p["ts"] for p in pts))
                    break
                if time.time() - t0 > 60:
                    w.api_lag.append(float("inf"))  # never arrived within a minute
                    break
                w.stop.wait(poll_s)
            w.stop.wait(0.5)


def ws_clients(head: HeadProcess, n: int, w: Window, until: threading.Event) -> None:
    """n WebSocket clients of /api/v1/ws (as n browser tabs), reading every message, until `until`."""
    url = head.http_url.replace("http", "ws", 1) + f"/api/v1/ws?token={head.token}"

    async def one() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            while not until.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), timeout=0.5)
                    w.ws_messages += 1
                except TimeoutError:
                    pass

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    asyncio.run(main())


# ---------------------------------------------------------------- one size

@dataclass
class SizeResult:
    nodes: int
    cpu_service: float
    cpu_writer: float
    cpu_service_ws: float
    cpu_writer_ws: float
    rss_service_mb: float
    rss_writer_mb: float
    sim_cpu: float
    ship_every_s: float  # the head's pace (dashboard/ingest_pace.py), as the agents were told
    lag_p50_s: float  # a batch's oldest item -> ack
    lag_p95_s: float
    batch_lag_p50_s: float  # a batch's creation -> ack: the "ingest lag"
    batch_lag_p95_s: float
    api_lag_p50_s: float
    api_lag_p95_s: float
    api: dict[str, Latency]
    api_errors: dict[str, str]
    db_mb_per_h: float
    db_mb_end: float
    batches_per_s: float
    unacked_start: int
    unacked_end: int
    reconnects: int
    errors: int
    last_error: str
    ws_messages: int
    breaks: list[str]


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_size(nodes: int, window_s: float, warmup_s: float, sim_args: list[str], profile: Optional[Path],
             ingest_only: bool = False, extra_calls: tuple[str, ...] = (),
             head_args: tuple[str, ...] = ()) -> SizeResult:
    with running_head(extra_args=head_args) as head:
        service = psutil.Process(head.proc.pid)
        writer = next((c for c in service.children() if "writer_process" in " ".join(c.cmdline())), None)
        procs = [service] + ([writer] if writer else [])
        sim = SimProcess(head, nodes, sim_args)
        try:
            t = time.monotonic()
            while True:  # every agent connected (or give up and measure what there is)
                st = sim.report()
                if st["connected"] >= nodes or time.monotonic() - t > 60:
                    break
                time.sleep(0.5)
            print(f"  {nodes} nodes: {st['connected']} agents connected in {time.monotonic() - t:.1f}s; "
                  f"warming up {warmup_s:.0f}s", flush=True)
            time.sleep(warmup_s)
            w = Window()
            threads = [] if ingest_only else [
                threading.Thread(target=api_loop, args=(head, sim.node_ids, w, extra_calls), daemon=True),
                threading.Thread(target=lag_probe_loop, args=(head, sim.node_ids, w), daemon=True)]
            sim.command("reset")
            unacked0 = sim.report()["unacked_batches"]
            db0, c0, t0 = db_bytes(head.db_path), cpu_s(procs), time.monotonic()
            for th in threads:
                th.start()
            pyspy = None
            if profile is not None:
                out = profile.with_name(f"{profile.stem}-{nodes}{profile.suffix}")
                pyspy = subprocess.Popen([str(Path(PYTHON).with_name("py-spy")), "record", "-o", str(out),
                                          "--pid", str(service.pid), "--subprocesses", "-d", str(int(window_s)),
                                          "--nonblocking", "--format", "raw" if out.suffix == ".txt" else "flamegraph"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(window_s / 2)
            c1, t1 = cpu_s(procs), time.monotonic()
            ws_stop = threading.Event()
            ws_thread = threading.Thread(target=ws_clients, args=(head, WS_CLIENTS, w, ws_stop), daemon=True)
            if not ingest_only:
                ws_thread.start()
            time.sleep(window_s / 2)
            c2, t2 = cpu_s(procs), time.monotonic()
            db1 = db_bytes(head.db_path)
            ws_stop.set()
            w.stop.set()
            stats = sim.report()
            rss = [p.memory_info().rss / 2**20 for p in procs]
            for th in [*threads, ws_thread]:
                if th.ident is not None:
                    th.join(30)
            if pyspy is not None:
                pyspy.wait(60)
        finally:
            sim.stop()
    half1, half2 = t1 - t0, t2 - t1
    cpu_a = [(b - a) / half1 for a, b in zip(c0, c1)] + [0.0]
    cpu_b = [(b - a) / half2 for a, b in zip(c1, c2)] + [0.0]
    api = {k: Latency(v) for k, v in w.api.items() if v}
    res = SizeResult(
        nodes=nodes, cpu_service=cpu_a[0], cpu_writer=cpu_a[1], cpu_service_ws=cpu_b[0], cpu_writer_ws=cpu_b[1],
        rss_service_mb=rss[0], rss_writer_mb=rss[1] if len(rss) > 1 else 0.0,
        sim_cpu=stats["cpu_s"] / max(stats["wall_s"], 1e-9), ship_every_s=stats.get("ship_every_s", 0.0),
        lag_p50_s=stats["lag_p50_s"],
        lag_p95_s=stats["lag_p95_s"], batch_lag_p50_s=stats["batch_lag_p50_s"],
        batch_lag_p95_s=stats["batch_lag_p95_s"], api_lag_p50_s=pct(w.api_lag, 0.5), api_lag_p95_s=pct(w.api_lag, 0.95),
        api=api, api_errors=w.api_errors, db_mb_per_h=(db1 - db0) / (t2 - t0) * 3600 / 2**20,
        db_mb_end=db1 / 2**20, batches_per_s=stats["batches_acked"] / max(stats["wall_s"], 1e-9),
        unacked_start=unacked0, unacked_end=stats["unacked_batches"], reconnects=stats["reconnects"],
        errors=stats["errors"], last_error=stats["last_error"], ws_messages=w.ws_messages, breaks=[])
    res.breaks = what_breaks(res)
    return res


def what_breaks(r: SizeResult) -> list[str]:
    """The targets missed and the limits hit, most telling first."""
    out = []
    if max(r.cpu_writer, r.cpu_writer_ws) >= SATURATED:
        out.append(f"writer process saturated ({max(r.cpu_writer, r.cpu_writer_ws):.2f} cores)")
    if max(r.cpu_service, r.cpu_service_ws) >= SATURATED:
        out.append(f"service process saturated ({max(r.cpu_service, r.cpu_service_ws):.2f} cores)")
    if r.batch_lag_p95_s >= LAG_P95_TARGET_S or r.api_lag_p95_s >= LAG_P95_TARGET_S:
        out.append(f"ingest lag p95 {max(r.batch_lag_p95_s, r.api_lag_p95_s):.1f}s >= {LAG_P95_TARGET_S:.0f}s")
    if r.unacked_end > r.unacked_start + r.nodes:
        out.append(f"backlog growing ({r.unacked_start} -> {r.unacked_end} unacked batches)")
    for name, lat in r.api.items():
        if lat.p95_ms >= API_P95_TARGET_MS:
            out.append(f"API p95 {lat.p95_ms:.0f} ms: {name}")
    for name, err in r.api_errors.items():
        out.append(f"API error: {name}: {err}")
    if r.errors:
        out.append(f"{r.errors} agent stream errors ({r.last_error[:80]})")
    return out


# ---------------------------------------------------------------- report

def print_table(results: list[SizeResult], shared_note: str, sample_every_s: float = 1.0) -> None:
    cols = [str(r.nodes) for r in results]
    w = max(12, *(len(c) + 2 for c in cols))

    def row(label: str, vals: list[str]) -> None:
        print(f"{label:<46}" + "".join(f"{v:>{w}}" for v in vals))

    print(f"\n== Scale: a real head, simulated agents at {sample_every_s:g} s sampling {shared_note}")
    row("nodes", cols)
    row("head CPU service + writer (cores)", [f"{r.cpu_service:.2f}+{r.cpu_writer:.2f}" for r in results])
    row(f"  with {WS_CLIENTS} WebSocket clients", [f"{r.cpu_service_ws:.2f}+{r.cpu_writer_ws:.2f}" for r in results])
    row("  WS fan-out cost (cores)", [f"{r.cpu_service_ws + r.cpu_writer_ws - r.cpu_service - r.cpu_writer:+.2f}"
                                      for r in results])
    row("head RSS service + writer (MiB)", [f"{r.rss_service_mb:.0f}+{r.rss_writer_mb:.0f}" for r in results])
    row("generator CPU (cores, own process)", [f"{r.sim_cpu:.2f}" for r in results])
    row("agents ship every (s, the head's pace)", [f"{r.ship_every_s:g}" if r.ship_every_s else "tick" for r in results])
    row("batches committed /s", [f"{r.batches_per_s:,.0f}" for r in results])
    row("ingest lag p50 / p95 (s), batch made->ack", [f"{r.batch_lag_p50_s:.2f}/{r.batch_lag_p95_s:.2f}" for r in results])
    row("  its oldest item made->ack", [f"{r.lag_p50_s:.2f}/{r.lag_p95_s:.2f}" for r in results])
    row("ingest lag p50 / p95 (s), sample->API", [f"{r.api_lag_p50_s:.2f}/{r.api_lag_p95_s:.2f}" for r in results])
    names = list(dict.fromkeys(n for r in results for n in r.api))
    for name in names:
        row(f"API p95 ms: {name}"[:46], [f"{r.api[name].p95_ms:.0f}" if name in r.api else "-" for r in results])
    row("SQLite growth (MiB/hour)", [f"{r.db_mb_per_h:,.0f}" for r in results])
    row("reconnects / stream errors", [f"{r.reconnects}/{r.errors}" for r in results])
    print(f"targets: ingest lag p95 < {LAG_P95_TARGET_S:.0f} s, every page call's API p95 < {API_P95_TARGET_MS:.0f} ms")
    for r in results:
        first = r.breaks[0] if r.breaks else "nothing: every target met"
        print(f"  {r.nodes} nodes, breaks first: {first}")
        for b in r.breaks[1:]:
            print(f"      also: {b}")
    print("Ray side: no like-for-like tool for simulated nodes; Ray's dashboard is known to slow and run out of "
          "memory as clusters grow (Ray issues #35202, #55010, #22621, #21618), but no figure for it at these "
          "sizes is verified in /work/shared/reference, so none is printed.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,300,1000", help="comma-separated node counts")
    ap.add_argument("--window", type=float, default=60.0, help="seconds measured per size (half without, "
                    "half with the WebSocket clients)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds of load before the window")
    ap.add_argument("--tasks-per-s-per-node", type=float, default=1.0)
    ap.add_argument("--log-lines-per-s-per-node", type=float, default=5.0)
    ap.add_argument("--workers-per-node", type=int, default=30)
    ap.add_argument("--sample-every-s", type=float, default=1.0)
    ap.add_argument("--profile", type=Path, default=None,
                    help="py-spy record the head (service + writer) over each window into this file, -N per size "
                    "(.svg: a flame graph; .txt: collapsed stacks)")
    ap.add_argument("--shared", action="store_true", help="mark the table as taken on a shared machine")
    ap.add_argument("--call", action="append", default=[], metavar="PATH?QUERY",
                    help="another API call to time with the pages' (repeatable), e.g. /metrics/nodes/summary?window_s=60")
    ap.add_argument("--tasks-memory", type=int, default=1_000_000, metavar="N",
                    help="then the head's memory with N tasks stored while serving every web UI page "
                    "(bench_tasks_1m.py's measurement, its DB reused or loaded once); 0: skip")
    ap.add_argument("--agents-per-ship-second", type=int, default=None, metavar="N",
                    help="the head's pacing of agents (dashboard/ingest_pace.py; default: the head's, 500; "
                    "0: every agent ships every second)")
    ap.add_argument("--tasks-db", type=Path, default=Path("/tmp/rs-bench-1m.db"))
    ap.add_argument("--ingest-only", action="store_true", help="no API, lag probe or WebSocket clients: the "
                    "ingest path's own cost (e.g. with --profile)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    sim_args = ["--tasks-per-s-per-node", str(args.tasks_per_s_per_node),
                "--log-lines-per-s-per-node", str(args.log_lines_per_s_per_node),
                "--workers-per-node", str(args.workers_per_node), "--sample-every-s", str(args.sample_every_s)]
    print(f"scale bench: sizes {sizes}, window {args.window:.0f}s, warmup {args.warmup:.0f}s, "
          f"{args.tasks_per_s_per_node:g} tasks/s, {args.log_lines_per_s_per_node:g} log lines/s, "
          f"{args.workers_per_node} workers per node; {psutil.cpu_count()} CPUs", flush=True)
    results = []
    for n in sizes:
        head_args = () if args.agents_per_ship_second is None else (
            "--agents-per-ship-second", str(args.agents_per_ship_second))
        r = run_size(n, args.window, args.warmup, sim_args, args.profile, args.ingest_only, tuple(args.call), head_args)
        results.append(r)
        print(f"  {n} nodes: lag p95 {r.batch_lag_p95_s:.2f}s, CPU {r.cpu_service:.2f}+{r.cpu_writer:.2f}, "
              f"breaks: {r.breaks[0] if r.breaks else 'nothing'}", flush=True)
    print_table(results, "(SHARED machine: indicative only)" if args.shared else "", args.sample_every_s)
    if args.tasks_memory:
        print_tasks_memory(args.tasks_db, args.tasks_memory)


def print_tasks_memory(db: Path, tasks: int) -> None:
    """The issue's memory figure: service + writer RSS with `tasks` tasks stored, after serving the web
    UI's pages (target 300 MB in all), measured as bench_tasks_1m.py does on a history-mode head."""
    import bench_tasks_1m

    print(f"\n== head memory with {tasks:,} tasks stored (bench_tasks_1m.py; target <= 300 MB RSS in all)", flush=True)
    bench_tasks_1m.ensure_loaded(db, tasks)
    with bench_tasks_1m.history_head(db) as (url, token, pid):
        with httpx.Client(base_url=url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60) as api:
            bench_tasks_1m.serve_pages(api, pid, rounds=10, tasks=tasks)


if __name__ == "__main__":
    main()
