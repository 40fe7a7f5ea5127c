"""The head's REST API models: the one definition, used by the head, the CLIs and tests.

Ids are lowercase hex as Ray's CLI prints them. Times are unix seconds (float) unless a
name says otherwise. Absent values are None, never "" or 0, so a reader can tell
"unknown" from "zero".
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rayscope.alerts.rules import Severity as AlertSeverity

# Re-exported: the base, the page shape and the prefix are shared with the debugger (common/api_model.py),
# whose own models (debugger/models.py) are part of this API too.
from rayscope.common.api_model import API_PREFIX as API_PREFIX
from rayscope.common.api_model import ApiModel as ApiModel
from rayscope.common.api_model import ErrorBody as ErrorBody
from rayscope.common.api_model import Page as Page
from rayscope.dashboard.data_models import Dataset as Dataset
from rayscope.dashboard.data_models import DatasetDetail as DatasetDetail
from rayscope.dashboard.data_models import DatasetIssue as DatasetIssue
from rayscope.dashboard.data_models import DatasetOperator as DatasetOperator
from rayscope.dashboard.data_models import DatasetOperatorBrief as DatasetOperatorBrief

# Ray Serve's views (issue 13), in their own module
from rayscope.dashboard.serve_models import ServeApplication as ServeApplication
from rayscope.dashboard.serve_models import ServeApplicationDetail as ServeApplicationDetail
from rayscope.dashboard.serve_models import ServeDeployment as ServeDeployment
from rayscope.dashboard.serve_models import ServeEvent as ServeEvent
from rayscope.dashboard.serve_models import ServeReplica as ServeReplica
from rayscope.dashboard.serve_models import ServeRequestFigures as ServeRequestFigures
from rayscope.debugger.models import DebugResumed as DebugResumed
from rayscope.debugger.models import DebugSession as DebugSession
from rayscope.debugger.models import DebugTicket as DebugTicket

# Ray's enums, defined once there
from rayscope.runtime.ray_enums import (
    ActorState,
    JobState,
    JobSubmissionStatus,
    NodeState,
    TaskState,
    WorkerExitType,
    WorkerType,
)


class Node(ApiModel):
    node_id: str
    node_ip: Optional[str] = None
    node_name: Optional[str] = None
    hostname: Optional[str] = None
    state: NodeState
    is_head_node: bool = False
    resources_total: dict[str, float] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    death_reason: Optional[str] = None
    death_message: Optional[str] = None
    agent_connected: bool = False
    agent_last_seen: Optional[float] = None
    metrics_url: Optional[str] = None
    # latest sample, for tables
    cpu_percent: Optional[float] = None
    mem_used: Optional[int] = None
    mem_total: Optional[int] = None
    object_store_used: Optional[int] = None
    object_store_capacity: Optional[int] = None
    num_gpus: int = 0


class NodeSummary(ApiModel):
    """How many nodes, by state (GET /nodes/summary): what a page of a large cluster shows
    without listing its nodes."""

    total: int
    states: dict[str, int]  # NodeState -> nodes


class Job(ApiModel):
    """A driver job (GCS's job table) and, when it was submitted with `ray job submit` / the job API,
    the submission that started it (Ray's EXPORT_SUBMISSION_JOB, joined by the submission id the
    driver's job config carries). The submission fields are null for a driver started by hand.

    A submission that no driver job names (still PENDING, or ended before its entrypoint called
    `ray.init`) is a row of its own, as in Ray's job API: `job_id` null, identified by its
    `submission_id`; `state` RUNNING while the submission is PENDING or RUNNING, FINISHED once it
    ended; `entrypoint` and the times are the submission's, the driver fields null. Once a driver
    job names the submission, that row is gone and the driver's row carries the submission."""

    job_id: Optional[str] = Field(None, description="null: a submission whose driver job does not exist "
                                  "(yet); its submission_id identifies it")
    state: JobState
    driver_pid: Optional[int] = None
    driver_ip: Optional[str] = None
    entrypoint: Optional[str] = None
    ray_namespace: Optional[str] = None
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    submission_id: Optional[str] = None
    # null while the driver's submission event has not arrived (or was never written)
    submission_status: Optional[JobSubmissionStatus] = None
    submission_entrypoint: Optional[str] = None
    submission_message: Optional[str] = None
    submission_error_type: Optional[str] = None
    submission_start_time: Optional[float] = None
    submission_end_time: Optional[float] = None
    driver_exit_code: Optional[int] = None
    runtime_env: Optional[str] = Field(None, description="a short summary of the submission's runtime env: "
                                       "its keys, with how many entries each list or dict holds")


class TaskStuck(ApiModel):
    """Why a task looks stuck (dashboard/store/read_stuck.py holds the rules and their constants)."""

    kind: Literal["running_long", "infeasible", "pending_long"]
    reason: str = Field(description="one line, e.g. \"RUNNING 14m 3s; f usually takes 2.1 s (p95 of 40 runs)\"")
    since: float = Field(description="when the task entered the state it is stuck in (unix s)")
    typical_s: Optional[float] = Field(default=None, description="running_long: the p95 duration of the function's "
                                       "finished runs")
    samples: Optional[int] = Field(default=None, description="running_long: how many finished runs typical_s is from")
    threshold_s: Optional[float] = Field(default=None, description="how long the state may last before it is flagged")
    last_stack_dump_id: Optional[str] = Field(default=None, description="running_long: the newest stack dump of this "
                                              "attempt (GET /profiling/stacks/{dump_id})")


class Task(ApiModel):
    task_id: str
    attempt: int
    job_id: str
    name: Optional[str] = None
    type: Optional[str] = None
    language: Optional[str] = None
    state: TaskState
    parent_task_id: Optional[str] = None
    actor_id: Optional[str] = None
    placement_group_id: Optional[str] = None
    node_id: Optional[str] = None
    worker_id: Optional[str] = None
    worker_pid: Optional[int] = None
    required_resources: dict[str, float] = Field(default_factory=dict)
    creation_time: Optional[float] = None  # first PENDING_* timestamp
    start_time: Optional[float] = None  # RUNNING
    end_time: Optional[float] = None  # FINISHED or FAILED
    duration: Optional[float] = None  # end - start, when both are known
    error_type: Optional[str] = None
    error_message: Optional[str] = None  # Ray's error text, traceback included
    state_times: dict[str, float] = Field(default_factory=dict)  # state name -> unix s
    is_debugger_paused: Optional[bool] = None
    data_operator_id: Optional[str] = Field(default=None, description="the Ray Data operator (uuid) this task works for "
                                            "(Ray's label __data_operator_id)")
    stuck: Optional[TaskStuck] = Field(default=None, description="set when the task looks stuck: running far longer than "
                                       "its function usually takes, or pending for a node none can provide")


class Actor(ApiModel):
    actor_id: str
    job_id: str
    state: ActorState
    class_name: Optional[str] = None
    name: Optional[str] = None
    repr_name: Optional[str] = None
    ray_namespace: Optional[str] = None
    pid: Optional[int] = None
    node_id: Optional[str] = None
    is_detached: Optional[bool] = None
    required_resources: dict[str, float] = Field(default_factory=dict)
    death_cause: Optional[str] = None
    num_restarts: int = 0
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    data_operator_id: Optional[str] = Field(None, description="the Ray Data operator (uuid) this actor works for")


class Process(ApiModel):
    node_id: str
    pid: int
    ppid: Optional[int] = None
    role: str
    title: Optional[str] = None
    cmdline: Optional[str] = None
    cpu_percent: float
    rss: int
    uss: int
    num_fds: int
    num_threads: int
    create_time: Optional[float] = None
    worker_id: Optional[str] = None
    job_id: Optional[str] = None
    task_id: Optional[str] = None  # the RUNNING task on this pid, joined from task events
    task_name: Optional[str] = None
    actor_id: Optional[str] = None
    actor_class: Optional[str] = None
    gpu_memory_used: int = 0
    sampled_at: float


class Worker(ApiModel):
    """A Ray worker or driver process, as `ray list workers` shows it (dead ones too, with how they
    exited, from GCS's worker table), plus live usage while it is alive."""

    worker_id: Optional[str] = None
    node_id: str
    pid: int
    worker_type: WorkerType
    job_id: Optional[str] = None
    is_alive: bool
    exit_type: Optional[WorkerExitType] = None  # why a dead worker ended, as Ray recorded it
    exit_detail: Optional[str] = None
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    task_id: Optional[str] = None
    task_name: Optional[str] = None
    actor_id: Optional[str] = None
    cpu_percent: Optional[float] = None
    rss: Optional[int] = None
    uss: Optional[int] = None


class ObjectRef(ApiModel):
    object_id: str
    node_id: str
    node_ip: Optional[str] = None
    pid: int
    worker_type: Optional[str] = None
    job_id: Optional[str] = None
    call_site: Optional[str] = None
    task_status: Optional[str] = None
    attempt: Optional[int] = None
    object_size: Optional[int] = None  # bytes
    reference_type: str
    sampled_at: float


class LogFile(ApiModel):
    file_id: str
    node_id: str
    path: str
    kind: str  # worker_stdout, worker_stderr, core_worker, core_driver, job_driver, raylet, gcs, ...
    worker_id: Optional[str] = None
    job_id: Optional[str] = None
    pid: Optional[int] = None
    actor_id: Optional[str] = None
    size: int = 0  # bytes stored
    lines: int = 0
    last_line_at: Optional[float] = None


class LogLine(ApiModel):
    file_id: str
    node_id: str
    path: str
    generation: int
    offset: int
    text: str  # decoded as UTF-8 with replacement characters
    is_binary: bool = False  # the raw bytes were not valid UTF-8
    truncated_bytes: int = 0  # bytes of an over-long line that were not kept
    read_at: float
    worker_id: Optional[str] = None
    job_id: Optional[str] = None
    task_id: Optional[str] = None
    task_name: Optional[str] = None
    actor_id: Optional[str] = None


class LogSearchHit(ApiModel):
    line: LogLine
    before: list[LogLine] = Field(default_factory=list)
    after: list[LogLine] = Field(default_factory=list)


class StateCount(ApiModel):
    state: str
    count: int


class TaskSummaryRow(ApiModel):
    """One function (or actor method) with its per-state counts, like `ray summary tasks`."""

    name: str
    type: Optional[str] = None
    total: int
    states: dict[str, int]


class TaskSummary(ApiModel):
    total: int
    rows: list[TaskSummaryRow]


class ActorSummaryRow(ApiModel):
    class_name: str
    total: int
    states: dict[str, int]


class ActorSummary(ApiModel):
    total: int
    rows: list[ActorSummaryRow]


class NodeMetricPoint(ApiModel):
    ts: float
    cpu_percent: float
    mem_used: int
    mem_total: int
    swap_used: int
    disk_used: int
    disk_total: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_sent_bytes: int
    net_recv_bytes: int
    object_store_used: Optional[int] = None
    object_store_capacity: Optional[int] = None
    object_store_spilled: Optional[int] = None
    gpu_utilization_ratio: Optional[float] = None  # mean over the node's GPUs
    gpu_memory_used: Optional[int] = None


class NodeMetricSeries(ApiModel):
    node_id: str
    points: list[NodeMetricPoint]


# A node figure as a share of the node's own capacity, so nodes of any size share one scale:
# cpu_percent; mem_used / mem_total; the object store's used / capacity; the mean GPU utilization.
DistributionMetric = Literal["cpu", "mem", "store", "gpu"]


class DistributionStep(ApiModel):
    """One time step of a metric across nodes: each node's samples in [ts, ts + step) averaged,
    then those per-node values summarized. `counts[i]` nodes fall in bucket i of `bucket_edges`
    (the last bucket also holds exactly 100 %), so `sum(counts) == nodes`."""

    ts: float  # the step's start
    nodes: int  # nodes with at least one sample in the step
    min: float
    p50: float  # quantiles to within the 1-percentage-point resolution they are computed at
    p90: float
    max: float
    counts: list[int]


class NodeDistribution(ApiModel):
    metric: DistributionMetric
    steps: list[DistributionStep]  # only steps with samples, oldest first


class NodeDistributions(ApiModel):
    """Node metrics as distributions over time (GET /metrics/nodes/distribution): what a chart of
    hundreds of nodes shows instead of one line per node."""

    since: float  # the first step's start (the range fitted to the samples, aligned to `step`)
    until: float  # the last step's end
    step: float  # seconds per step
    partial_from: Optional[float] = None  # steps from here on may still gain samples (a live cluster)
    bucket_edges: list[float]  # percent, len(counts) + 1 edges from 0 to 100
    metrics: list[NodeDistribution]


class NodeInCell(ApiModel):
    node_id: str
    node_ip: Optional[str] = None
    state: Optional[NodeState] = None
    value: float  # the node's average over the step, percent


class DistributionCell(ApiModel):
    """The nodes in one cell of a distribution (GET /metrics/nodes/distribution/cell): one step,
    one value bucket, highest value first."""

    metric: DistributionMetric
    ts: float
    step: float
    bucket: int
    low: float  # the bucket's edges, percent
    high: float
    total: int  # nodes in the cell; `nodes` holds the first `limit` of them
    nodes: list[NodeInCell]


AppMetricType = Literal["counter", "gauge", "histogram"]


class AppMetricValue(ApiModel):
    """One tag set of an application metric now: each node's latest value, summed over nodes."""

    tags: dict[str, str]
    value: Optional[float] = None  # counter: total; gauge: value (None for a histogram)
    count: Optional[float] = None  # histogram: observations (None otherwise)
    sum: Optional[float] = None  # histogram: sum of observations
    nodes: int  # nodes that reported this tag set
    ts: float  # the newest of those reports


class AppMetric(ApiModel):
    """A metric the user's code records with ray.util.metrics, as Ray exports it (`ray_<name>`)."""

    name: str
    type: AppMetricType
    description: str
    tag_keys: list[str]
    series_count: int  # tag sets (over all nodes)
    first_seen: float
    last_seen: float
    series: list[AppMetricValue]


class AppMetricPoint(ApiModel):
    ts: float
    value: Optional[float] = None  # counter/gauge: sum over nodes and the group's tag sets
    count: Optional[float] = None  # histogram
    sum: Optional[float] = None  # histogram


class AppMetricGroup(ApiModel):
    """One line of a chart: the tag sets whose `group_by` tag has this value (all of them when the
    query has no group_by: `group` is None), summed over nodes."""

    group: Optional[str] = None
    points: list[AppMetricPoint]


class DropCount(ApiModel):
    node_id: Optional[str] = None
    source: str
    reason: str
    count: int
    bytes: int
    last_detail: Optional[str] = None
    last_at: float


class IngestHealth(ApiModel):
    agents_connected: int
    batches_committed: int
    drops: list[DropCount]


class ClusterInfo(ApiModel):
    session_name: Optional[str] = None
    ray_version: Optional[str] = None
    rayscope_version: str
    db_path: str
    live: bool  # False when serving a finished cluster's history
    started_at: float


class WsDelta(ApiModel):
    """One WebSocket push: which rows changed. Clients re-fetch or patch what they show."""

    # "resync": this client fell behind and deltas were dropped; re-fetch everything shown.
    kind: Literal["tasks", "actors", "jobs", "nodes", "logs", "metrics", "processes", "drops", "resync",
                  "debug_sessions", "workers", "app_metrics", "train_runs", "datasets", "serve_apps",
                  "serve_metrics", "profiles", "alerts"]
    rows: list[dict] = Field(default_factory=list)
    ts: float


AlertState = Literal["firing", "resolved"]


class Alert(ApiModel):
    """An alert the head raised itself from its store (dashboard/alerting/; the rules are alerts/rules.py,
    the same ones `rayscope metrics alert-rules` exports for Prometheus): one episode of a rule for one
    node, job or the cluster. Resolved ones stay, as history."""

    alert_id: str
    name: str = Field(description="the rule, e.g. RayNodeDown")
    state: AlertState
    severity: AlertSeverity
    summary: str = Field(description="one line, the rule's summary rendered with this alert's labels and value")
    description: str = Field(description="why it matters and where to look next")
    since: float = Field(description="when it started firing (unix s)")
    resolved_at: Optional[float] = None
    node_id: Optional[str] = None
    node_ip: Optional[str] = None
    job_id: Optional[str] = None
    value: Optional[float] = Field(default=None, description="the condition's latest value (e.g. a used fraction)")
    labels: dict[str, str] = Field(default_factory=dict, description="as delivered to Alertmanager: alertname, "
                                   "severity and what the alert concerns")


class TimelineLane(ApiModel):
    """One row of the timeline: a worker process (node + pid) that ran tasks."""

    node_id: str
    worker_id: Optional[str] = None
    pid: Optional[int] = None


class TimelineBar(ApiModel):
    """One task execution (attempt) on a lane; `end` is None while it runs."""

    task_id: str
    attempt: int
    name: Optional[str] = None
    job_id: str
    actor_id: Optional[str] = None
    lane: int  # index into Timeline.lanes
    start: float
    end: Optional[float] = None
    state: TaskState
    error_type: Optional[str] = None


class Timeline(ApiModel):
    """The task stream of GET /timeline: the latest `limit` executions, oldest first."""

    lanes: list[TimelineLane]
    bars: list[TimelineBar]
    truncated: bool  # more executions matched than `limit`; the oldest were left out
class PromTargetGroup(ApiModel):
    """One entry of Prometheus' http_sd / file_sd format (GET /metrics/targets)."""

    targets: list[str]
    labels: dict[str, str] = Field(default_factory=dict)


class PromSeries(ApiModel):
    """One series of a range query answered by the configured Prometheus (GET /metrics/prometheus/query_range)."""

    metric: dict[str, str]
    points: list[tuple[float, float]]  # (unix s, value)


class ObjectStoreStats(ApiModel):
    """Object stores of the alive nodes, latest sample each, summed (`ray memory`'s last block)."""

    nodes: int
    used_bytes: int
    capacity_bytes: int
    num_objects: int
    spilled_bytes_total: int
    restored_bytes_total: int
    fallback_bytes: int
