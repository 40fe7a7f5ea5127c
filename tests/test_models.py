"""The API's task states are Ray's TaskStatus enum, in number order (the store indexes by number)."""
from __future__ import annotations

from typing import get_args

from ray.core.generated import common_pb2

from rayscope.dashboard.models import TaskState


def test_task_states_follow_rays_task_status_numbers() -> None:
    ray_order = tuple(v.name for v in sorted(common_pb2.TaskStatus.DESCRIPTOR.values, key=lambda v: v.number))
    assert get_args(TaskState) == ray_order
