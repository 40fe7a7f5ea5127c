"""Ray's enums as Rayscope knows them (runtime/ray_enums.py, the one copy) are Ray's own, in number
order (the store indexes task states by number), and the API models use that copy."""
from __future__ import annotations

from typing import get_args

from ray.core.generated import common_pb2, gcs_pb2

from rayscope.dashboard.models import TaskState
from rayscope.runtime import ray_enums


def _names(enum_type) -> tuple[str, ...]:
    return tuple(v.name for v in sorted(enum_type.DESCRIPTOR.values, key=lambda v: v.number))


def test_task_states_follow_rays_task_status_numbers() -> None:
    ray_order = _names(common_pb2.TaskStatus)
    assert ray_enums.TASK_STATUS_NAMES == ray_order
    assert ray_enums.TASK_STATUS == {v.name: v.number for v in common_pb2.TaskStatus.DESCRIPTOR.values}
    assert get_args(TaskState) == ray_order


def test_actor_and_node_states_are_rays() -> None:
    assert ray_enums.ACTOR_STATES == _names(gcs_pb2.ActorTableData.ActorState)
    assert ray_enums.NODE_STATES == _names(gcs_pb2.GcsNodeInfo.GcsNodeState)


def test_worker_types_and_exit_types_are_rays() -> None:
    assert ray_enums.WORKER_TYPES == _names(common_pb2.WorkerType)
    assert ray_enums.WORKER_EXIT_TYPES == _names(common_pb2.WorkerExitType)
    assert set(ray_enums.FAILED_WORKER_EXITS) <= set(ray_enums.WORKER_EXIT_TYPES)


def test_node_death_reasons_are_rays() -> None:
    from ray.core.generated import export_node_data_pb2

    assert ray_enums.NODE_DEATH_REASONS == _names(export_node_data_pb2.ExportNodeData.NodeDeathInfo.Reason)
    assert set(ray_enums.INTENDED_NODE_DEATHS) <= set(ray_enums.NODE_DEATH_REASONS)


def test_job_submission_statuses_are_rays() -> None:
    from ray.core.generated import export_submission_job_event_pb2 as sub

    assert ray_enums.JOB_SUBMISSION_STATUSES == _names(sub.ExportSubmissionJobEventData.JobStatus)
    # and the names `ray job status` prints (Ray's Python enum, a second copy inside Ray)
    from ray.job_submission import JobStatus

    assert set(ray_enums.JOB_SUBMISSION_STATUSES) == {s.value for s in JobStatus}


def test_train_statuses_are_rays() -> None:
    from ray.core.generated import export_train_state_pb2 as train

    assert ray_enums.TRAIN_RUN_STATUSES == _names(train.ExportTrainRunEventData.RunStatus)
    assert ray_enums.TRAIN_RUN_ATTEMPT_STATUSES == _names(train.ExportTrainRunAttemptEventData.RunAttemptStatus)
    assert ray_enums.TRAIN_WORKER_STATUSES == _names(train.ExportTrainRunAttemptEventData.ActorStatus)
    from rayscope.dashboard.train_models import TrainRun, TrainRunAttempt, TrainWorker

    assert get_args(TrainRun.model_fields["status"].annotation) == ray_enums.TRAIN_RUN_STATUSES
    assert get_args(TrainRunAttempt.model_fields["status"].annotation) == ray_enums.TRAIN_RUN_ATTEMPT_STATUSES
    assert get_args(get_args(TrainWorker.model_fields["status"].annotation)[0]) == ray_enums.TRAIN_WORKER_STATUSES


def test_nil_job_id_is_rays() -> None:
    from ray import JobID

    assert ray_enums.NIL_JOB_ID == JobID.nil().hex()


def test_the_api_models_states_are_rays() -> None:
    """The API (and through api-types/ the web UI) lists Ray's states, not a copy."""
    from rayscope.dashboard import models as m

    assert get_args(m.Actor.model_fields["state"].annotation) == _names(gcs_pb2.ActorTableData.ActorState)
    assert get_args(m.Node.model_fields["state"].annotation) == _names(gcs_pb2.GcsNodeInfo.GcsNodeState)
    assert get_args(m.Job.model_fields["state"].annotation) == ("RUNNING", "FINISHED")
    from ray.core.generated import export_submission_job_event_pb2 as sub

    status = get_args(m.Job.model_fields["submission_status"].annotation)[0]  # Optional[...]
    assert get_args(status) == _names(sub.ExportSubmissionJobEventData.JobStatus)


def test_dataset_states_and_issue_types_are_rays() -> None:
    from ray.core.generated import export_dataset_metadata_pb2 as meta
    from ray.core.generated import export_dataset_operator_event_pb2 as issue

    def names(enum_desc) -> tuple[str, ...]:
        return tuple(v.name for v in sorted(enum_desc.values, key=lambda v: v.number))

    assert ray_enums.DATASET_STATES == names(meta.ExportDatasetMetadata.DESCRIPTOR.fields_by_name["state"].enum_type)
    assert ray_enums.DATASET_STATES == names(meta.Operator.DESCRIPTOR.fields_by_name["state"].enum_type)
    assert ray_enums.DATASET_ISSUE_TYPES == names(
        issue.ExportDatasetOperatorEventData.DESCRIPTOR.enum_types_by_name["DatasetOperatorEventType"])
