"""Ray Serve's states in runtime/ray_enums.py are Ray's own (ray.serve.schema), member for member
and in Ray's order: a Ray upgrade that adds a state fails here, not in a user's browser."""
from __future__ import annotations

import pytest
from ray.serve import schema  # ray[serve] is a test extra

from rayscope.runtime import ray_enums


@pytest.mark.parametrize("ours, theirs", [
    (ray_enums.SERVE_APPLICATION_STATUSES, "ApplicationStatus"),
    (ray_enums.SERVE_DEPLOYMENT_STATUSES, "DeploymentStatus"),
    (ray_enums.SERVE_REPLICA_STATES, "ReplicaState"),
    (ray_enums.SERVE_PROXY_STATUSES, "ProxyStatus"),
])
def test_serve_states_are_rays(ours: tuple[str, ...], theirs: str) -> None:
    assert ours == tuple(m.value for m in getattr(schema, theirs))


def test_serve_private_common_agrees() -> None:
    """The controller builds its documents from ray.serve._private.common's enums: same members."""
    from ray.serve._private import common
    assert tuple(m.value for m in common.DeploymentStatus) == ray_enums.SERVE_DEPLOYMENT_STATUSES
    assert tuple(m.value for m in common.ReplicaState) == ray_enums.SERVE_REPLICA_STATES
