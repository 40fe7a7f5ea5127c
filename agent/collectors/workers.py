"""GCS's worker table (what `ray list workers` shows): every worker and driver ever registered,
with its exit type and detail once it died.

Why the head node's agent reads it: a dead worker's process is gone, so the process snapshots
(which drive the live columns) forget it; only GCS records how it ended (SYSTEM_ERROR,
INTENDED_USER_EXIT, NODE_OUT_OF_MEMORY...), and Ray's export events carry no worker source.
The table is cluster-wide and GCS has no node filter, so one agent (the head node's) reads it.
Rows go into the durable batch only when they are new or changed since the last spooled read
(`commit` after the spool append), so a disk that refuses a batch does not lose a change.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import grpc

from rayscope.agent.collectors.ray_protos import ray_generated
from rayscope.wire.rayscope_ingest_pb2 import WorkerEvent

log = logging.getLogger(__name__)

POLL_EVERY_S = 5.0


@dataclass(frozen=True)
class WorkerRow:
    """The fields of a GCS worker row that can change over its life, with the row as it is shipped."""

    event: WorkerEvent

    @property
    def signature(self) -> tuple[object, ...]:
        e = self.event
        return (e.is_alive, e.exit_type, e.exit_detail, e.end_time, e.job_id, e.pid, e.node_id)


def _hex(raw: bytes) -> str:
    return raw.hex()


def worker_event(row: Any, exit_type_name: Any, worker_type_name: Any, now: float) -> WorkerEvent:
    """One WorkerTableData as a WorkerEvent: ids in hex, times in unix seconds."""
    addr = row.worker_address
    ev = WorkerEvent(worker_id=_hex(addr.worker_id), node_id=_hex(addr.node_id), pid=row.pid,
                     worker_type=worker_type_name(row.worker_type), is_alive=row.is_alive, event_time=now)
    if row.job_id:
        ev.job_id = _hex(row.job_id)
    if row.HasField("exit_type"):
        ev.exit_type = exit_type_name(row.exit_type)
    if row.HasField("exit_detail") and row.exit_detail:
        ev.exit_detail = row.exit_detail
    if row.start_time_ms:
        ev.start_time = row.start_time_ms / 1000.0
    if row.end_time_ms:
        ev.end_time = row.end_time_ms / 1000.0
    if addr.ip_address:
        ev.node_ip = addr.ip_address
    return ev


class WorkerTableCollector:
    """Polls GCS's GetAllWorkerInfo every POLL_EVERY_S; `poll` gives the rows to ship, `commit` marks them shipped."""

    def __init__(self, gcs_address: str, token: Optional[str], timeout_s: float = 5.0) -> None:
        self.gcs = ray_generated("gcs_service_pb2")
        common = ray_generated("common_pb2")
        self._exit_name = common.WorkerExitType.Name
        self._type_name = common.WorkerType.Name
        self.channel = grpc.insecure_channel(gcs_address, options=[("grpc.max_receive_message_length", 512 << 20)])
        self.stub = ray_generated("gcs_service_pb2_grpc").WorkerInfoGcsServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout_s = timeout_s
        self._shipped: dict[str, tuple[object, ...]] = {}
        self._polled_at = 0.0
        self.errors = 0

    def poll(self, force: bool = False) -> list[WorkerRow]:
        """New or changed rows since the last commit; [] between polls or when GCS did not answer."""
        now = time.time()
        if not force and now - self._polled_at < POLL_EVERY_S:
            return []
        self._polled_at = now
        try:
            reply = self.stub.GetAllWorkerInfo(self.gcs.GetAllWorkerInfoRequest(), timeout=self.timeout_s,
                                               metadata=self.metadata)
        except grpc.RpcError as e:
            self.errors += 1
            if self.errors == 1 or self.errors % 60 == 0:
                log.warning("GCS GetAllWorkerInfo failed (%d so far): %s %s", self.errors, e.code(), e.details())
            return []
        rows = [WorkerRow(worker_event(r, self._exit_name, self._type_name, now)) for r in reply.worker_table_data]
        return [r for r in rows if self._shipped.get(r.event.worker_id) != r.signature]

    def commit(self, rows: list[WorkerRow]) -> None:
        """The rows are in the spool: do not ship them again until they change."""
        for r in rows:
            self._shipped[r.event.worker_id] = r.signature

    def close(self) -> None:
        self.channel.close()
