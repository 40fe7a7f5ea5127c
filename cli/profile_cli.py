"""`rayscope stack`, `rayscope profile` and `rayscope profiles`: live stack dumps, the cluster-wide stack
summary, CPU and memory profiles, over the head's API (dashboard/api/profiling.py).

Text output reads like `py-spy dump` (which Ray users know from `ray stack`): per thread a header, then
the frames innermost first as `function (file:line)`; `--json` prints the API's models as they are.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rayscope.cli.client import HeadClient, resolve_target
from rayscope.cli.format import Column, human_time, render_table, terminal_width
from rayscope.cli.state_cli import _common_options, _guard
from rayscope.common.api_model import Page
from rayscope.common.atomic_file import write_atomic
from rayscope.dashboard import profiling_models as pm

CLIENT_HEADERS = {"x-rayscope-client": "rayscope-cli"}
POLL_S = 0.5


def _target(args: argparse.Namespace) -> dict[str, Any]:
    """The API's Target from --task/--attempt/--actor/--worker/--pid/--node (checked by the head's model too)."""
    body = {"task_id": args.task, "attempt": args.attempt, "actor_id": args.actor, "worker_id": args.worker,
            "pid": args.pid, "node_id": args.node}
    return {k: v for k, v in body.items() if v is not None}


def _target_line(t: pm.ResolvedTarget) -> str:
    what = [f"pid {t.pid} on node {t.node_id[:12]} ({t.node_ip or '?'})"]
    if t.name:
        what.append(t.name)
    if t.task_id:
        what.append(f"task {t.task_id}" + (f" attempt {t.attempt}" if t.attempt is not None else ""))
    if t.actor_id:
        what.append(f"actor {t.actor_id}")
    return ", ".join(what)


def frame_lines(frames: list[pm.StackFrame], indent: str = "    ") -> list[str]:
    out = []
    for f in frames:
        out.append(f"{indent}{f.function} ({f.file}:{f.line})")
        for k, v in (f.locals or {}).items():
            out.append(f"{indent}    {k} = {v}")
    return out


def dump_text(d: pm.StackDump) -> str:
    out = [f"Process {_target_line(d.target)}", f"by {d.method} in {d.took_ms:.0f} ms (round trip {d.round_trip_ms:.0f} ms)"]
    if d.warning:
        out.append(f"warning: {d.warning}")
    for t in d.threads:
        state = ("active" if t.active else "idle") + ("+gil" if t.owns_gil else "")
        out.append(f"\nThread {t.thread_id:#x} ({state}): \"{t.name or ''}\"")
        out += frame_lines(t.frames)
    return "\n".join(out)


def summary_text(s: pm.StackSummary) -> str:
    scope = f"job {s.job_id}" if s.job_id else "the cluster"
    out = [f"{s.dumped} of {s.workers} busy workers of {scope} dumped in {s.took_ms:.0f} ms; {len(s.groups)} distinct stacks"]
    for g in s.groups:
        out.append(f"\n{g.count} worker{'s' if g.count != 1 else ''} in {g.headline}")
        out += frame_lines(g.frames)
        pids = ", ".join(f"{t.node_ip or t.node_id[:8]}:{t.pid}" for t in g.targets[:10])
        out.append(f"    ({pids}{', ...' if len(g.targets) > 10 else ''})")
    for f in s.failures:
        out.append(f"\nnot dumped: {_target_line(f.target)}: {f.error}")
    return "\n".join(out)


def _print_json(model: Any) -> None:
    sys.stdout.write(json.dumps(model.model_dump(mode="json")) + "\n")


@_guard
def cmd_stack(args: argparse.Namespace) -> int:
    """One process's stack now, or (--summary) every busy worker of a job or the cluster, grouped."""
    target = resolve_target(args.address, args.token, args.tls_ca)
    with HeadClient(target, timeout=args.timeout) as client:
        if args.summary:
            body = {"job_id": args.job, "include_idle": args.include_idle}
            s = client.parse("/profiling/stack-summary", pm.StackSummary,
                             client.post_json("/profiling/stack-summary", body, headers=CLIENT_HEADERS))
            _print_json(s) if args.json else print(summary_text(s))
            return 0
        if args.job:
            print("error: --job goes with --summary (one process: --task, --actor, --worker or --pid/--node)", file=sys.stderr)
            return 2
        body = {**_target(args), "locals": args.locals, "native": args.native}
        d = client.parse("/profiling/stacks", pm.StackDump, client.post_json("/profiling/stacks", body, headers=CLIENT_HEADERS))
    _print_json(d) if args.json else print(dump_text(d))
    return 0


def profile_text(p: pm.ProfileDetail) -> str:
    out = [f"{p.kind} profile {p.profile_id} of {_target_line(p.target)}: {p.status}"
           + (f", {p.samples} samples" if p.samples is not None and p.kind == "cpu" else "")]
    if p.error:
        out.append(f"error: {p.error}")
    if p.warning:
        out.append(f"warning: {p.warning}")
    if p.top_functions:
        out.append(render_table(_TOP_COLUMNS, p.top_functions, terminal_width()))
    if p.top_allocations:
        out.append(f"{p.total_bytes or 0:,} bytes allocated over {p.duration_s:g} s")
        out.append(render_table(_ALLOC_COLUMNS, p.top_allocations, terminal_width()))
    return "\n".join(out)


_TOP_COLUMNS = (Column("SELF%", lambda f: f"{f.self_share * 100:.1f}", priority=0),
                Column("TOTAL%", lambda f: f"{f.total_share * 100:.1f}", priority=1),
                Column("FUNCTION", lambda f: f.function, priority=0, align_right=False),
                Column("LOCATION", lambda f: f"{f.file}:{f.line}", priority=2, shrink=True, align_right=False))
_ALLOC_COLUMNS = (Column("BYTES", lambda a: f"{a.size:,}", priority=0), Column("COUNT", lambda a: a.count, priority=1),
                  Column("FUNCTION", lambda a: a.function, priority=0, align_right=False),
                  Column("LOCATION", lambda a: f"{a.file}:{a.line}", priority=2, shrink=True, align_right=False))


@_guard
def cmd_profile(args: argparse.Namespace) -> int:
    """Record a CPU (py-spy) or memory (memray) profile, wait for it, print its top entries; --out FILE
    saves the speedscope document (open it at /speedscope/ of the web UI, or speedscope.app)."""
    target = resolve_target(args.address, args.token, args.tls_ca)
    kind = "memory" if args.memory else "cpu"
    body = {**_target(args), "kind": kind, "duration_s": args.duration, "rate_hz": args.rate, "idle": not args.no_idle,
            "native": args.native}
    with HeadClient(target, timeout=args.timeout) as client:
        started = client.parse("/profiling/profiles", pm.Profile,
                               client.post_json("/profiling/profiles", {k: v for k, v in body.items() if v is not None},
                                                headers=CLIENT_HEADERS))
        path = f"/profiling/profiles/{started.profile_id}"
        print(f"{kind} profile {started.profile_id} of {_target_line(started.target)} for {started.duration_s:g} s ...",
              file=sys.stderr)
        p = client.get(path, pm.ProfileDetail)
        while p.status == "running":
            time.sleep(POLL_S)
            p = client.get(path, pm.ProfileDetail)
        if p.status == "done" and args.out:
            write_atomic(Path(args.out), json.dumps(client.get_json(path + "/speedscope.json")))
            print(f"wrote {args.out}", file=sys.stderr)
    _print_json(p) if args.json else print(profile_text(p))
    return 0 if p.status == "done" else 1


_LIST_COLUMNS = (Column("PROFILE_ID", lambda p: p.profile_id, priority=0, align_right=False),
                 Column("KIND", lambda p: p.kind, priority=0, align_right=False),
                 Column("STATUS", lambda p: p.status, priority=0, align_right=False),
                 Column("REQUESTED", lambda p: human_time(p.requested_at), priority=2, align_right=False),
                 Column("DURATION_S", lambda p: f"{p.duration_s:g}", priority=3),
                 Column("TARGET", lambda p: _target_line(p.target), priority=1, shrink=True, align_right=False))


@_guard
def cmd_profiles(args: argparse.Namespace) -> int:
    """The stored profiles, newest first (history mode too)."""
    target = resolve_target(args.address, args.token, args.tls_ca)
    with HeadClient(target, timeout=args.timeout) as client:
        page = client.get("/profiling/profiles", Page[pm.Profile], params=[("limit", str(args.limit))])
    if args.json:
        sys.stdout.write(json.dumps([p.model_dump(mode="json") for p in page.rows]) + "\n")
    elif not page.rows:
        print("No profiles yet: `rayscope profile --task ID` records one.")
    else:
        print(render_table(_LIST_COLUMNS, page.rows, terminal_width()))
    return 0


def _target_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to look at (one of)")
    g.add_argument("--task", help="a running task's id (its latest attempt, or --attempt)")
    g.add_argument("--attempt", type=int, help="with --task")
    g.add_argument("--actor", help="a live actor's id")
    g.add_argument("--worker", help="a worker's id")
    g.add_argument("--pid", type=int, help="a process id, with --node")
    g.add_argument("--node", help="with --pid: node id (or a unique prefix) or the node's IP")
    p.add_argument("--native", action="store_true", help="include native (C/C++) frames")
    p.add_argument("--json", action="store_true", help="print the API's JSON")


def register(subparsers: Any) -> None:
    """Add `stack`, `profile` and `profiles` (called by cli/main.py)."""
    st = subparsers.add_parser("stack", parents=[_common_options()],
                               help="stack dump of a task, actor, worker or process now; --summary: grouped over busy workers")
    _target_options(st)
    st.add_argument("--locals", action="store_true", help="include each frame's arguments and locals")
    st.add_argument("--summary", action="store_true", help="dump every busy worker (of --job, or the cluster), grouped")
    st.add_argument("--job", help="with --summary: only this job's workers")
    st.add_argument("--include-idle", action="store_true", help="with --summary: also workers with nothing running")
    st.set_defaults(func=cmd_stack)
    pr = subparsers.add_parser("profile", parents=[_common_options()],
                               help="CPU flame graph (py-spy) or memory profile (memray) of a task, actor, worker or process")
    _target_options(pr)
    pr.add_argument("--duration", type=float, help=f"seconds (cpu default {pm.CPU_DEFAULT_S:g}, memory "
                                                   f"{pm.MEMORY_DEFAULT_S:g}, max {pm.MAX_DURATION_S:g})")
    pr.add_argument("--memory", action="store_true", help="a memory profile (memray) instead of CPU")
    pr.add_argument("--rate", type=int, help=f"CPU samples per second (default {pm.DEFAULT_RATE_HZ})")
    pr.add_argument("--no-idle", action="store_true", help="leave out idle (blocked) frames")
    pr.add_argument("--out", help="write the speedscope JSON document to this file")
    pr.set_defaults(func=cmd_profile)
    ls = subparsers.add_parser("profiles", parents=[_common_options()], help="list recorded profiles, newest first")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(func=cmd_profiles)

