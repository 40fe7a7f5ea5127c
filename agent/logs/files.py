"""Name a Ray log file: its kind and the worker/job/pid that Ray encodes in the file name."""
from __future__ import annotations

import re

from rayscope.runtime.log_names import parse_core_log, parse_worker_log
from rayscope.wire.rayscope_ingest_pb2 import LogFile, LogKind

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
    w = parse_worker_log(name)
    if w:
        lf.kind = LogKind.LOG_WORKER_STDOUT if w.stream == "out" else LogKind.LOG_WORKER_STDERR
        lf.worker_id, lf.pid = w.worker_id, w.pid
        if w.job_id:
            lf.job_id = w.job_id
        return lf
    c = parse_core_log(name)
    if c:
        lf.kind = LogKind.LOG_CORE_DRIVER if c.is_driver else LogKind.LOG_CORE_WORKER
        lf.worker_id, lf.pid = c.worker_id, c.pid
        if c.job_id:
            lf.job_id = c.job_id
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
