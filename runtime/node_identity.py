"""Find which Ray node this agent serves, from the session dir alone.

Why the raylet's command line: it carries `--node_id`, `--node_ip_address`,
`--node_manager_port` and a `--raylet_socket_name` inside the session dir, so it pins the
node even when several nodes (each with its own session dir) share one host. `raylet.out`
is the fallback when the process cannot be inspected.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Optional

import psutil


class NodeNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str  # hex
    node_ip: str
    raylet_pid: int
    raylet_port: int  # NodeManager gRPC port
    session_dir: str  # resolved (no session_latest symlink)
    session_name: str
    is_head: bool
    gcs_address: str = ""  # GCS's IP:PORT from the raylet's --gcs-address ("" when not known)
    metrics_export_port: int = 0  # Ray's Prometheus endpoint of this node (raylet's --metrics_export_port; 0: unknown)

    @property
    def ray_metrics_url(self) -> Optional[str]:
        """This node's Ray metrics endpoint (application metrics come from it), None when unknown."""
        return f"http://{self.node_ip}:{self.metrics_export_port}/metrics" if self.metrics_export_port else None

    @property
    def raylet_address(self) -> str:
        return f"{self.node_ip}:{self.raylet_port}"


def _flags(cmdline: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for arg in cmdline:
        if arg.startswith("--") and "=" in arg:
            k, v = arg[2:].split("=", 1)
            out[k.replace("-", "_")] = v
    return out


def _from_process(session_dir: str, node_ip: Optional[str]) -> Optional[NodeIdentity]:
    socket_prefix = os.path.join(session_dir, "sockets") + os.sep
    found: list[NodeIdentity] = []
    for p in psutil.process_iter(["pid", "name"]):
        if not (p.info["name"] or "").startswith("raylet"):
            continue
        try:
            flags = _flags(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if not flags.get("raylet_socket_name", "").startswith(socket_prefix):
            continue
        found.append(
            NodeIdentity(
                node_id=flags.get("node_id", ""),
                node_ip=flags.get("node_ip_address", "127.0.0.1"),
                raylet_pid=p.pid,
                raylet_port=int(flags.get("node_manager_port", "0")),
                session_dir=session_dir,
                session_name=os.path.basename(session_dir),
                is_head=_is_head(session_dir, flags.get("node_id", "")),
                gcs_address=flags.get("gcs_address", ""),
                metrics_export_port=_int(flags.get("metrics_export_port", "0")),
            )
        )
    if node_ip is not None:
        found = [f for f in found if f.node_ip == node_ip] or found
    return found[0] if found and found[0].node_id and found[0].raylet_port else None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


_LOG_PID = re.compile(rb"^\[[^\]]* [A-Z] (\d+) \d+\] \(raylet\)")
_LOG_NODE = re.compile(rb"Setting node ID node_id=([0-9a-f]+)")
_LOG_PORT = re.compile(rb"NodeManager server started, listening on port (\d+)")
_LOG_IP = re.compile(rb"node:(\d+\.\d+\.\d+\.\d+)")


def _from_raylet_log(session_dir: str, node_ip: Optional[str]) -> Optional[NodeIdentity]:
    try:
        with open(os.path.join(session_dir, "logs", "raylet.out"), "rb") as f:
            head = f.read(256 * 1024)
    except OSError:
        return None
    node, port, pid = _LOG_NODE.search(head), _LOG_PORT.search(head), None
    if not (node and port):
        return None
    for line in head.splitlines():
        m = _LOG_PID.match(line)
        if m:
            pid = int(m.group(1))
            break
    ip_match = _LOG_IP.search(head)
    ip = node_ip or (ip_match.group(1).decode() if ip_match else "127.0.0.1")
    nid = node.group(1).decode()
    is_head = _is_head(session_dir, nid)
    return NodeIdentity(nid, ip, pid or 0, int(port.group(1)), session_dir, os.path.basename(session_dir), is_head,
                        _head_gcs_address(session_dir, nid, ip) if is_head else "")


def _head_gcs_address(session_dir: str, node_id: str, node_ip: str) -> str:
    """On the head node, GCS listens on the node IP at the port in its port file ("" if unreadable)."""
    try:
        with open(os.path.join(session_dir, f"gcs_server_port_{node_id}")) as f:
            port = int(f.read().strip())
    except (OSError, ValueError):
        return ""
    return f"{node_ip}:{port}"


def _is_head(session_dir: str, node_id: str) -> bool:
    """Only the head node's session dir gets GCS's port file."""
    return os.path.exists(os.path.join(session_dir, f"gcs_server_port_{node_id}"))


def discover(session_dir: str, node_ip: Optional[str] = None, timeout: float = 60.0,
             stop: Optional[threading.Event] = None) -> NodeIdentity:
    """Wait (the raylet may still be starting) until this session's raylet is known."""
    real = os.path.realpath(session_dir)
    if not os.path.isdir(real):
        raise NodeNotFound(f"session dir {session_dir} does not exist")
    deadline = time.monotonic() + timeout
    while True:
        ident = _from_process(real, node_ip) or _from_raylet_log(real, node_ip)
        if ident is not None:
            return ident
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            raise NodeNotFound(f"no raylet found for session dir {real} within {timeout:.0f}s")
        time.sleep(0.5)
