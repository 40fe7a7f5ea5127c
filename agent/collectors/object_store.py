"""Object store usage and the object-reference table (`ray memory`) from this node's raylet.

Ray's protobuf modules come from `ray_protos.py` (no `import ray`). Authentication: Ray 2.60
token auth wants gRPC metadata `authorization: Bearer <token>` on raylet calls (UNAUTHENTICATED without it).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import grpc

from rayscope.agent.collectors.processes import WorkerInfo
from rayscope.agent.collectors.ray_protos import ray_generated
from rayscope.runtime.ray_enums import NIL_JOB_ID
from rayscope.wire.rayscope_ingest_pb2 import ObjectRef, ObjectSnapshot, ObjectStoreSample

log = logging.getLogger(__name__)

def load_ray_protos() -> tuple[Any, Any]:
    """(node_manager_pb2, node_manager_pb2_grpc) without importing the `ray` package."""
    return ray_generated("node_manager_pb2"), ray_generated("node_manager_pb2_grpc")


# ray memory's reference-type rules (ray/dashboard/memory_utils.py), in precedence order.
def reference_type(ref: Any, object_hex: str) -> str:
    if object_hex[:16] == "f" * 16 and object_hex[16:40] != "f" * 24:
        return "ACTOR_HANDLE"
    if ref.pinned_in_memory:
        return "PINNED_IN_MEMORY"
    if ref.submitted_task_ref_count > 0:
        return "USED_BY_PENDING_TASK"
    if ref.local_ref_count > 0:
        return "LOCAL_REFERENCE"
    if len(ref.contained_in_owned) > 0:
        return "CAPTURED_IN_OBJECT"
    return "UNKNOWN_STATUS"


def _is_live(ref: Any, object_hex: str) -> bool:
    """The rows `ray memory` shows (it hides refs nobody holds and nil ids)."""
    held = ref.pinned_in_memory or ref.local_ref_count or ref.submitted_task_ref_count or len(ref.contained_in_owned)
    return bool(held) and object_hex != "f" * len(object_hex)


@dataclass
class NodeStats:
    store: ObjectStoreSample
    objects: Optional[ObjectSnapshot]
    workers: dict[int, WorkerInfo]


class ObjectStoreCollector:
    """One GetNodeStats call per sample; memory info (the ref table) only every `refs_every_s`."""

    def __init__(self, raylet_address: str, node_ip: str, token: Optional[str], refs_every_s: float = 5.0, timeout_s: float = 5.0) -> None:
        self.pb2, pb2_grpc = load_ray_protos()
        self.channel = grpc.insecure_channel(
            raylet_address, options=[("grpc.max_receive_message_length", 512 << 20)]
        )
        self.stub = pb2_grpc.NodeManagerServiceStub(self.channel)
        self.node_ip = node_ip
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.refs_every_s = refs_every_s
        self.timeout_s = timeout_s
        self._refs_at = 0.0
        self.errors = 0

    def sample(self, force_refs: bool = False) -> Optional[NodeStats]:
        """None when the raylet did not answer (counted and logged, never raised)."""
        now = time.time()
        with_refs = force_refs or now - self._refs_at >= self.refs_every_s
        try:
            reply = self.stub.GetNodeStats(
                self.pb2.GetNodeStatsRequest(include_memory_info=with_refs), timeout=self.timeout_s, metadata=self.metadata
            )
        except grpc.RpcError as e:
            self.errors += 1
            if self.errors == 1 or self.errors % 60 == 0:
                log.warning("raylet GetNodeStats failed (%d so far): %s %s", self.errors, e.code(), e.details())
            return None
        if with_refs:
            self._refs_at = now
        return NodeStats(self._store(reply, now), self._refs(reply, now) if with_refs else None, self._workers(reply))

    def _store(self, reply: Any, now: float) -> ObjectStoreSample:
        st = reply.store_stats
        return ObjectStoreSample(
            ts=now,
            used_bytes=st.object_store_bytes_used,
            capacity_bytes=st.object_store_bytes_avail,
            spilled_bytes_total=st.spilled_bytes_total,
            restored_bytes_total=st.restored_bytes_total,
            num_objects=st.num_local_objects,
            fallback_bytes=st.object_store_bytes_fallback,
        )

    def _refs(self, reply: Any, now: float) -> ObjectSnapshot:
        snap = ObjectSnapshot(ts=now)
        for w in reply.core_workers_stats:
            for ref in w.object_refs:
                oid = ref.object_id.hex()
                if not _is_live(ref, oid):
                    continue
                row = ObjectRef(
                    object_id=oid, node_ip=w.ip_address or self.node_ip, pid=w.pid,
                    worker_type=_worker_type(w), call_site=ref.call_site or "disabled",
                    task_status=_task_status(self.pb2, ref), attempt=ref.attempt_number + 1,
                    object_size=ref.object_size, reference_type=reference_type(ref, oid),
                )
                job = w.job_id.hex()
                if job and job != NIL_JOB_ID:
                    row.job_id = job
                if w.worker_id:
                    row.worker_id = w.worker_id.hex()
                snap.refs.append(row)
        return snap

    def _workers(self, reply: Any) -> dict[int, WorkerInfo]:
        out: dict[int, WorkerInfo] = {}
        for w in reply.core_workers_stats:
            job = w.job_id.hex()
            actor = w.actor_id.hex()
            out[w.pid] = WorkerInfo(
                worker_id=w.worker_id.hex() or None,
                job_id=job if job and job != NIL_JOB_ID else None,
                is_actor=bool(actor) and actor != "f" * len(actor),
            )
        return out

    def close(self) -> None:
        self.channel.close()


def _worker_type(w: Any) -> str:
    name = type(w).DESCRIPTOR.fields_by_name["worker_type"].enum_type.values_by_number.get(w.worker_type)
    return "Driver" if name is not None and name.name == "DRIVER" else "Worker"


def _task_status(pb2: Any, ref: Any) -> str:
    enum = type(ref).DESCRIPTOR.fields_by_name["task_status"].enum_type
    value = enum.values_by_number.get(ref.task_status)
    name = value.name if value is not None else "?"
    return "-" if name == "NIL" else name
