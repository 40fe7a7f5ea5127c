"""The agent's link to the head, as the agent last saw it: ``<session>/rayscope/agent/link.json``.

Why a file: ``rayscope start --address`` must not report success until the head has
acknowledged this host's agent, and ``rayscope status`` on any host (the head's API is
usually not reachable from a worker host) must say whether the agent is connected and, if
not, why. The agent writes this file (atomically) whenever the link changes and every few
seconds while it is up; readers only read it. This module is the one definition of its
content.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rayscope.common.atomic_file import write_atomic

STALE_ACK_S = 5.0  # the agent sends a batch every second and the head acks each: a longer silence is news

__all__ = ["AgentLink", "link_path", "read_link", "write_link", "describe_link"]


@dataclass(frozen=True)
class AgentLink:
    head: str  # the gRPC address the agent dials, HOST:PORT
    connected: bool  # the head accepted the stream (hello acknowledged) and it is open
    last_ack_at: float  # unix time of the head's last acknowledgement; 0 = never
    last_error: str  # why the last attempt or stream ended ('' if none yet)
    rejected_token: bool  # the head answered UNAUTHENTICATED: retrying will not help
    updated_at: float  # when the agent wrote this
    pid: int  # the agent's pid (a stale file from an earlier agent is not this agent's)


def link_path(session_dir: str | Path) -> Path:
    return Path(session_dir) / "rayscope" / "agent" / "link.json"


def write_link(path: str | Path, link: AgentLink) -> None:
    write_atomic(path, json.dumps(asdict(link)))


def read_link(path: str | Path) -> AgentLink | None:
    """The last link the agent wrote, or None if there is none (yet) or it is unreadable."""
    try:
        data = json.loads(Path(path).read_text())
        return AgentLink(**{k: data[k] for k in AgentLink.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_link(link: AgentLink | None, now: float | None = None) -> str:
    """One line for ``rayscope status``."""
    if link is None:
        return "agent has not reported its link to the head yet"
    now = time.time() if now is None else now
    if link.connected:
        silent = max(0.0, now - link.last_ack_at) if link.last_ack_at else None
        if silent is not None and silent > STALE_ACK_S:
            # The stream is not known to be broken yet (keepalive takes ~30 s), but the head is silent.
            return f"agent connected to {link.head}, but no ack for {silent:.0f} s (is the network to the head down?)"
        return f"agent connected to {link.head} (last ack {silent or 0.0:.1f} s ago)"
    why = link.last_error or "not connected yet"
    if link.last_ack_at:
        why += f"; last ack {max(0.0, now - link.last_ack_at):.0f} s ago"
    return f"agent NOT connected to {link.head}: {why}"
