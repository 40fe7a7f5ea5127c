"""The debugger's REST API models (docs/debugger.md), served under the head's /api/v1.

Defined here, by the debugger, because the debugger must not import the head: the head mounts the
debugger (debugger/api.py: mount) and re-exports these from dashboard/models.py, so the OpenAPI
schema and the generated TypeScript types list them with every other API model.
"""
from __future__ import annotations

from typing import Literal, Optional

from rayscope.common.api_model import ApiModel
from rayscope.debugger.relay_protocol import Reason

__all__ = ["DebugSession", "DebugTicket", "DebugResumed"]


class DebugSession(ApiModel):
    """A worker thread paused in Rayscope's debugger (docs/debugger.md). Live state, not stored."""

    session_id: str
    cluster_id: str  # the Ray session name of the cluster the worker belongs to
    state: Literal["paused", "attached", "gone"]  # "gone" only in the last WebSocket push
    reason: Reason
    exception: Optional[str] = None  # "ValueError: bad input"
    job_id: Optional[str] = None
    task_id: Optional[str] = None
    attempt: Optional[int] = None
    actor_id: Optional[str] = None
    function: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    node_id: str
    node_ip: Optional[str] = None
    pid: int
    worker_id: Optional[str] = None
    working_dir: Optional[str] = None  # the worker's cwd: the remote root for path mappings
    paused_at: float
    attached_by: Optional[str] = None
    attached_at: Optional[float] = None


class DebugTicket(ApiModel):
    """Single-use, short-lived permission to open the tunnel to one session."""

    ticket: str
    session_id: str
    expires_at: float
    tunnel_path: str  # relative to the head's HTTP URL; ws:// for http://


class DebugResumed(ApiModel):
    resumed: list[str]
