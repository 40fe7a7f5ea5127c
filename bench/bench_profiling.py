"""Profiling: Rayscope's stack dumps and CPU profiles vs Ray's own profiling endpoints, on one cluster, in one run.

Starts a 2-node cluster with `rayscope start`, Ray's dashboard on and its profiling endpoints enabled
(`RAY_DASHBOARD_ENABLE_PROFILING=1` in the head's environment: they answer 403 otherwise; the venv's
bin/ on the nodes' PATH: Ray's agent runs the `py-spy` it finds there, ours the one beside its Python). A driver
puts everything it runs on the *worker* node, so both sides cross from the head to that node's agent.

Stack-dump latency (the HTTP call, head -> node agent -> `py-spy dump` -> back), N dumps each way,
interleaved, the side going first alternating:
  - a task spinning in pure Python:   POST /api/v1/profiling/stacks {task_id}
                                      vs GET /task/traceback?task_id=&attempt_number=0&node_id=
  - an actor blocked in `ray.get`:    POST /api/v1/profiling/stacks {actor_id}
                                      vs GET /worker/traceback?pid=&node_id= (Ray has no actor
                                      endpoint; its UI's actor row uses the worker's pid)
Every dump must name the function the target is in, or the bench stops: a failed dump is not fast.

Slowdown of a CPU-bound task while profiled: a task runs a fixed pure-Python workload (REPS x
leaf(20000), as in the reference experiment) and times it itself. Rounds of four runs, the order
rotating: no profiler; a Rayscope CPU profile (POST /api/v1/profiling/profiles kind=cpu, the default
rate); Ray's `GET /task/cpu_profile?...&format=speedscope` (py-spy's default rate, 100 Hz); and, as a
reference, `py-spy record --nonblocking` started by the bench on the task's pid (no product path: what
a profile costs when py-spy does not ptrace-stop the target for each sample). The task
is RUNNING at both sides' state APIs before anything starts (Ray's endpoint resolves the task there),
the profile starts SETTLE_S before the workload and lasts long enough to cover it, and the task
stays alive until the profile has ended (Ray's endpoint checks that the task still runs). Each
profile's samples in `leaf` per second of workload are counted from its speedscope document: a
profile that did not sample the run does not count as cheap. Prints medians, spread and the slowdown
of each against the target (< 5 % at the default rate), twice: by the wall clock, and by the wall clock
less the time the task's thread was runnable but waiting for a CPU (/proc/thread-self/schedstat), which
takes out the load of other processes on a shared machine but keeps what the profiler costs the task
(its ptrace stops, and cache and syscall costs, land in the task's own time).

    .venv/bin/python bench/bench_profiling.py [--dumps 30] [--rounds 7] [--reps 1500]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from rayscope.dashboard.profiling_models import DEFAULT_RATE_HZ  # noqa: E402
from rayscope.runtime.local_cluster import LocalCluster, local_cluster  # noqa: E402
from timing import Latency, print_comparison  # noqa: E402

SETTLE_S = 1.0  # profile start -> workload start: both sides resolve the task and start py-spy
TARGET_SLOWDOWN = 0.05
# Ray's agent finds py-spy on its PATH only (shutil.which); as in an activated venv, put ours there.
RAY_PROFILING_ENV = {"RAY_DASHBOARD_ENABLE_PROFILING": "1",
                     "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}

DRIVER = textwrap.dedent("""
    import json, os, sys, time, ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    address, node_id, stop = sys.argv[1], sys.argv[2], sys.argv[3]
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    on_worker = NodeAffinitySchedulingStrategy(node_id, soft=False)

    def leaf(n):
        s = 0
        for i in range(n):
            s += i * i
        return s

    def runq_wait_s():  # this thread's time runnable but waiting for a CPU (the kernel's schedstat)
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9

    def wait_file(path):
        while not os.path.exists(path):
            time.sleep(0.005)

    @ray.remote(num_cpus=0)
    def spin_until(stop):
        acc = 0
        while not os.path.exists(stop):
            for i in range(1_000_000):
                acc = (acc * 31 + i) % 1_000_003

    @ray.remote(num_cpus=0)
    def sleep_forever():
        while True:
            time.sleep(1)

    @ray.remote(num_cpus=0)
    class Keeper:
        def pid(self):
            return os.getpid()

        def wait_for(self, refs):
            ray.get(refs[0])

    @ray.remote(num_cpus=0)
    def timed_run(gate, reps):
        wait_file(os.path.join(gate, "go"))
        waited = runq_wait_s()
        start = time.perf_counter()
        for _ in range(reps):
            leaf(20000)
        took = time.perf_counter() - start
        waited = runq_wait_s() - waited
        wait_file(os.path.join(gate, "release"))
        return took, waited

    spin = spin_until.options(scheduling_strategy=on_worker).remote(stop)
    keeper = Keeper.options(scheduling_strategy=on_worker).remote()
    keeper_pid = ray.get(keeper.pid.remote())
    blocked = keeper.wait_for.remote([sleep_forever.options(scheduling_strategy=on_worker).remote()])
    print("IDS", json.dumps({"spin_task_id": spin.task_id().hex(), "keeper_actor_id": keeper._actor_id.hex(),
                             "keeper_pid": keeper_pid, "blocked_task_id": blocked.task_id().hex()}), flush=True)
    for line in sys.stdin:
        gate, reps = line.split()
        ref = timed_run.options(scheduling_strategy=on_worker).remote(gate, int(reps))
        print("TASK", ref.task_id().hex(), flush=True)
        print("DONE", *ray.get(ref), flush=True)
""")


@dataclass
class Driver:
    proc: subprocess.Popen
    ids: dict[str, Any]
    stop_file: Path

    def submit(self, gate: Path, reps: int) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{gate} {reps}\n")
        self.proc.stdin.flush()
        return self._expect("TASK")[0]

    def result(self) -> tuple[float, float]:
        took, waited = self._expect("DONE", 2)
        return float(took), float(waited)

    def _expect(self, word: str, n: int = 1) -> list[str]:
        assert self.proc.stdout
        line = self.proc.stdout.readline().split()
        if line[:1] != [word] or len(line) != n + 1:
            raise SystemExit(f"the driver said {line!r} instead of {word} (exit {self.proc.poll()})")
        return line[1:]


def start_driver(cluster: LocalCluster, work: Path) -> Driver:
    script = work / "bench_profiling_job.py"  # a real file, so stacks name it
    script.write_text(DRIVER)
    stop = work / "stop-spinning"
    proc = subprocess.Popen([sys.executable, str(script), cluster.gcs_address, cluster.worker_node_id, str(stop)],
                            env=cluster.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout
    first = proc.stdout.readline().split(maxsplit=1)
    if first[:1] != ["IDS"]:
        raise SystemExit(f"the driver did not start (exit {proc.wait()})")
    return Driver(proc, json.loads(first[1]), stop)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"{what}: not within {timeout_s:g} s")


class Sides:
    """The two HTTP APIs, both with the cluster's token (Ray's dashboard runs with token auth)."""

    def __init__(self, cluster: LocalCluster) -> None:
        assert cluster.ray_dashboard_url
        headers = {"Authorization": f"Bearer {cluster.token}"}
        self.ours = httpx.Client(base_url=cluster.http_url + "/api/v1", headers=headers, timeout=120)
        self.ray = httpx.Client(base_url=cluster.ray_dashboard_url, headers=headers, timeout=120)
        self.node_id = cluster.worker_node_id

    def running_at_both(self, task_id: str) -> bool:
        """Both heads know the task as RUNNING in a worker (each side's endpoint resolves it so)."""
        rows = self.ours.get(f"/tasks/{task_id}").json()
        if not (isinstance(rows, list) and any(r["state"].startswith("RUNNING") and r.get("worker_pid") and r.get("node_id")
                                               for r in rows)):  # what the head's profiling needs to resolve it
            return False
        from ray.util.state import list_tasks

        ray_rows = list_tasks(address=str(self.ray.base_url), filters=[("task_id", "=", task_id)], detail=True,
                              raise_on_missing_output=False)
        return any(str(t.state).startswith("RUNNING") and t.worker_pid for t in ray_rows)

    def actor_alive(self, actor_id: str) -> bool:
        r = self.ours.get(f"/actors/{actor_id}")
        return r.status_code == 200 and r.json()["state"] == "ALIVE" and bool(r.json()["pid"])

    def our_stack(self, body: dict[str, Any], function: str) -> float:
        """POST a stack request; the node's own py-spy time (ms). Stops unless `function` is on a stack."""
        r = self.ours.post("/profiling/stacks", json=body)
        if r.status_code != 200:
            raise SystemExit(f"Rayscope stack dump {body} failed: {r.status_code} {r.text[:300]}")
        dump = r.json()
        names = {f["function"] for t in dump["threads"] for f in t["frames"]}
        if not any(n == function or n.endswith("." + function) for n in names):  # py-spy qualifies methods
            raise SystemExit(f"Rayscope's dump of {body} does not show {function}: {sorted(names)}")
        return float(dump["took_ms"])

    def ray_stack(self, path: str, params: dict[str, Any], function: str) -> None:
        r = self.ray.get(path, params={**params, "node_id": self.node_id})
        if r.status_code != 200 or f"{function} (" not in r.text:
            raise SystemExit(f"Ray's {path} {params} did not show {function}: {r.status_code} {r.text[:300]}")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dump_latency(sides: Sides, ids: dict[str, Any], n: int) -> tuple[list[tuple[str, Latency, Latency]], list[float]]:
    """N dumps each way per target, interleaved, the first side alternating; plus our node-side times."""
    targets = [
        ("stack dump: task spinning", {"task_id": ids["spin_task_id"]},
         "/task/traceback", {"task_id": ids["spin_task_id"], "attempt_number": 0}, "spin_until"),
        ("stack dump: actor in ray.get", {"actor_id": ids["keeper_actor_id"]},
         "/worker/traceback", {"pid": ids["keeper_pid"]}, "wait_for"),
    ]
    rows: list[tuple[str, Latency, Latency]] = []
    took_ms: list[float] = []
    for name, body, path, params, function in targets:
        sides.our_stack(body, function)  # warm-up, one each
        sides.ray_stack(path, params, function)
        ours: list[float] = []
        ray: list[float] = []
        for i in range(n):
            if i % 2:
                ray.append(timed(lambda: sides.ray_stack(path, params, function)))
            start = time.perf_counter()
            took_ms.append(sides.our_stack(body, function))
            ours.append(time.perf_counter() - start)
            if not i % 2:
                ray.append(timed(lambda: sides.ray_stack(path, params, function)))
        rows.append((name, Latency(ours), Latency(ray)))
    return rows, took_ms


def leaf_samples(doc: dict[str, Any]) -> int:
    """Samples whose stack holds `leaf`, over every thread's profile of a speedscope document (py-spy's
    weights are seconds, 1/rate each, so they are not counted)."""
    leaf = {i for i, f in enumerate(doc["shared"]["frames"]) if f["name"] == "leaf"}
    return sum(1 for p in doc["profiles"] for s in p["samples"] if leaf & set(s))


@dataclass
class Run:
    took_s: float  # wall clock
    waited_s: float  # of that, runnable but waiting for a CPU: other processes' load, not the profiler's stops
    samples_in_leaf: Optional[int] = None  # None: no profiler

    def sampled_hz(self) -> float:
        return (self.samples_in_leaf or 0) / self.took_s

    @property
    def own_s(self) -> float:
        """Wall clock less the CPU wait: on 2 shared cores other processes' load swings the wall clock by
        ±50 %, while a blocking profiler's ptrace stops and its cache and syscall costs stay in here."""
        return self.took_s - self.waited_s


class Overhead:
    """One profiled (or not) run of the workload task per call; see the module docstring."""

    def __init__(self, sides: Sides, driver: Driver, reps: int, work: Path) -> None:
        self.sides, self.driver, self.reps, self.work = sides, driver, reps, work
        self.duration_s = 0
        self.count = 0

    def run(self, variant: str) -> Run:
        self.count += 1
        gate = self.work / f"run-{self.count}"
        gate.mkdir()
        task_id = self.driver.submit(gate, self.reps)
        wait_for(f"the workload task {task_id} RUNNING at both heads", lambda: self.sides.running_at_both(task_id))
        finish = {"none": self._no_profile, "rayscope": self._ours, "ray": self._ray,
                  "nonblocking": self._nonblocking}[variant](task_id)
        time.sleep(SETTLE_S)
        (gate / "go").touch()
        samples = finish()
        (gate / "release").touch()
        return Run(*self.driver.result(), samples)

    def _no_profile(self, task_id: str) -> Callable[[], Optional[int]]:
        return lambda: None

    def _ours(self, task_id: str) -> Callable[[], Optional[int]]:
        r = self.sides.ours.post("/profiling/profiles", json={"task_id": task_id, "kind": "cpu",
                                                               "duration_s": self.duration_s})
        if r.status_code != 202:
            raise SystemExit(f"Rayscope CPU profile failed to start: {r.status_code} {r.text[:300]}")
        profile_id = r.json()["profile_id"]
        started = time.monotonic()

        def finish() -> int:
            # no polling while the workload runs: the head's work would share the 2 cores with it
            time.sleep(max(0.0, self.duration_s - (time.monotonic() - started)))
            wait_for("the Rayscope profile to end", lambda: self.sides.ours.get(
                f"/profiling/profiles/{profile_id}").json()["status"] != "running", 60)
            p = self.sides.ours.get(f"/profiling/profiles/{profile_id}").json()
            if p["status"] != "done":
                raise SystemExit(f"Rayscope CPU profile failed: {p.get('error')}")
            return leaf_samples(self.sides.ours.get(f"/profiling/profiles/{profile_id}/speedscope.json").json())
        return finish

    def _nonblocking(self, task_id: str) -> Callable[[], Optional[int]]:
        """py-spy record --nonblocking run here on the task's pid: no product path, only what Rayscope's
        profile would cost with that flag (the reference measured +4 % against +18 % blocking)."""
        rows = self.sides.ours.get(f"/tasks/{task_id}").json()
        pid = next(r["worker_pid"] for r in rows if r["state"].startswith("RUNNING") and r.get("worker_pid"))
        out = self.work / f"nonblocking-{self.count}.json"
        proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "--nonblocking",
                                 "--idle", "--pid", str(pid), "--duration", str(self.duration_s), "--rate",
                                 str(DEFAULT_RATE_HZ), "--format", "speedscope", "--output", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def finish() -> int:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"py-spy record --nonblocking failed: {err[-300:]}")
            return leaf_samples(json.loads(out.read_text()))
        return finish

    def _ray(self, task_id: str) -> Callable[[], Optional[int]]:
        out: dict[str, object] = {}
        params = {"task_id": task_id, "attempt_number": 0, "node_id": self.sides.node_id,
                  "duration": self.duration_s, "format": "speedscope"}

        def call() -> None:  # Ray's endpoint answers when the profile has ended
            try:
                r = self.sides.ray.get("/task/cpu_profile", params=params)
                out["doc" if r.status_code == 200 else "error"] = r.text if r.status_code == 200 else \
                    f"{r.status_code} {r.text[:300]}"
            except httpx.HTTPError as exc:
                out["error"] = repr(exc)
        thread = threading.Thread(target=call)
        thread.start()

        def finish() -> int:
            thread.join()
            if "error" in out:
                raise SystemExit(f"Ray's /task/cpu_profile failed: {out['error']}")
            return leaf_samples(json.loads(str(out["doc"])))
        return finish


def measure_line(runs: dict[str, list[Run]], get: Callable[[Run], float]) -> tuple[dict[str, float], list[str]]:
    """Each variant's slowdown against the unprofiled runs' median, and its 'median min-max slowdown' cells."""
    base = statistics.median(get(r) for r in runs["none"])
    slow, cells = {}, []
    for variant, rs in runs.items():
        xs = [get(r) for r in rs]
        slow[variant] = statistics.median(xs) / base - 1
        pct = "-" if variant == "none" else f"{100 * slow[variant]:+.1f} %"
        cells.append(f"{statistics.median(xs):>6.3f} s {min(xs):.2f}-{max(xs):.2f} {pct:>8}")
    return slow, cells


def print_overhead(reps: int, rounds: int, duration_s: int, results: dict[str, list[Run]]) -> None:
    names = {"none": "no profiler",
             "rayscope": "Rayscope CPU profile (POST /profiling/profiles)",
             "ray": "Ray /task/cpu_profile (format=speedscope)",
             "nonblocking": "reference: py-spy record --nonblocking, direct"}
    wall, wall_cells = measure_line(results, lambda r: r.took_s)
    own, own_cells = measure_line(results, lambda r: r.own_s)
    print(f"\n== slowdown of a CPU-bound task ({reps} x leaf(20000), pure Python) on the worker node while profiled "
          f"at {DEFAULT_RATE_HZ} Hz, {rounds} runs each, interleaved; profiles of {duration_s} s start {SETTLE_S:g} s "
          f"before the run")
    print(f"{'':<48} {'wall clock':^27}   {'wall less CPU wait':^27}")
    group = f"{'median':>8} {'min-max':>9} {'slowdown':>8}"
    print(f"{'variant':<48} {group}   {group}   {'leaf samples/s':>14}")
    for i, (variant, runs) in enumerate(results.items()):
        hz = "-" if variant == "none" else f"{statistics.median(r.sampled_hz() for r in runs):.0f}"
        print(f"{names[variant]:<48} {wall_cells[i]}   {own_cells[i]}   {hz:>14}")
    for label, xs in (("wall clock", [r.took_s for r in results["none"]]), ("wall less CPU wait", [r.own_s for r in results["none"]])):
        print(f"unprofiled runs' spread, {label}: (max-min)/median {100 * (max(xs) - min(xs)) / statistics.median(xs):.0f} %")
    waited = statistics.median(r.waited_s / r.took_s for rs in results.values() for r in rs)
    print(f"median share of a run spent waiting for a CPU (other processes' load): {100 * waited:.0f} %")
    for label, slow in (("wall clock", wall), ("wall less CPU wait", own)):
        ratio = (f"{slow['ray'] / slow['rayscope']:.1f}x" if slow["rayscope"] > 0.005
                 else "n/a (Rayscope's slowdown is under 0.5 %)")
        met = "met" if slow["rayscope"] < TARGET_SLOWDOWN else "NOT met"
        print(f"{label}: Rayscope {100 * slow['rayscope']:+.1f} %, Ray {100 * slow['ray']:+.1f} %, ratio of slowdowns "
              f"(Ray / Rayscope) {ratio}; target < {100 * TARGET_SLOWDOWN:.0f} % at the default rate: {met}")


def overhead(sides: Sides, driver: Driver, reps: int, rounds: int, work: Path) -> tuple[int, dict[str, list[Run]]]:
    o = Overhead(sides, driver, reps, work)
    warm = [o.run("none").took_s for _ in range(2)]
    # long enough for a run three times the unprofiled one, after the settle time
    o.duration_s = math.ceil(SETTLE_S + 3 * statistics.median(warm) + 1)
    results: dict[str, list[Run]] = {"none": [], "rayscope": [], "ray": [], "nonblocking": []}
    variants = list(results)
    for i in range(rounds):
        for variant in variants[i % len(variants):] + variants[:i % len(variants)]:
            results[variant].append(o.run(variant))
    for variant in variants[1:]:
        low = [r for r in results[variant] if r.sampled_hz() < 0.5 * DEFAULT_RATE_HZ]
        if low:
            print(f"warning: {len(low)} {variant} profile(s) sampled the run at under half the rate "
                  f"({', '.join(f'{r.sampled_hz():.0f}/s' for r in low)}): the profile did not cover it")
    return o.duration_s, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dumps", type=int, default=30, help="stack dumps per side and target")
    parser.add_argument("--rounds", type=int, default=7, help="runs of the workload per variant")
    parser.add_argument("--reps", type=int, default=1500, help="leaf(20000) calls per run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rs-bench-profiling-"))
    with local_cluster(num_cpus=2, ray_dashboard=True, extra_env=RAY_PROFILING_ENV) as cluster:
        os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("RAY_")})
        sides = Sides(cluster)
        driver = start_driver(cluster, work)
        try:
            ids = driver.ids
            wait_for("the spinning task RUNNING at both heads", lambda: sides.running_at_both(ids["spin_task_id"]))
            wait_for("the blocked actor task RUNNING at both heads", lambda: sides.running_at_both(ids["blocked_task_id"]))
            wait_for("the actor ALIVE with its pid at Rayscope's head", lambda: sides.actor_alive(ids["keeper_actor_id"]))
            rows, took_ms = dump_latency(sides, ids, args.dumps)
            driver.stop_file.touch()  # the spinning task would take a core from the workload
            duration_s, results = overhead(sides, driver, args.reps, args.rounds, work)
        finally:
            driver.proc.kill()
            shutil.rmtree(work, ignore_errors=True)
    print_comparison(f"{args.dumps} stack dumps per side and target, through the head, target on the worker node of 2",
                     rows)
    print(f"(Rayscope's py-spy on the node: p50 {statistics.median(took_ms):.0f} ms of that)")
    print_overhead(args.reps, args.rounds, duration_s, results)


if __name__ == "__main__":
    main()
