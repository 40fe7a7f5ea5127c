"""``rayscope start|stop|status|demo|dashboard|agent``: starting and stopping things.

The work is in runtime/; this module parses arguments and prints. Errors are one line
on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rayscope.dashboard.alerting.alertmanager import BadAlertmanagerUrl, check_url
from rayscope.profiling import capabilities
from rayscope.runtime import node as nodes
from rayscope.runtime.agent_link import describe_link
from rayscope.runtime.auth_token import TokenError, rayscope_home, read_token_file, resolve_token, token_file_for
from rayscope.runtime.ray_kv import KvError
from rayscope.runtime.ray_settings import RaySettingsError
from rayscope.runtime.session import SessionError
from rayscope.runtime.state import StateError

# Every failure runtime/ reports with a one-line message.
RUNTIME_ERRORS = (nodes.NodeError, TokenError, KvError, RaySettingsError, SessionError, StateError)

__all__ = ["register"]


def _err(message: str) -> int:
    print(f"rayscope: error: {message}", file=sys.stderr)
    return 1


def _opts(args: argparse.Namespace) -> nodes.StartOptions:
    return nodes.StartOptions(
        home=rayscope_home(),
        host=args.rayscope_host,
        grpc_host=args.rayscope_grpc_host,
        http_port=args.rayscope_port,
        grpc_port=args.rayscope_grpc_port,
        metrics_port=args.rayscope_metrics_port,
        db_path=Path(args.rayscope_db) if args.rayscope_db else None,
        head_service=args.head_service,
        debug_post_mortem=args.debug_post_mortem,
        token_auth=not args.no_token_auth,
        tls_cert=_abs(args.rayscope_tls_cert),
        tls_key=_abs(args.rayscope_tls_key),
        tls_ca=_abs(args.rayscope_tls_ca),
        alertmanager_url=args.alertmanager_url,
    )


def _abs(path: str | None) -> Path | None:
    """Files handed to daemons must not depend on this shell's working directory."""
    return Path(path).expanduser().resolve() if path else None


def cmd_start(args: argparse.Namespace) -> int:
    if bool(args.head) == bool(args.address):
        return _err("give exactly one of --head or --address HEAD_IP:PORT")
    if bool(args.rayscope_tls_cert) != bool(args.rayscope_tls_key):
        return _err("--rayscope-tls-cert and --rayscope-tls-key go together: give both (TLS) or neither")
    if args.alertmanager_url and not args.head:
        return _err("--alertmanager-url is for the head (`rayscope start --head`): its evaluator sends the alerts")
    if args.alertmanager_url:
        try:
            args.alertmanager_url = check_url(args.alertmanager_url)
        except BadAlertmanagerUrl as exc:
            return _err(str(exc))
    if args.rayscope_tls_cert and not args.head:
        return _err("--rayscope-tls-cert/--rayscope-tls-key are for the head; other hosts take --rayscope-tls-ca")
    # `ray start --block` would block inside our start; like Ray, block after everything is up.
    block = "--block" in args.forward
    ray_args = [a for a in args.forward if a != "--block"]
    try:
        if args.head:
            node = nodes.start_head(ray_args, _opts(args))
        else:
            node = nodes.start_worker(args.address, ray_args, _opts(args))
    except RUNTIME_ERRORS as exc:
        return _err(str(exc))
    _print_node(node)
    print(f"  link     {describe_link(nodes.agent_link(node))}")
    if node.head_service is not None:
        _print_next_steps(node)
    if not block:
        return 0
    print("--block: running until a Ray process of this node exits or this command is stopped", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    reason = nodes.block_until_gone(rayscope_home(), node)
    print(f"stopped: {reason}", flush=True)
    return 0 if reason == "interrupted" else 1


def _print_next_steps(node: Any) -> None:
    """What the other hosts, drivers and a laptop need: the whole procedure in a few lines."""
    gcs = node.gcs_address
    if node.ray_token_auth:
        print(f"Ray token auth is on; the token is {node.token_file} (the API takes it as 'Authorization: Bearer <token>').")
        print(f"Every other host: copy that file to ~/.ray/auth_token there, then  rayscope start --address {gcs}")
        print("Drivers: `ray.init()` on a node of this cluster needs nothing more; a driver that names the address "
              f"(ray.init(\"{gcs}\") or RAY_ADDRESS) needs RAY_AUTH_MODE=token in its environment.")
    else:
        print(f"Ray token auth is OFF (anyone who can reach {gcs} can run code). Rayscope's token: {node.token_file}")
        print(f"Every other host: copy that file to $RAYSCOPE_HOME/token there, then  rayscope start --address {gcs}")
    if node.head_service.tls_ca:
        print(f"TLS is on: give each other host the CA ({node.head_service.tls_ca}) as --rayscope-tls-ca FILE")
    http = node.head_service.http_url
    if "//127.0.0.1:" in http or "//[::1]:" in http:
        port = http.rsplit(":", 1)[1]
        print(f"The web UI/API listen on this host's 127.0.0.1 only; from a laptop: ssh -L {port}:127.0.0.1:{port} THIS_HOST")


def _print_node(node: Any) -> None:
    print(f"{node.role} node {node.node_id or '?'}  gcs {node.gcs_address}")
    print(f"  session  {node.session_dir}")
    if node.head_service is not None:
        print(f"  head     {node.head_service.http_url}  ingest {node.head_service.grpc_address}  (pid {node.head_service.pid})")
        try:  # the link signs the browser in; the #fragment never reaches the server's logs
            print(f"  web UI   {node.head_service.http_url}/#token={read_token_file(node.token_file)}")
        except OSError:
            pass
    if node.agent is not None:
        print(f"  agent    pid {node.agent.pid}  {node.agent.metrics_url}")
        for line in capabilities.summary_lines(capabilities.probe()):  # what the node's agent will find too
            print(f"  profile  {line}")


def cmd_stop(args: argparse.Namespace) -> int:
    try:
        stopped, left = nodes.stop_all(rayscope_home())
    except RUNTIME_ERRORS as exc:
        return _err(str(exc))
    if not stopped:
        print("nothing to stop (no node started by rayscope on this host)")
        return 0
    for node in stopped:
        print(f"stopped {node.role} node {node.node_id or node.session_dir}")
    if left:
        return _err(f"{len(left)} process(es) survived SIGKILL: {', '.join(str(r.pid) for r in left)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        rows = nodes.status(rayscope_home())
    except RUNTIME_ERRORS as exc:
        return _err(str(exc))
    if not rows:
        print("no node started by rayscope on this host", file=sys.stderr)
        return 1
    for row in rows:
        _print_node(row.record)
        alive = f"  ray      {row.ray_alive}/{row.ray_total} processes alive"
        if row.head_service_alive is not None:
            alive += f"; head service {'up' if row.head_service_alive else 'DOWN'}"
        if row.agent_alive is not None:
            alive += f"; agent {'up' if row.agent_alive else 'DOWN'}"
        print(alive)
        if row.agent_alive:
            print(f"  link     {describe_link(row.link)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rayscope.runtime.demo import run_demo

    try:
        return run_demo(duration_s=args.duration, python=sys.executable)
    except RUNTIME_ERRORS as exc:
        return _err(str(exc))


def cmd_dashboard(args: argparse.Namespace) -> int:
    """History mode: serve an existing DB in the foreground until Ctrl-C."""
    db = Path(args.db)
    if not db.is_file():
        return _err(f"no such database: {db}")
    home = rayscope_home()
    try:
        token_file = token_file_for(resolve_token(home=home), home)
    except TokenError as exc:
        return _err(str(exc))
    ready = Path(tempfile.mkdtemp(prefix="rs-dash-")) / "ready.json"
    cmd = [
        sys.executable, "-m", "rayscope.dashboard", "--db", str(db), "--history", "--host", args.host,
        "--port", str(args.port), "--grpc-port", "0", "--token-file", str(token_file), "--ready-file", str(ready),
    ]
    proc = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C when terminated
    try:
        while not ready.exists():
            if proc.poll() is not None:
                return _err(f"the dashboard exited with code {proc.returncode}")
            time.sleep(0.1)
        print(f"dashboard: {json.loads(ready.read_text())['http_url']}  token file: {token_file}", flush=True)
        # The fragment never reaches the server (nor its logs); the page moves it to sessionStorage.
        print(f"web UI: {json.loads(ready.read_text())['http_url']}/#token={read_token_file(token_file)}", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 0
    finally:
        shutil.rmtree(ready.parent, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_agent(args: argparse.Namespace) -> int:
    """Foreground agent: hand the process over to ``python -m rayscope.agent``."""
    argv = [a for a in args.forward if a != "--"]
    os.execv(sys.executable, [sys.executable, "-m", "rayscope.agent", *argv])
    return 1  # not reached


def register(sub: Any) -> None:
    p = sub.add_parser(
        "start", allow_abbrev=False,
        help="start a Ray node with Rayscope (any `ray start` option is passed through)",
        description="Start a Ray node plus Rayscope: --head also starts the head service. "
        "Options not listed here (--port, --temp-dir, --num-cpus, ...) go to `ray start`.",
    )
    p.add_argument("--head", action="store_true", help="start the head node and the Rayscope head service")
    p.add_argument("--address", help="join the Ray cluster at HEAD_IP:PORT")
    p.add_argument("--head-service", metavar="HOST:PORT", help="the head's ingest address, if not published in Ray")
    p.add_argument("--rayscope-host", default="127.0.0.1",
                   help="interface of the head's web UI and API (default 127.0.0.1; 0.0.0.0 opens them to the network)")
    p.add_argument("--rayscope-grpc-host", default=None,
                   help="interface of the head's ingest, which every host's agent dials (default: the head node's Ray IP)")
    p.add_argument("--no-token-auth", action="store_true",
                   help="start the head without Ray's token auth (default: on, generating ~/.ray/auth_token if missing; "
                        "RAY_AUTH_MODE=disabled does the same)")
    p.add_argument("--rayscope-port", type=int, default=8290, help="head HTTP port (0: a free one; default 8290)")
    p.add_argument("--rayscope-grpc-port", type=int, default=8291, help="head ingest port (0: a free one; default 8291)")
    p.add_argument("--rayscope-metrics-port", type=int, default=0,
                   help="this node's agent /metrics port, on the node's Ray IP (default 0: a free one)")
    p.add_argument("--rayscope-tls-cert", metavar="FILE",
                   help="head: serve the ingest and the API over TLS with this certificate (its subjectAltName must "
                        "name the head node's IP and 127.0.0.1); see docs/architecture.md#tls-optional")
    p.add_argument("--rayscope-tls-key", metavar="FILE", help="head: the certificate's private key")
    p.add_argument("--rayscope-tls-ca", metavar="FILE",
                   help="verify a TLS head with this CA (other hosts: the head's certificate if self-signed)")
    p.add_argument("--rayscope-db", help="head database (default <session>/rayscope/rayscope.db)")
    p.add_argument("--alertmanager-url", metavar="URL",
                   help="head: also post its alerts to this Alertmanager (http(s)://HOST:9093); docs/alerts.md")
    p.add_argument("--debug-post-mortem", action="store_true",
                   help="an uncaught exception in a task pauses its worker in the debugger (this node's workers)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("stop", help="stop everything `rayscope start` started on this host")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("status", help="what `rayscope start` runs on this host, with URLs")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("demo", help="a local 2-node cluster with a sample workload and the dashboard")
    p.add_argument("--duration", type=float, default=None, help="stop after SECONDS (default: until Ctrl-C)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dashboard", help="serve a finished cluster's history from its database")
    p.add_argument("--db", required=True, help="the head database file")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser(
        "agent", add_help=False, help="run a node agent in the foreground (arguments as python -m rayscope.agent)"
    )
    p.set_defaults(func=cmd_agent)
