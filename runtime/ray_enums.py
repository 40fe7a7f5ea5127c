"""Ray's state enums and nil ids, as Ray 2.60 defines them: the one copy in Rayscope.

Why here: the agent decodes them (export events, log file names), the head stores, filters and
counts by them, and the API lists them. Each of those imports this module, so a Ray upgrade that
adds a state changes one place (tests/test_models.py compares them with Ray's own protobufs).
No imports beyond `typing`: the agent and the head both load it.
"""
from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "TaskState", "TASK_STATUS_NAMES", "TASK_STATUS", "AWAITING_NODE",
    "ActorState", "ACTOR_STATES", "NodeState", "NODE_STATES", "JobState", "JOB_STATES",
    "WorkerType", "WORKER_TYPES", "WorkerExitType", "WORKER_EXIT_TYPES", "FAILED_WORKER_EXITS",
    "NodeDeathReason", "NODE_DEATH_REASONS", "INTENDED_NODE_DEATHS",
    "NIL_JOB_ID",
    "TrainRunStatus", "TRAIN_RUN_STATUSES", "TrainRunAttemptStatus", "TRAIN_RUN_ATTEMPT_STATUSES",
    "TrainWorkerStatus", "TRAIN_WORKER_STATUSES",
    "NIL_JOB_ID", "DatasetState", "DATASET_STATES", "DatasetIssueType", "DATASET_ISSUE_TYPES",
    "ServeApplicationStatus", "SERVE_APPLICATION_STATUSES", "ServeDeploymentStatus", "SERVE_DEPLOYMENT_STATUSES",
    "ServeReplicaState", "SERVE_REPLICA_STATES", "ServeProxyStatus", "SERVE_PROXY_STATUSES",
]

# Ray's TaskStatus (src/ray/protobuf/common.proto), in number order: the position is the number
# that export events write as `state_ts_ns` keys and that the store indexes by.
TaskState = Literal[
    "NIL",
    "PENDING_ARGS_AVAIL",
    "PENDING_NODE_ASSIGNMENT",
    "PENDING_OBJ_STORE_MEM_AVAIL",
    "PENDING_ARGS_FETCH",
    "SUBMITTED_TO_WORKER",
    "PENDING_ACTOR_TASK_ARGS_FETCH",
    "PENDING_ACTOR_TASK_ORDERING_OR_CONCURRENCY",
    "RUNNING",
    "RUNNING_IN_RAY_GET",
    "RUNNING_IN_RAY_WAIT",
    "FINISHED",
    "FAILED",
    "GETTING_AND_PINNING_ARGS",
]
TASK_STATUS_NAMES: tuple[str, ...] = get_args(TaskState)
TASK_STATUS: dict[str, int] = {name: num for num, name in enumerate(TASK_STATUS_NAMES)}
# The state in which a task waits for a node with its resources (the stuck-task detector's infeasible
# and pending-long rules, dashboard/store/read_stuck.py).
AWAITING_NODE: TaskState = "PENDING_NODE_ASSIGNMENT"

# ActorTableData.ActorState (src/ray/protobuf/gcs.proto), in number order.
ActorState = Literal["DEPENDENCIES_UNREADY", "PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD"]
ACTOR_STATES: tuple[str, ...] = get_args(ActorState)

# GcsNodeInfo.GcsNodeState (src/ray/protobuf/gcs.proto), in number order.
NodeState = Literal["ALIVE", "DEAD"]
NODE_STATES: tuple[str, ...] = get_args(NodeState)

# A job's state as Rayscope stores it: Ray's JobTableData has only `is_dead`, which Rayscope
# names the way `ray list jobs` does for drivers.
JobState = Literal["RUNNING", "FINISHED"]
JOB_STATES: tuple[str, ...] = get_args(JobState)

# A submitted job's status (`ray job submit` / the job API): ExportSubmissionJobEventData.JobStatus
# (src/ray/protobuf/export_submission_job_event.proto), in number order, the names Ray prints.
JobSubmissionStatus = Literal["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]
JOB_SUBMISSION_STATUSES: tuple[str, ...] = get_args(JobSubmissionStatus)

# Ray Train v2's run, attempt and worker states (src/ray/protobuf/export_train_state.proto:
# ExportTrainRunEventData.RunStatus, ExportTrainRunAttemptEventData.RunAttemptStatus and .ActorStatus),
# in number order, the names Ray prints (the *_UNSPECIFIED zero values included: Ray prints them).
TrainRunStatus = Literal["RUN_STATUS_UNSPECIFIED", "INITIALIZING", "SCHEDULING", "RUNNING", "RESTARTING",
                         "RESIZING", "FINISHED", "ERRORED", "ABORTED"]
TRAIN_RUN_STATUSES: tuple[str, ...] = get_args(TrainRunStatus)
TrainRunAttemptStatus = Literal["RUN_ATTEMPT_STATUS_UNSPECIFIED", "PENDING", "RUNNING", "FINISHED", "ERRORED",
                                "ABORTED"]
TRAIN_RUN_ATTEMPT_STATUSES: tuple[str, ...] = get_args(TrainRunAttemptStatus)
TrainWorkerStatus = Literal["ACTOR_STATUS_UNSPECIFIED", "ALIVE", "DEAD"]
TRAIN_WORKER_STATUSES: tuple[str, ...] = get_args(TrainWorkerStatus)
# A Ray Data dataset's and each of its operators' state: ExportDatasetMetadata.DatasetState and
# .OperatorState (src/ray/protobuf/export_dataset_metadata.proto, the same five names), in number order.
DatasetState = Literal["UNKNOWN", "RUNNING", "FINISHED", "FAILED", "PENDING"]
DATASET_STATES: tuple[str, ...] = get_args(DatasetState)

# An issue Ray Data's detectors raise: ExportDatasetOperatorEventData.DatasetOperatorEventType
# (src/ray/protobuf/export_dataset_operator_event.proto), in number order.
DatasetIssueType = Literal["UNSPECIFIED", "ISSUE_DETECTION_HANGING", "ISSUE_DETECTION_HIGH_MEMORY"]
DATASET_ISSUE_TYPES: tuple[str, ...] = get_args(DatasetIssueType)

# WorkerType (src/ray/protobuf/common.proto), in number order, as `ray list workers` prints it.
WorkerType = Literal["WORKER", "DRIVER", "SPILL_WORKER", "RESTORE_WORKER"]
WORKER_TYPES: tuple[str, ...] = get_args(WorkerType)

# WorkerExitType (src/ray/protobuf/common.proto), in number order: why a worker ended.
WorkerExitType = Literal["SYSTEM_ERROR", "INTENDED_SYSTEM_EXIT", "USER_ERROR", "INTENDED_USER_EXIT",
                         "NODE_OUT_OF_MEMORY"]
WORKER_EXIT_TYPES: tuple[str, ...] = get_args(WorkerExitType)
# The exits that are failures (not a worker Ray or the user ended on purpose): the head counts them
# per node (rayscope_worker_exits_total; alerts RayOOMKills and RayWorkerFailures).
FAILED_WORKER_EXITS: tuple[WorkerExitType, ...] = ("SYSTEM_ERROR", "USER_ERROR", "NODE_OUT_OF_MEMORY")

# ExportNodeData.NodeDeathInfo.Reason (src/ray/protobuf/export_node_data.proto), in number order: why
# Ray marked a node DEAD. The intended ones (a `ray stop`, the autoscaler removing an idle node) are
# no outage: alerts (alerts/rules.py RayNodeDown) ignore them; a crash, a lost host or a spot
# preemption is one.
NodeDeathReason = Literal["UNSPECIFIED", "EXPECTED_TERMINATION", "UNEXPECTED_TERMINATION",
                          "AUTOSCALER_DRAIN_PREEMPTED", "AUTOSCALER_DRAIN_IDLE"]
NODE_DEATH_REASONS: tuple[str, ...] = get_args(NodeDeathReason)
INTENDED_NODE_DEATHS: tuple[NodeDeathReason, ...] = ("EXPECTED_TERMINATION", "AUTOSCALER_DRAIN_IDLE")

# JobID::Nil() in hex: what Ray writes where a worker belongs to no job yet (e.g. in the names
# of a pooled worker's log files).
NIL_JOB_ID = "ffffffff"

# Ray Serve's states (python/ray/serve/schema.py; Serve writes no protobuf for them), in the
# order Ray defines them. tests/test_serve_enums.py compares them with Ray's own Python enums.
ServeApplicationStatus = Literal["NOT_STARTED", "DEPLOYING", "DEPLOY_FAILED", "RUNNING", "UNHEALTHY", "DELETING"]
SERVE_APPLICATION_STATUSES: tuple[str, ...] = get_args(ServeApplicationStatus)
ServeDeploymentStatus = Literal["UPDATING", "HEALTHY", "UNHEALTHY", "DEPLOY_FAILED", "UPSCALING", "DOWNSCALING"]
SERVE_DEPLOYMENT_STATUSES: tuple[str, ...] = get_args(ServeDeploymentStatus)
ServeReplicaState = Literal["STARTING", "UPDATING", "RECOVERING", "RUNNING", "STOPPING", "STOPPED",
                            "PENDING_MIGRATION"]
SERVE_REPLICA_STATES: tuple[str, ...] = get_args(ServeReplicaState)
ServeProxyStatus = Literal["STARTING", "HEALTHY", "UNHEALTHY", "DRAINING", "DRAINED"]
SERVE_PROXY_STATUSES: tuple[str, ...] = get_args(ServeProxyStatus)
