"""The `ray-debug` command: list paused Ray workers, attach a terminal debugger, forward a port.

Head address and token are found exactly like `rayscope list` finds them (--address/--token,
$RAYSCOPE_ADDRESS/$RAYSCOPE_TOKEN, else this host's `rayscope start` state). Every failure is
one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Callable, Optional, Sequence

from rayscope.cli.client import HeadClient, HeadError, resolve_target
from rayscope.cli.format import Column, human_duration, render_table, short_id, terminal_width
from rayscope.cli.ray_debug import forward as fwd
from rayscope.cli.ray_debug.repl import TerminalDebugger
from rayscope.cli.ray_debug.sessions import (
    NoSession,
    client_identity,
    connect_dap,
    list_sessions,
    path_mapping,
    pick_session,
    session_exists,
    wait_for_session,
)
from rayscope.cli.signals import ctrl_c_interrupts
from rayscope.cli.state_cli import _common_options
from rayscope.dashboard.models import DebugSession
from rayscope.debugger.dap import DapClient, DapError, PathMapping

Handler = Callable[[argparse.Namespace], int]
ATTACH_STOP_TIMEOUT_S = 30.0


def _err(message: str) -> int:
    sys.stderr.write(f"ray-debug: error: {message}\n")
    return 1


def _guard(handler: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (HeadError, DapError) as exc:
            return _err(str(exc))
        except KeyboardInterrupt:
            return 130

    return run


def _client(args: argparse.Namespace) -> HeadClient:
    return HeadClient(resolve_target(args.address, args.token, args.tls_ca), timeout=args.timeout)


# ---------------------------------------------------------------- list


def _where(s: DebugSession) -> str:
    return f"{s.file}:{s.line}" if s.file else ""


def _reason(s: DebugSession) -> str:
    return f"exception: {s.exception}" if s.reason == "exception" and s.exception else s.reason


def _state(s: DebugSession) -> str:
    return f"attached by {s.attached_by}" if s.state == "attached" and s.attached_by else s.state


def _columns(now: float) -> tuple[Column, ...]:
    return (
        Column("SESSION", lambda s: s.session_id, priority=0),
        Column("AGE", lambda s: human_duration(max(0.0, now - s.paused_at)), priority=1, align_right=True),
        Column("JOB", lambda s: s.job_id, priority=3),
        Column("TASK/ACTOR", lambda s: f"actor {short_id(s.actor_id)}" if s.actor_id else short_id(s.task_id, 16),
               priority=4),
        Column("FUNCTION", lambda s: s.function, priority=2, shrink=True),
        Column("FILE:LINE", _where, priority=2, shrink=True),
        Column("NODE", lambda s: s.node_ip or short_id(s.node_id), priority=5),
        Column("REASON", _reason, priority=3, shrink=True),
        Column("STATE", _state, priority=6, shrink=True),
    )


def session_table(sessions: Sequence[DebugSession]) -> str:
    return render_table(_columns(time.time()), sessions, terminal_width())


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        sessions = list_sessions(client, args.job)
    if args.json:
        print("[" + ",".join(s.model_dump_json() for s in sessions) + "]")
    elif not sessions:
        print("No paused sessions. A task's breakpoint() shows up here.")
    else:
        print(session_table(sessions))
    return 0


# ---------------------------------------------------------------- attach


def _choose(client: HeadClient, args: argparse.Namespace) -> DebugSession:
    """The session to attach: the one named, the only paused one, one the user picks, or
    (--wait) the next to pause."""
    sessions = list_sessions(client, args.job)
    if args.session:
        return pick_session(sessions, args.session)
    paused = [s for s in sessions if s.state == "paused"]
    if len(paused) == 1:
        return paused[0]
    if not paused:
        if not args.wait:
            raise NoSession("no paused sessions (pass --wait to wait for the next breakpoint())")
        return wait_for_session(
            client, args.job, args.wait_timeout,
            on_wait=lambda: print("Waiting for a task to hit breakpoint() (Ctrl-C to stop) ...", flush=True),
        )
    if not sys.stdin.isatty():
        raise NoSession(f"{len(paused)} sessions are paused: give an INDEX or SESSION_ID (see `ray-debug list`)")
    while True:  # like `ray debug`: show the table, ask for an index
        print(session_table(sessions))
        answer = input("Enter a session index (Enter refreshes): ").strip()
        if answer:
            return pick_session(sessions, answer)
        sessions = list_sessions(client, args.job)


def _describe(s: DebugSession) -> str:
    who = f"actor {s.actor_id}" if s.actor_id else f"task {s.task_id}"
    return f"session {s.session_id}: {s.function} at {_where(s)} ({who}, job {s.job_id}, node {s.node_ip}, pid {s.pid})"


def _run_debugger(
    dap: DapClient, mapping: Optional[PathMapping], exception: Optional[str] = None,
    still_paused: Callable[[], bool] = lambda: True,
) -> int:
    with dap:
        dap.attach([mapping] if mapping else [], client_id="ray-debug")
        stopped = dap.wait_stopped(ATTACH_STOP_TIMEOUT_S)
        if sys.stdin.isatty():
            import readline  # noqa: F401 - line editing and history for input()
        debugger = TerminalDebugger(dap, stopped, sys.stdout, mapping, exception=exception, still_paused=still_paused)
        return debugger.run()


@_guard
def cmd_attach(args: argparse.Namespace) -> int:
    local_root = os.path.abspath(args.local_root)
    if args.dap_address:  # straight to a debugpy port (e.g. Ray's own debugger), no head
        host, _, port = args.dap_address.rpartition(":")
        if not host or not port.isdigit():
            return _err(f"bad --dap-address {args.dap_address!r}: expected HOST:PORT")
        return _run_debugger(DapClient.tcp(host, int(port), args.timeout), path_mapping(local_root, args.remote_root))
    with _client(args) as client:
        session = _choose(client, args)
        print(f"Attaching to {_describe(session)}", flush=True)
        dap = connect_dap(client, session.session_id, client_identity(), args.timeout)
        mapping = path_mapping(local_root, args.remote_root or session.working_dir)
        return _run_debugger(
            dap, mapping, session.exception if session.reason == "exception" else None,
            lambda: session_exists(client, session.session_id),
        )


# ---------------------------------------------------------------- forward


@_guard
def cmd_forward(args: argparse.Namespace) -> int:
    with _client(args) as client:
        session = pick_session(list_sessions(client), args.session)
        server = fwd.listen_local(args.port)
        port = server.getsockname()[1]
        mapping = path_mapping(args.local_root, session.working_dir)
        config = fwd.AttachConfig(port, os.path.abspath(args.local_root), mapping.remote_root if mapping else None,
                                  session.session_id)
        if args.json:
            print(config.as_json(), flush=True)
        else:
            print(f"Forwarding 127.0.0.1:{port} to {_describe(session)}")
            print(config.text())
            print("Ctrl-C stops forwarding.", flush=True)
        try:
            fwd.forward(client, session, server, args.timeout, lambda m: print(m, file=sys.stderr, flush=True))
        finally:
            server.close()
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ray-debug",
        description="Debug paused Ray tasks and actors through the Rayscope head (breakpoint() in any worker).",
    )
    common = _common_options()
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[common], help="paused sessions (index, age, job, task, where, node)")
    p.add_argument("--job", metavar="JOB_ID", help="only this job's sessions")
    p.add_argument("--json", action="store_true", help="print a JSON array of DebugSession")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("attach", parents=[common], help="a pdb-like debugger on a paused worker")
    p.add_argument("session", nargs="?", metavar="INDEX|SESSION_ID",
                   help="index from `ray-debug list` or a session id (default: the only paused one)")
    p.add_argument("--job", metavar="JOB_ID", help="only consider this job's sessions")
    p.add_argument("--wait", action="store_true", help="wait for a breakpoint() when none is paused")
    p.add_argument("--wait-timeout", type=float, default=None, metavar="S", help="give up waiting after S seconds")
    p.add_argument("--local-root", default=".", metavar="DIR",
                   help="your checkout of the job's code, mapped to the worker's working dir (default: .)")
    p.add_argument("--remote-root", metavar="DIR", help="the worker's code root (default: its working dir)")
    p.add_argument("--dap-address", metavar="HOST:PORT",
                   help="attach straight to a debugpy port (e.g. Ray's own debugger), bypassing the head")
    p.set_defaults(func=cmd_attach)

    p = sub.add_parser("forward", parents=[common], help="a local port for VS Code, nvim-dap or any DAP client")
    p.add_argument("session", metavar="INDEX|SESSION_ID", help="index from `ray-debug list` or a session id")
    p.add_argument("--port", type=int, default=0, help="local port on 127.0.0.1 (default: a free one)")
    p.add_argument("--local-root", default=".", metavar="DIR", help="your checkout (for the printed path mappings)")
    p.add_argument("--json", action="store_true", help="print the port and attach configurations as one JSON line")
    p.set_defaults(func=cmd_forward)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The `ray-debug` console script; the exit status is the command's."""
    args = build_parser().parse_args(argv)
    ctrl_c_interrupts()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
