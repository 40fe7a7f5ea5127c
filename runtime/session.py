"""Where a Ray node keeps its files (Ray 2.60 layout).

``ray start --temp-dir T`` creates ``T/session_<date>_<pid>/`` and points
``T/session_latest`` at it. A second node on the same host joined with its own
``--temp-dir`` gets its own session dir (same session name, different parent), so each
node's agent reads only that node's logs and export events.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "SessionError",
    "session_dir_for_temp_dir",
    "logs_dir",
    "export_events_dir",
    "session_name",
    "node_ids",
    "rayscope_dir",
]

_NODE_ID_FILE = re.compile(r"^(?:metrics_agent_port|runtime_env_agent_port|dashboard_agent_listen_port)_([0-9a-f]{56})$")


class SessionError(RuntimeError):
    """The expected Ray session layout is not there."""


def session_dir_for_temp_dir(temp_dir: Path) -> Path:
    """The current session of a node started with ``--temp-dir temp_dir``."""
    latest = Path(temp_dir) / "session_latest"
    if not latest.exists():
        raise SessionError(f"no Ray session under {temp_dir} ({latest} is missing)")
    return latest.resolve()


def logs_dir(session_dir: Path) -> Path:
    return Path(session_dir) / "logs"


def export_events_dir(session_dir: Path) -> Path:
    return logs_dir(session_dir) / "export_events"


def session_name(session_dir: Path) -> str:
    """e.g. session_2026-11-23_18-25-16_410066_5180 (the same on every node of a cluster)."""
    return Path(session_dir).name


def rayscope_dir(session_dir: Path) -> Path:
    """Rayscope's own files inside a Ray session (head DB, agent state, ready files)."""
    return Path(session_dir) / "rayscope"


def node_ids(session_dir: Path) -> list[str]:
    """Hex ids of the Ray nodes that wrote their port files into this session dir."""
    found = set()
    for entry in Path(session_dir).iterdir():
        match = _NODE_ID_FILE.match(entry.name)
        if match:
            found.add(match.group(1))
    return sorted(found)
