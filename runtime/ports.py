"""Free local ports, and filling in the ``ray start`` ports the user did not choose.

Several Ray nodes (and other people's clusters) share a host; Ray's fixed defaults
(e.g. the dashboard agent's 52365) collide, and an agent that loses its port keeps
running half-broken. So Rayscope picks free ports for Ray's internal ports.
"""

from __future__ import annotations

import socket
from typing import Sequence

from rayscope.runtime.ray_settings import option_value

__all__ = ["free_ports", "INTERNAL_PORT_OPTIONS", "with_free_ports"]

# Ports only Ray itself connects to (registered in GCS): safe to choose for the user.
INTERNAL_PORT_OPTIONS = (
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "runtime-env-agent-port",
)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that were free a moment ago (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


# Ports a ``ray start`` command line may already name (besides INTERNAL_PORT_OPTIONS).
_OTHER_PORT_OPTIONS = ("port", "dashboard-port", "ray-client-server-port", "dashboard-grpc-port")


def with_free_ports(args: Sequence[str], options: Sequence[str] = INTERNAL_PORT_OPTIONS) -> list[str]:
    """``args`` plus ``--option=PORT`` for each of ``options`` the user did not give.

    A port drawn here was free, but so were the ones the caller drew earlier and already put
    in ``args`` (released sockets): ``ray start`` refuses two components on one port, so
    those are never handed out again."""
    missing = [name for name in options if option_value(args, name) is None]
    named = (option_value(args, name) for name in (*options, *_OTHER_PORT_OPTIONS))
    taken = {int(value) for value in named if value is not None and value.isdigit()}
    ports: list[int] = []
    for _ in range(100):
        ports = [port for port in free_ports(len(missing)) if port not in taken]
        if len(ports) == len(missing):
            break
    else:
        raise OSError(f"could not find {len(missing)} free ports apart from {sorted(taken)}")
    return list(args) + [f"--{name}={port}" for name, port in zip(missing, ports)]
