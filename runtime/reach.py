"""Can this host dial HOST:PORT? Answered in seconds, with a reason a user can act on.

Used before anything is started on a joining host: Ray's GCS client waits ~40 s on an address
nobody answers, and a gRPC channel ~20 s, so `rayscope start --address` checks the GCS and the
Rayscope head with a plain TCP connect first and fails with "connection refused" or "timed out".
"""

from __future__ import annotations

import socket

__all__ = ["unreachable_reason"]


def unreachable_reason(address: str, timeout_s: float = 5.0) -> str | None:
    """None when a TCP connection to ``address`` (HOST:PORT, [v6]:PORT) opens, else why not."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return None
    except ValueError:
        return f"{address!r} is not HOST:PORT"
    except TimeoutError:
        return f"timed out after {timeout_s:.0f}s (a firewall dropping the port, or a wrong address?)"
    except ConnectionRefusedError:
        return "connection refused (nothing listens there)"
    except OSError as exc:
        return exc.strerror or str(exc)
