"""The API models of Ray Serve's views (issue 13), re-exported by dashboard/models.py.

Why a module of their own: Serve's documents come from the controller's
`get_serve_instance_details()` (runtime/serve_poller.py keeps Ray's names), so the poller's compact
document is parsed with these same models (`ServeDocApp` and below) and the API adds to them what
only Rayscope knows: history, request figures, links. Times are unix seconds.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rayscope.common.api_model import ApiModel
from rayscope.runtime.ray_enums import (
    ServeApplicationStatus,
    ServeDeploymentStatus,
    ServeProxyStatus,
    ServeReplicaState,
)


class ServeReplica(ApiModel):
    replica_id: str
    state: ServeReplicaState
    node_id: Optional[str] = None
    node_ip: Optional[str] = None
    actor_id: Optional[str] = None
    actor_name: Optional[str] = None
    worker_id: Optional[str] = None
    pid: Optional[int] = None
    log_file_path: Optional[str] = Field(default=None, description="as Ray gives it: under the node's logs dir")
    log_file_id: Optional[str] = Field(default=None, description="the replica's log file in /logs (node_id:path)")
    started: Optional[float] = None


class ServeRequestFigures(ApiModel):
    """Requests of one deployment (its replicas' counters) or one application (its proxies' HTTP
    counters), from Ray's metrics as the agents read them every 10 s. Totals are the counters'
    latest values summed over series and nodes; rates and percentiles cover `window_s` up to
    `window_end` (now; in history mode the last sample). Percentiles are estimates: linear
    interpolation inside the histogram bucket that holds the rank (as Prometheus'
    histogram_quantile), so only as exact as Ray's bucket bounds; None when no request finished in
    the window."""

    requests_total: float = 0.0
    errors_total: float = 0.0
    window_s: float
    window_end: float
    request_rate: float = Field(default=0.0, description="requests per second over the window")
    error_rate: float = Field(default=0.0, description="errors per second over the window")
    p50_ms: Optional[float] = None
    p95_ms: Optional[float] = None
    p99_ms: Optional[float] = None


class ServeDeployment(ApiModel):
    name: str
    status: ServeDeploymentStatus
    status_trigger: Optional[str] = None
    message: str = ""
    target_replicas: Optional[int] = Field(default=None, description="the controller's target (autoscaling's current one)")
    running_replicas: int = Field(default=0, description="replicas in state RUNNING")
    num_replicas: Optional[int] = Field(default=None, description="configured count, when not autoscaling")
    autoscaling_min: Optional[int] = None
    autoscaling_max: Optional[int] = None
    replicas: list[ServeReplica] = Field(default_factory=list)
    replica_restarts: int = Field(default=0, description="replicas that stopped while the target did not drop (history)")
    requests: Optional[ServeRequestFigures] = None


class ServeApplication(ApiModel):
    name: str
    status: ServeApplicationStatus
    message: str = ""
    route_prefix: Optional[str] = None
    ingress_deployment: Optional[str] = None
    source: Optional[str] = None
    last_deployed_time: Optional[float] = None
    present: bool = Field(description="in the Serve controller's latest document (False: deleted, or Serve shut down)")
    first_seen: float
    updated_at: float
    removed_at: Optional[float] = None
    deployment_count: int = 0
    running_replicas: int = 0
    target_replicas: int = 0
    deployments: list[ServeDeployment] = Field(default_factory=list)
    requests: Optional[ServeRequestFigures] = None


ServeEventKind = Literal["app_status", "app_removed", "deployment_status", "deployment_removed",
                         "replica_started", "replica_state", "replica_stopped", "replica_died"]


class ServeEvent(ApiModel):
    """One change the head saw between two of the controller's documents (what Ray's UI forgets):
    a status change with its message, or a replica that appeared, changed state or disappeared.
    `replica_died`: a replica gone while its deployment's target did not drop (it was replaced)."""

    ts: float
    app: str
    deployment: Optional[str] = None
    replica_id: Optional[str] = None
    kind: ServeEventKind
    status: Optional[str] = Field(default=None, description="the new status or state")
    previous: Optional[str] = None
    message: str = ""


class ServeApplicationDetail(ServeApplication):
    history: list[ServeEvent] = Field(default_factory=list, description="oldest first")
    proxies: dict[str, ServeProxyStatus] = Field(default_factory=dict, description="node id -> proxy status")


# ------------------------------------------------------------------ the poller's compact document
class ServeDocReplica(ApiModel):
    replica_id: str
    state: ServeReplicaState
    pid: Optional[int] = None
    start_time_s: Optional[float] = None
    node_id: Optional[str] = None
    node_ip: Optional[str] = None
    actor_id: Optional[str] = None
    actor_name: Optional[str] = None
    worker_id: Optional[str] = None
    log_file_path: Optional[str] = None


class ServeDocAutoscaling(ApiModel):
    min_replicas: Optional[int] = None
    max_replicas: Optional[int] = None
    target_ongoing_requests: Optional[float] = None


class ServeDocDeployment(ApiModel):
    name: str
    status: ServeDeploymentStatus
    status_trigger: Optional[str] = None
    message: str = ""
    target_num_replicas: Optional[int] = None
    num_replicas: Optional[int] = None
    autoscaling: Optional[ServeDocAutoscaling] = None
    replicas: list[ServeDocReplica] = Field(default_factory=list)
    recent_dead_replicas: list[ServeDocReplica] = Field(default_factory=list)


class ServeDocApp(ApiModel):
    name: str
    status: ServeApplicationStatus
    message: str = ""
    route_prefix: Optional[str] = None
    last_deployed_time_s: Optional[float] = None
    source: Optional[str] = None
    ingress_deployment: Optional[str] = None
    deployments: list[ServeDocDeployment] = Field(default_factory=list)


class ServeDoc(ApiModel):
    applications: list[ServeDocApp] = Field(default_factory=list)
    proxies: dict[str, ServeProxyStatus] = Field(default_factory=dict)
    controller_actor_id: Optional[str] = None
    controller_node_id: Optional[str] = None
    controller_log: Optional[str] = None
