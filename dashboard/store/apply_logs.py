"""Storing log files and lines. Lines are keyed by (file_id, generation, offset), so a resent
line is ignored by INSERT OR IGNORE and the per-file counters only count what was new."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from rayscope.dashboard.store.context import ApplyContext, MalformedItem, require_hex
from rayscope.wire import rayscope_ingest_pb2 as pb


def kind_name(kind: int) -> str:
    """LogKind enum -> API string: LOG_WORKER_STDOUT -> worker_stdout."""
    try:
        return pb.LogKind.Name(kind).removeprefix("LOG_").lower()
    except ValueError:
        return "other"


def _opt(msg, name: str):
    return getattr(msg, name) if msg.HasField(name) else None


UPSERT_FILE = """
INSERT INTO log_files (file_id, node_id, path, basename, kind, worker_id, job_id, pid, actor_id, submission_id)
VALUES (:file_id, :node_id, :path, :basename, :kind, :worker_id, :job_id, :pid, :actor_id, :submission_id)
ON CONFLICT (file_id) DO UPDATE SET
  node_id = excluded.node_id, path = excluded.path, basename = excluded.basename,
  kind = CASE WHEN excluded.kind != 'other' THEN excluded.kind ELSE log_files.kind END,
  worker_id = coalesce(excluded.worker_id, log_files.worker_id),
  job_id = coalesce(excluded.job_id, log_files.job_id),
  pid = coalesce(excluded.pid, log_files.pid),
  actor_id = coalesce(excluded.actor_id, log_files.actor_id),
  submission_id = coalesce(excluded.submission_id, log_files.submission_id)
"""

INSERT_LINE = """
INSERT OR IGNORE INTO log_lines (file_id, generation, offset, text, is_binary, truncated_bytes, read_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""


def file_params(f: pb.LogFile) -> dict:
    if not f.file_id:
        raise MalformedItem("empty file_id")
    require_hex(f.node_id, "node_id")
    if not f.path or f.path.startswith("/") or ".." in f.path.split("/"):
        raise MalformedItem("path must be relative to the session's logs dir")
    return {
        "file_id": f.file_id, "node_id": f.node_id, "path": f.path,
        "basename": f.path.rsplit("/", 1)[-1], "kind": kind_name(f.kind),
        "worker_id": _opt(f, "worker_id") or None, "job_id": _opt(f, "job_id") or None,
        "pid": _opt(f, "pid") or None, "actor_id": _opt(f, "actor_id") or None,
        "submission_id": _opt(f, "submission_id") or None,
    }


def apply_log_files(ctx: ApplyContext, files: Iterable[pb.LogFile]) -> None:
    for f in files:
        try:
            params = file_params(f)
        except MalformedItem as err:
            ctx.drop("logs", err, f"log file {f.file_id!r}")
            continue
        ctx.conn.execute(UPSERT_FILE, params)


def decode_text(raw: bytes) -> tuple[str, bool]:
    """UTF-8 with replacement characters; the flag says the bytes were binary (not valid UTF-8,
    or holding NUL). NUL becomes U+FFFD too: SQLite's full-text index stops reading at a NUL,
    so anything after it could never be found."""
    binary = b"\x00" in raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text, binary = raw.decode("utf-8", errors="replace"), True
    return (text.replace("\x00", "\ufffd"), True) if binary else (text, False)


@dataclass
class _FileTally:
    lines: int = 0
    size: int = 0
    last: float = 0.0


def _ensure_file(ctx: ApplyContext, file_id: str) -> None:
    """A line whose LogFile never arrived is kept under a placeholder file on the agent's node."""
    ctx.conn.execute(
        "INSERT OR IGNORE INTO log_files (file_id, node_id, path, basename, kind) VALUES (?, ?, ?, ?, 'other')",
        (file_id, ctx.node_id, file_id, file_id.rsplit("/", 1)[-1]),
    )


def apply_log_lines(ctx: ApplyContext, lines: Iterable[pb.LogLine]) -> None:
    tallies: dict[str, _FileTally] = {}
    known: set[str] = set()
    execute = ctx.conn.execute
    for ln in lines:
        if not ln.file_id or ln.offset < 0 or not math.isfinite(ln.read_at):
            ctx.drop("logs", MalformedItem("log line without file_id, with a negative offset or bad time"),
                     f"{ln.file_id!r}:{ln.offset}", len(ln.text))
            continue
        if ln.file_id not in known:
            _ensure_file(ctx, ln.file_id)
            known.add(ln.file_id)
        text, binary = decode_text(ln.text)
        cur = execute(INSERT_LINE, (ln.file_id, ln.generation, ln.offset, text, int(binary),
                                    ln.truncated_bytes, ln.read_at))
        if cur.rowcount:
            t = tallies.setdefault(ln.file_id, _FileTally())
            t.lines += 1
            t.size += len(ln.text) + 1
            t.last = max(t.last, ln.read_at)
    for file_id, t in tallies.items():
        execute(
            "UPDATE log_files SET lines = lines + ?, size = size + ?, "
            "last_line_at = max(coalesce(last_line_at, 0), ?) WHERE file_id = ?",
            (t.lines, t.size, t.last, file_id),
        )
        ctx.delta("logs", {"file_id": file_id, "new_lines": t.lines})
