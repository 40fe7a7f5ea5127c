"""Starting and stopping Ray nodes together with Rayscope's head service and agents.

``start_head`` = ``ray start --head`` (export API on) + head service + agent, published
in Ray's KV. ``start_worker`` = ``ray start --address`` + agent shipping to that head.
Everything started is recorded in state.json *as soon as it exists*, so ``stop_all``
(and cleanup after a failed start) stops exactly those processes and nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Mapping, Sequence

from rayscope.runtime import procs, session
from rayscope.runtime.agent_link import AgentLink, link_path, read_link
from rayscope.runtime.auth_token import (
    TokenError,
    TokenSource,
    ensure_ray_token,
    ray_auth_enabled,
    resolve_token,
    token_file_for,
)
from rayscope.runtime.node_identity import NodeNotFound, discover
from rayscope.runtime.ports import free_ports, with_free_ports
from rayscope.runtime.ray_kv import HeadAddress, publish_head, read_head
from rayscope.runtime.ray_settings import POST_MORTEM_ENV, option_value, ray_start_env, with_export_system_config
from rayscope.runtime.reach import unreachable_reason
from rayscope.runtime.state import (
    AgentRecord,
    HeadServiceRecord,
    NodeRecord,
    ProcessRecord,
    load_state,
    locked_state,
)

__all__ = [
    "NodeError", "StartOptions", "NodeStatus", "agent_link", "block_until_gone", "head_auth_env", "start_head", "start_worker", "stop_all",
    "stop_node", "status",
]

DEFAULT_TEMP_DIR = "/tmp/ray"


class NodeError(RuntimeError):
    """A start or stop step failed; the message is one line for the CLI."""


@dataclass
class StartOptions:
    """Rayscope's own knobs for a start (everything else goes to ``ray start``)."""

    home: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = sys.executable
    host: str = "127.0.0.1"  # where the head's HTTP API / web UI binds
    grpc_host: str | None = None  # where the head's ingest binds; None = the head node's Ray IP
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0  # the agent's /metrics port (0: a free one; fix it for Kubernetes pod monitors)
    db_path: Path | None = None
    head_service: str | None = None  # worker fallback: the head's gRPC HOST:PORT
    head_module: str = "rayscope.dashboard"  # `python -m` targets, per docs/architecture.md
    agent_module: str = "rayscope.agent"
    timeout_s: float = 120.0
    link_timeout_s: float = 15.0  # how long a new agent may take to be acknowledged by the head
    publish_wait_s: float = 20.0  # how long a joining host waits for the head to publish its address
    debug_post_mortem: bool = False  # uncaught task errors pause in the debugger (every job)
    token_auth: bool = True  # head: turn Ray's token auth on (generating Ray's token if there is none)
    tls_cert: Path | None = None  # head: serve ingest + API over TLS with this certificate ...
    tls_key: Path | None = None  # ... and key
    tls_ca: Path | None = None  # agents (and this host's CLI) verify the head with it; head default: tls_cert
    alertmanager_url: str | None = None  # head: also post its alerts to this Alertmanager (docs/alerts.md)

    def agent_ca(self) -> Path | None:
        """A self-signed head certificate is its own CA."""
        return self.tls_ca or self.tls_cert


@dataclass
class NodeStatus:
    record: NodeRecord
    ray_alive: int
    ray_total: int
    head_service_alive: bool | None
    agent_alive: bool | None
    link: AgentLink | None  # the agent's own account of its link to the head (None: no report)


# ------------------------------------------------------------------ helpers


def _ray_cli(python: str) -> list[str]:
    return [python, "-m", "ray.scripts.scripts"]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _spawn(cmd: list[str], log_path: Path, env: Mapping[str, str]) -> subprocess.Popen:
    """A daemon in its own session, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(env), start_new_session=True,
        )


def _wait_ready(ready: Path, proc: subprocess.Popen, log_path: Path, what: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready.exists():
            try:
                return json.loads(ready.read_text())
            except ValueError:
                pass  # being written; the writer renames atomically, so retry
        if proc.poll() is not None:
            raise NodeError(f"{what} exited with code {proc.returncode}; see {log_path}:\n{_tail(log_path)}")
        time.sleep(0.1)
    raise NodeError(f"{what} did not become ready in {timeout_s:.0f}s; see {log_path}")


def _require_module(module: str) -> None:
    if importlib.util.find_spec(f"{module}.__main__") is None:
        raise NodeError(f"{module} cannot be run (no {module}.__main__); is Rayscope fully installed?")


_WILDCARDS = ("0.0.0.0", "::", "")


def _node_ip(session_dir: Path, ray_args: Sequence[str]) -> str:
    """The IP Ray gave this node (its raylet's --node_ip_address): the interface GCS and the
    other nodes already use, so it is where the head's ingest listens and agents' /metrics too."""
    try:
        return discover(str(session_dir), option_value(ray_args, "node-ip-address"), timeout=10).node_ip
    except NodeNotFound as exc:
        raise NodeError(f"ray start succeeded but its raylet cannot be found: {exc}") from None


def _dialable(host: str, node_ip: str) -> str:
    """An address other hosts can dial for a listener bound to ``host`` (never a wildcard)."""
    host = node_ip if host in _WILDCARDS else host
    return f"[{host}]" if ":" in host else host


def _temp_dir(ray_args: Sequence[str], home: Path, role: str) -> tuple[list[str], Path]:
    """The node's --temp-dir: the user's, else Ray's default, else (2nd node here) a new one."""
    given = option_value(ray_args, "temp-dir")
    if given:
        return list(ray_args), Path(given)
    used = {n.temp_dir for n in load_state(home).nodes}
    if role == "head" and DEFAULT_TEMP_DIR not in used:
        chosen = Path(DEFAULT_TEMP_DIR)
    elif role == "worker" and not used:
        chosen = Path(DEFAULT_TEMP_DIR)
    else:
        # Ray's socket paths must stay under 107 characters: keep it short.
        chosen = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    return list(ray_args) + [f"--temp-dir={chosen}"], chosen


def _run_ray_start(cmd: list[str], env: Mapping[str, str], log_path: Path, timeout_s: float) -> int:
    """Run ``ray start`` in a new process group; returns that group id."""
    proc = _spawn(cmd, log_path, env)
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        procs.terminate(procs.group_members(proc.pid), grace_s=3)
        raise NodeError(f"ray start did not finish in {timeout_s:.0f}s; see {log_path}") from None
    if rc != 0:
        procs.terminate(procs.group_members(proc.pid), grace_s=3)
        raise NodeError(f"ray start failed (exit {rc}); see {log_path}:\n{_tail(log_path)}")
    return proc.pid


def _record_node(home: Path, node: NodeRecord) -> None:
    with locked_state(home) as state:
        state.nodes = [n for n in state.nodes if n.temp_dir != node.temp_dir] + [node]


def _start_ray(role: Literal["head", "worker"], base_cmd: list[str], ray_args: list[str], opts: StartOptions,
               env: Mapping[str, str]) -> NodeRecord:
    ray_args, temp_dir = _temp_dir(ray_args, opts.home, role)
    started = time.time()
    log_path = opts.home / "logs" / f"ray-start-{role}-{int(started)}-{os.getpid()}.log"
    pgid = _run_ray_start(base_cmd + ray_args, env, log_path, opts.timeout_s)
    members = procs.group_members(pgid, not_before=started)
    try:
        session_dir = session.session_dir_for_temp_dir(temp_dir)
        gcs_address = (temp_dir / "ray_current_cluster").read_text().strip()
    except (OSError, session.SessionError) as exc:
        procs.terminate(members, grace_s=3)
        raise NodeError(f"ray start succeeded but its session is not where expected: {exc}") from None
    ids = session.node_ids(session_dir)
    token = resolve_token(env, opts.home, create=(role == "head"))
    node = NodeRecord(
        role=role, gcs_address=gcs_address, temp_dir=str(temp_dir), session_dir=str(session_dir),
        node_id=ids[0] if len(ids) == 1 else "", ray_pgid=pgid, ray_processes=members,
        token_file=str(token_file_for(token, opts.home)), ray_token_auth=ray_auth_enabled(env), started_at=started,
    )
    _record_node(opts.home, node)
    return node


def _service_env(opts: StartOptions) -> dict[str, str]:
    """Head service and agent talk to Ray like a driver does (token mode explicit)."""
    return {**ray_start_env(opts.env, joining=True), "PYTHONUNBUFFERED": "1"}


def _start_agent(node: NodeRecord, grpc_address: str, node_ip: str, opts: StartOptions) -> AgentRecord:
    """The node's agent, returned once the head has acknowledged its stream (else NodeError)."""
    sess = Path(node.session_dir)
    session.rayscope_dir(sess).mkdir(parents=True, exist_ok=True)
    ready = session.rayscope_dir(sess) / "agent.ready.json"
    ready.unlink(missing_ok=True)
    link_path(sess).unlink(missing_ok=True)
    log_path = session.logs_dir(sess) / "rayscope-agent.log"
    cmd = [
        opts.python, "-m", opts.agent_module, "--session-dir", str(sess), "--head", grpc_address,
        "--token-file", node.token_file, "--node-ip", node_ip, "--metrics-port", str(opts.metrics_port), "--ready-file", str(ready),
    ]
    if opts.agent_ca() is not None:
        cmd += ["--tls-ca", str(opts.agent_ca())]
    proc = _spawn(cmd, log_path, _service_env(opts))
    agent = AgentRecord(pid=proc.pid, create_time=procs.record(proc.pid).create_time, log_path=str(log_path))
    _update(opts.home, node, agent=agent)
    info = _wait_ready(ready, proc, log_path, "rayscope agent", opts.timeout_s)
    agent = agent.model_copy(update={"metrics_url": info.get("metrics_url", ""), "node_id": info.get("node_id", "")})
    _update(opts.home, node, agent=agent)
    _wait_acknowledged(link_path(sess), proc, grpc_address, log_path, opts.link_timeout_s)
    return agent


def _wait_acknowledged(path: Path, proc: subprocess.Popen, head: str, log_path: Path, timeout_s: float) -> AgentLink:
    """Until the agent's link file says the head accepted its stream; a rejected token fails at once."""
    deadline = time.monotonic() + timeout_s
    link: AgentLink | None = None
    while time.monotonic() < deadline:
        link = read_link(path)
        if link is not None and link.pid == proc.pid:
            if link.connected:
                return link
            if link.rejected_token:
                raise NodeError(f"the Rayscope head at {head} rejected this host's token: {_token_hint()}")
            if link.last_error.startswith("TLS"):  # a certificate or protocol mismatch: retrying will not help
                raise NodeError(f"the agent could not reach the Rayscope head at {head}: {link.last_error}")
        if proc.poll() is not None:
            raise NodeError(f"rayscope agent exited with code {proc.returncode}; see {log_path}:\n{_tail(log_path)}")
        time.sleep(0.1)
    why = link.last_error if link is not None and link.pid == proc.pid and link.last_error else "no answer"
    raise NodeError(f"the agent could not reach the Rayscope head at {head} within {timeout_s:.0f}s: {why}")


def _token_hint() -> str:
    return ("every host needs the head host's token: copy its token file (Ray's ~/.ray/auth_token, or the file "
            "RAY_AUTH_TOKEN_PATH names) to the same place here")


def _preflight(address: str) -> None:
    """The head's ingest must be dialable before anything starts on this host."""
    reason = unreachable_reason(address)
    if reason is not None:
        raise NodeError(f"cannot reach the Rayscope head at {address}: {reason}")


def _start_head_service(node: NodeRecord, node_ip: str, opts: StartOptions) -> HeadServiceRecord:
    sess = Path(node.session_dir)
    rdir = session.rayscope_dir(sess)
    rdir.mkdir(parents=True, exist_ok=True)
    ready = rdir / "head.ready.json"
    ready.unlink(missing_ok=True)
    db = opts.db_path or rdir / "rayscope.db"
    log_path = session.logs_dir(sess) / "rayscope-head.log"
    # Concrete ports on the command line (never 0), so a restarted head comes back where the
    # agents and clients already look for it.
    grpc_host = opts.grpc_host or node_ip
    http_port = opts.http_port or free_ports(1, opts.host)[0]
    grpc_port = opts.grpc_port or next(p for p in free_ports(2, grpc_host) if p != http_port)
    cmd = [
        opts.python, "-m", opts.head_module, "--db", str(db), "--host", opts.host, "--port", str(http_port),
        "--grpc-host", grpc_host, "--grpc-port", str(grpc_port), "--token-file", node.token_file,
        "--session-name", session.session_name(sess), "--ready-file", str(ready),
    ]
    if opts.tls_cert is not None and opts.tls_key is not None:
        cmd += ["--tls-cert", str(opts.tls_cert), "--tls-key", str(opts.tls_key)]
    if opts.alertmanager_url:
        cmd += ["--alertmanager-url", opts.alertmanager_url]
    proc = _spawn(cmd, log_path, _service_env(opts))
    ca = opts.agent_ca()
    svc = HeadServiceRecord(
        pid=proc.pid, create_time=procs.record(proc.pid).create_time, http_url="", grpc_address="",
        db_path=str(db), log_path=str(log_path), tls_ca=str(ca) if ca is not None else "",
    )
    _update(opts.home, node, head_service=svc)
    info = _wait_ready(ready, proc, log_path, "rayscope head service", opts.timeout_s)
    # What the head reports may be a wildcard bind: record what other hosts can dial.
    svc = svc.model_copy(update={
        "http_url": (f"{info['http_url'].split('://')[0]}://{_dialable(opts.host, node_ip)}:{http_port}"
                     if opts.host in _WILDCARDS else info["http_url"]),
        "grpc_address": f"{_dialable(grpc_host, node_ip)}:{grpc_port}",
    })
    _update(opts.home, node, head_service=svc)
    return svc


def _update(home: Path, node: NodeRecord, **fields: object) -> None:
    """Set fields on the recorded node (and on ``node``) under the state lock."""
    for key, value in fields.items():
        setattr(node, key, value)
    with locked_state(home) as state:
        for i, rec in enumerate(state.nodes):
            if rec.temp_dir == node.temp_dir:
                state.nodes[i] = node


def _with_post_mortem(env: dict[str, str], opts: StartOptions) -> dict[str, str]:
    return {**env, **POST_MORTEM_ENV} if opts.debug_post_mortem else env


# ------------------------------------------------------------------ public API


def head_auth_env(env: Mapping[str, str], token_auth: bool) -> tuple[dict[str, str], TokenSource | None, bool]:
    """The head's environment with Ray's token auth on, unless the user opted out.

    Ray 2.60 starts a cluster without auth unless a token exists or RAY_AUTH_MODE=token (and
    warns that anyone with network access can run code). Rayscope turns it on: it makes Ray's
    token (``ray get-auth-token --generate``'s format and place) if there is none, and says
    RAY_AUTH_MODE=token. Opt-outs: ``--no-token-auth`` or Ray's own RAY_AUTH_MODE=disabled.
    Returns (env, Ray's token or None when auth is off, whether the token was created now).
    """
    out = dict(env)
    mode = out.get("RAY_AUTH_MODE", "").lower()
    if not token_auth or mode not in ("", "token"):
        out["RAY_AUTH_MODE"] = "disabled" if not token_auth else out["RAY_AUTH_MODE"]
        return out, None, False
    try:
        token, created = ensure_ray_token(out)
    except TokenError as exc:
        raise NodeError(str(exc)) from None
    out["RAY_AUTH_MODE"] = "token"
    return out, token, created


def start_head(ray_args: Sequence[str], opts: StartOptions) -> NodeRecord:
    """Ray head node + head service + agent; cleans up everything on failure."""
    _require_module(opts.head_module)
    _require_module(opts.agent_module)
    auth_env, _, _ = head_auth_env(opts.env, opts.token_auth)
    opts = replace(opts, env=auth_env)
    env = _with_post_mortem(ray_start_env(opts.env, joining=False), opts)
    args = with_free_ports(with_export_system_config(ray_args))
    node = _start_ray("head", _ray_cli(opts.python) + ["start", "--head"], args, opts, env)
    try:
        node_ip = _node_ip(Path(node.session_dir), args)
        svc = _start_head_service(node, node_ip, opts)
        publish_head(node.gcs_address, HeadAddress(svc.http_url, svc.grpc_address), env)
        _start_agent(node, svc.grpc_address, node_ip, opts)
    except BaseException:
        stop_node(opts.home, node)
        raise
    return node


def start_worker(address: str, ray_args: Sequence[str], opts: StartOptions) -> NodeRecord:
    """Ray worker node joining ``address`` + an agent shipping to the published head."""
    _require_module(opts.agent_module)
    env = _with_post_mortem(ray_start_env(opts.env, joining=True), opts)
    try:
        resolve_token(env, opts.home, create=False)
    except TokenError as exc:
        raise NodeError(f"this host has no token for the cluster ({exc}); {_token_hint()}") from None
    grpc_address = opts.head_service
    if grpc_address is None:
        head = _published_head(address, env, opts.publish_wait_s)
        if head.http_url.startswith("https://") and opts.agent_ca() is None:
            raise NodeError(f"the Rayscope head at {head.grpc_address} serves TLS: pass --rayscope-tls-ca FILE "
                            "(its certificate, or the CA that signed it)")
        grpc_address = head.grpc_address
    _preflight(grpc_address)
    args = with_free_ports(ray_args)
    node = _start_ray("worker", _ray_cli(opts.python) + ["start", f"--address={address}"], args, opts, env)
    try:
        _start_agent(node, grpc_address, _node_ip(Path(node.session_dir), args), opts)
    except BaseException:
        stop_node(opts.home, node)
        raise
    return node


def _published_head(address: str, env: Mapping[str, str], wait_s: float) -> HeadAddress:
    """The head's addresses from Ray's KV. GCS answers before `rayscope start --head` has published
    (its head service starts after Ray's), and hosts that start together (a KubeRay worker pod waits
    only for GCS) would fail for nothing: wait a little for the key."""
    deadline = time.monotonic() + wait_s
    while True:
        head = read_head(address, env)
        if head is not None:
            return head
        if time.monotonic() >= deadline:
            raise NodeError(
                f"no Rayscope head is published in the Ray cluster at {address} (waited {wait_s:.0f}s); "
                "start the head with `rayscope start --head` or pass --head-service HOST:PORT"
            )
        time.sleep(1.0)


def _ray_records(node: NodeRecord) -> list[ProcessRecord]:
    """Recorded Ray daemons, whatever joined their group since, and their descendants
    (the workers the raylet forked, which run in process groups of their own)."""
    found = list(node.ray_processes) + procs.group_members(node.ray_pgid, node.started_at)
    found += procs.descendants(found)
    unique: dict[tuple[int, float], ProcessRecord] = {}
    for rec in found:
        unique.setdefault((rec.pid, rec.create_time), rec)
    return list(unique.values())


def _service_records(node: NodeRecord) -> list[ProcessRecord]:
    out = []
    for svc in (node.agent, node.head_service):
        if svc is not None:
            out.append(ProcessRecord(pid=svc.pid, create_time=svc.create_time))
    return out


def stop_node(home: Path, node: NodeRecord, grace_s: float = 5.0) -> list[ProcessRecord]:
    """Stop one node's services and Ray processes; drop it from state."""
    left = procs.terminate(_service_records(node), grace_s)
    left += procs.terminate(_ray_records(node), grace_s)
    with locked_state(home) as state:
        state.nodes = [n for n in state.nodes if n.temp_dir != node.temp_dir]
    return left


def block_until_gone(home: Path, node: NodeRecord, poll_s: float = 1.0) -> str:
    """``ray start --block`` for a Rayscope node: return when one of the node's recorded Ray daemons
    exits (then stop the rest, as Ray does), or on SIGTERM/SIGINT (KeyboardInterrupt, stops it all).

    Returns why it stopped. Container entrypoints (KubeRay appends --block) rely on this shape.
    """
    daemons = [r for r in node.ray_processes if procs.is_running(r)]
    try:
        while True:
            gone = next((r for r in daemons if not procs.is_running(r)), None)
            if gone is not None:
                reason = f"Ray process {gone.name or gone.pid} (pid {gone.pid}) exited"
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        reason = "interrupted"
    stop_node(home, node)
    return reason


def stop_all(home: Path, grace_s: float = 5.0) -> tuple[list[NodeRecord], list[ProcessRecord]]:
    """Agents, then head services, then the Ray processes of every node.

    Returns the nodes stopped and any process that survived SIGKILL.
    """
    with locked_state(home) as state:
        nodes = list(state.nodes)
        services = [r for n in nodes if n.agent for r in _service_records(n) if r.pid == n.agent.pid]
        services += [r for n in nodes if n.head_service for r in _service_records(n) if r.pid == n.head_service.pid]
        left = procs.terminate(services, grace_s)
        # One batch (worker nodes signalled first): gcs_server and monitor.py sit out SIGTERM
        # for the whole grace period, so waiting per node would only add up.
        ordered = sorted(nodes, key=lambda n: n.role == "head")
        left += procs.terminate([r for n in ordered for r in _ray_records(n)], grace_s)
        state.nodes = []
    return nodes, left


def agent_link(node: NodeRecord) -> AgentLink | None:
    link = read_link(link_path(node.session_dir)) if node.agent is not None else None
    return link if link is not None and node.agent is not None and link.pid == node.agent.pid else None


def status(home: Path) -> list[NodeStatus]:
    out = []
    for node in load_state(home).nodes:
        rays = _ray_records(node)
        out.append(
            NodeStatus(
                record=node,
                ray_alive=sum(procs.is_running(r) for r in rays),
                ray_total=len(rays),
                head_service_alive=None if node.head_service is None else procs.is_running(
                    ProcessRecord(pid=node.head_service.pid, create_time=node.head_service.create_time)),
                agent_alive=None if node.agent is None else procs.is_running(
                    ProcessRecord(pid=node.agent.pid, create_time=node.agent.create_time)),
                link=agent_link(node),
            )
        )
    return out
