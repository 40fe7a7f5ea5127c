"""Name a Ray log file: its kind and the worker/job/pid that Ray encodes in the file name."""
from __future__ import annotations

import re

from rayscope.wire.rayscope_ingest_pb2 import LogFile, LogKind

NIL_JOB = "ffffffff"

_WORKER_OUT = re.compile(r"^worker-(?P<wid>[0-9a-f]+)-(?P<job>[0-9a-f]+)-(?P<pid>\d+)\.(?P<ext>out|err)$")
_CORE = re.compile(r"^python-core-(?P<who>worker|driver)-(?P<wid>[0-9a-f]+)_(?P<pid>\d+)\.log$")
_JOB_DRIVER = re.compile(r"^job-driver-(?P<sub>.+)\.log$")
_PREFIX_KINDS: tuple[tuple[str, LogKind], ...] = (
    ("raylet.", LogKind.LOG_RAYLET),
    ("gcs_server.", LogKind.LOG_GCS),
    ("dashboard", LogKind.LOG_DASHBOARD),
    ("runtime_env", LogKind.LOG_RUNTIME_ENV),
    ("monitor.", LogKind.LOG_MONITOR),
    ("log_monitor.", LogKind.LOG_MONITOR),
)


def describe(node_id: str, rel_path: str) -> LogFile:
    """Build the LogFile message for a path relative to `<session>/logs`."""
    name = rel_path.rsplit("/", 1)[-1]
    lf = LogFile(file_id=f"{node_id}:{rel_path}", node_id=node_id, path=rel_path, kind=LogKind.LOG_OTHER)
    m = _WORKER_OUT.match(name)
    if m:
        lf.kind = LogKind.LOG_WORKER_STDOUT if m["ext"] == "out" else LogKind.LOG_WORKER_STDERR
        lf.worker_id, lf.pid = m["wid"], int(m["pid"])
        if m["job"] != NIL_JOB:
            lf.job_id = m["job"]
        return lf
    m = _CORE.match(name)
    if m:
        lf.kind = LogKind.LOG_CORE_WORKER if m["who"] == "worker" else LogKind.LOG_CORE_DRIVER
        lf.worker_id, lf.pid = m["wid"], int(m["pid"])
        if m["who"] == "driver":
            lf.job_id = m["wid"][:8]  # a driver's worker id starts with its job id
        return lf
    m = _JOB_DRIVER.match(name)
    if m:
        lf.kind, lf.submission_id = LogKind.LOG_JOB_DRIVER, m["sub"]
        return lf
    for prefix, kind in _PREFIX_KINDS:
        if name.startswith(prefix):
            lf.kind = kind
            break
    return lf


def is_log_file(name: str) -> bool:
    """Files of `<session>/logs` worth tailing (not Ray's debug state dump, which is rewritten)."""
    return name != "debug_state.txt" and not name.startswith(".")
