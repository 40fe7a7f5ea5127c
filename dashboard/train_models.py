"""The API models of Ray Train runs (issue 13): runs → attempts → workers, and status history.

Everything here is read from the head's store (Ray's EXPORT_TRAIN_RUN / _ATTEMPT events), so a
stopped cluster's store shows the same in history mode. Times are unix seconds.
"""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from rayscope.common.api_model import ApiModel
from rayscope.runtime.ray_enums import TrainRunAttemptStatus, TrainRunStatus, TrainWorkerStatus


class TrainRun(ApiModel):
    """A Ray Train run (latest snapshot), with a summary of its settings."""

    run_id: str
    name: str
    status: TrainRunStatus
    status_detail: Optional[str] = None
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    duration: Optional[float] = None
    job_id: Optional[str] = None
    controller_actor_id: Optional[str] = None
    controller_log_file_path: Optional[str] = None
    num_workers: Optional[int] = Field(None, description="a fixed worker count; elastic runs set min/max_workers")
    min_workers: Optional[int] = None
    max_workers: Optional[int] = None
    resources_per_worker: dict[str, float] = Field(default_factory=dict)
    use_gpu: Optional[bool] = None
    max_failures: Optional[int] = None
    storage_path: Optional[str] = None
    framework_versions: dict[str, str] = Field(default_factory=dict)
    num_attempts: int = 0
    event_time: float = Field(description="when Ray wrote the latest snapshot")


class TrainWorker(ApiModel):
    """One worker of an attempt. `log_file_id` is Rayscope's id of Ray Train's log file for this worker
    when the agent of its node collected it; `actor_id`/`node_id`/`pid` link its actor, node and the
    worker process's own stdout/stderr logs."""

    world_rank: int
    local_rank: int
    node_rank: int
    actor_id: Optional[str] = None
    node_id: Optional[str] = None
    node_ip: Optional[str] = None
    pid: Optional[int] = None
    gpu_ids: list[int] = Field(default_factory=list)
    status: Optional[TrainWorkerStatus] = None
    resources: dict[str, float] = Field(default_factory=dict)
    log_file_path: Optional[str] = None
    log_file_id: Optional[str] = None


class TrainRunAttempt(ApiModel):
    attempt_id: str
    run_id: str
    status: TrainRunAttemptStatus
    status_detail: Optional[str] = Field(None, description="ERRORED: each rank's error, in full")
    start_time: Optional[float] = None
    end_time: Optional[float] = None
    duration: Optional[float] = None
    workers: list[TrainWorker] = Field(default_factory=list)


class TrainStatusChange(ApiModel):
    """One event Ray wrote for the run (attempt_id null) or one of its attempts, in the order written."""

    event_time: float
    attempt_id: Optional[str] = None
    status: str
    status_detail: Optional[str] = None


class TrainRunDetail(TrainRun):
    controller_log_file_id: Optional[str] = None
    attempts: list[TrainRunAttempt] = Field(default_factory=list, description="oldest first")
    history: list[TrainStatusChange] = Field(default_factory=list)
