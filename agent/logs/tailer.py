"""Tail every file of one directory, line by line, surviving rotation and truncation.

Why this shape: Ray writes thousands of small log files and rotates some of them
(`raylet.out` -> `raylet.out.1`). We re-scan the directory each poll, read with `pread`
from a remembered line-start offset, keep only a bounded number of fds open, and find a
rotated file again by its inode so its tail is finished before the new generation starts.
Offsets always point at the start of the next unshipped line, so a checkpoint of them can
be restored after a restart without gaps.

What cannot be read is reported, never skipped silently (a DropReport in the poll's result):
a rotated file deleted before its tail was read (its fd closed, or the agent down), and
backups rotated out of a live name since the tailer last looked that it never read (rotated
more than once between two looks, or a file created and rotated while the agent was down or
stalled). Backups seen on the very first look of an agent without a checkpoint are history
from before it and not read.

Every read is bounded by the poll's budget, also finishing a rotated file: its old generation
is held open (so a deletion cannot take it) and read over as many polls as it needs, while the
checkpoint keeps pointing at it (a restart resumes it). A line longer than `max_line` is cut
(its head shipped with `truncated_bytes`) or, with a `shrink` function, replaced by a shorter
form of itself; either way the cut is reported.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from rayscope.wire.limits import MAX_ITEM_BYTES
from rayscope.wire.rayscope_ingest_pb2 import DropReport, LogLine

log = logging.getLogger(__name__)

# Backups made by Python's RotatingFileHandler (`x.log.1`) and spdlog (`raylet.1.out`).
ROTATED_SUFFIX = re.compile(r"\.(\d+)(\.(out|err|log))?$")
CHUNK = 1 << 20
GONE = "rotated file deleted before it was read to the end"
UNREAD_BACKUP = "rotated file never read (rotated again before the agent read it)"
MAX_LOG_LINE = 256 * 1024  # a log line's cap (bytes past it are cut and reported); under MAX_ITEM_BYTES
RESTART_SLACK_S = 1.0  # a checkpoint is saved a moment after the look it records
MTIME_SLACK_S = 0.02  # file times may come from the kernel's coarse clock, up to a tick behind time.time()


def backup_of(name: str) -> Optional[tuple[str, int]]:
    """`x.log.3` -> ("x.log", 3), `raylet.2.out` -> ("raylet.out", 2); None for a live name."""
    m = ROTATED_SUFFIX.search(name)
    if m is None:
        return None
    return name[: m.start()] + (m.group(2) or ""), int(m.group(1))


@dataclass(frozen=True)
class Backup:
    name: str
    inode: int
    size: int
    mtime: float


@dataclass
class TailedFile:
    """What the tailer knows about one path; `offset` is the start of the next unshipped line."""

    path: str  # relative to the tailed directory
    inode: int
    generation: int = 0
    offset: int = 0
    fd: Optional[int] = None
    last_active: float = field(default_factory=time.monotonic)
    partial_since: Optional[float] = None  # when an unterminated last line was first seen
    partial_size: int = -1
    long_start: Optional[int] = None  # offset of an over-long line being skipped
    long_head: bytes = b""
    scan_pos: int = 0  # where the skip of an over-long line has got to
    size: int = 0  # as of the last listing: what is known to exist past `offset` if the file vanishes
    looked_at: float = 0.0  # wall time of the last listing this file was checked against
    prev_inode: Optional[int] = None  # the generation before this one (read, or reported)


@dataclass(frozen=True)
class Checkpoint:
    """The persisted position of one file: enough to resume without gaps."""

    path: str
    inode: int
    generation: int
    offset: int


@dataclass(frozen=True)
class Shrunk:
    """A shorter form of an over-long line (e.g. JSON with its long strings cut) and why."""

    text: bytes
    reason: str


LineReader = Callable[[int, int], bytes]  # (offset, length) -> the file's bytes there
Shrink = Callable[[LineReader, int, int], Optional[Shrunk]]  # (read, start, end) -> shorter line, or None


@dataclass
class PollResult:
    new_files: list[str] = field(default_factory=list)  # relative paths seen for the first time
    lines: list[LogLine] = field(default_factory=list)
    drops: list[DropReport] = field(default_factory=list)
    more: bool = False  # a cap stopped the poll early; call again


class Tailer:
    """Tails the regular files of `root` accepted by `accept(name)`."""

    def __init__(
        self,
        root: str,
        file_id_prefix: str,
        accept: Callable[[str], bool] = lambda name: True,
        max_line: int = MAX_LOG_LINE,
        partial_flush_s: float = 3.0,
        max_open: int = 128,
        idle_close_s: float = 30.0,
        source: str = "logs",
        shrink: Optional[Shrink] = None,
        path_prefix: str = "",
    ) -> None:
        if not 0 < max_line <= MAX_ITEM_BYTES:
            raise ValueError(f"max_line must be in 1..{MAX_ITEM_BYTES} (wire/limits.py), got {max_line}")
        self.root = root
        self.prefix = file_id_prefix
        # a subdirectory's tailer names its files by their path under the parent (e.g. "train/x.log")
        self.path_prefix = path_prefix
        self.accept = accept
        self.max_line = max_line
        self.partial_flush_s = partial_flush_s
        self.max_open = max_open
        self.idle_close_s = idle_close_s
        self.source = source
        self.shrink = shrink
        self.files: dict[str, TailedFile] = {}
        # Old generations of rotated files still being read to their end, oldest first; their fds
        # stay open until then, so the files cannot vanish under the reader.
        self.draining: list[TailedFile] = []
        self._restored: dict[str, Checkpoint] = {}
        # name -> False (not tailed), True (a live name) or (live name, index) for a backup; memoized
        self._wanted: dict[str, tuple[str, int] | bool] = {}
        self._looked_at: Optional[float] = None  # wall time of the last listing (or of the restored checkpoint)

    # ------------------------------------------------------------------ state
    def file_id(self, path: str) -> str:
        return f"{self.prefix}:{self.path_prefix}{path}"

    def checkpoint(self) -> list[Checkpoint]:
        """Positions of every known file (only call when all emitted lines are spooled)."""
        known = {p: Checkpoint(p, f.inode, f.generation, f.offset) for p, f in self.files.items()}
        # A name whose old generation is still being read resumes from that one after a restart
        # (the restore finds it under its backup name and finishes it, then starts the live one).
        for f in reversed(self.draining):
            known[f.path] = Checkpoint(f.path, f.inode, f.generation, f.offset)
        for p, c in self._restored.items():
            known.setdefault(p, c)
        return list(known.values())

    def restore(self, checkpoints: list[Checkpoint], saved_at: Optional[float] = None) -> None:
        """Resume from a previous process's checkpoint (saved at `saved_at`, wall time); applied
        when the files are next scanned. Files rotated since then and not found are reported."""
        self._restored = {c.path: c for c in checkpoints}
        if saved_at is not None:
            self._looked_at = saved_at - RESTART_SLACK_S

    def open_fds(self) -> int:
        return sum(1 for f in self.files.values() if f.fd is not None) + len(self.draining)

    def close(self) -> None:
        for f in [*self.files.values(), *self.draining]:
            self._close(f)
        self.draining.clear()

    # ------------------------------------------------------------------ polling
    def poll(self, max_lines: int = 5000, max_bytes: int = 4 << 20) -> PollResult:
        """Read what was appended since the last poll, at most about the caps."""
        res = PollResult()
        now = time.monotonic()
        looked_at = time.time()
        listing, backups = self._scan()
        by_inode = {ino: name for name, (ino, _) in listing.items()}
        for bs in backups.values():
            by_inode.update((b.inode, b.name) for b in bs)
        budget = [max_lines, max_bytes]
        for name, (ino, size) in listing.items():
            if name not in self.files:
                self._start(name, ino, size, by_inode, backups.get(name, ()), res, looked_at)
        self._resume_orphans(listing, by_inode, res)
        self._drain(res, budget, now)
        for name, tf in list(self.files.items()):
            if budget[0] <= 0 or budget[1] <= 0:
                res.more = True
                break
            entry = listing.get(name)
            if entry is None or entry[0] != tf.inode:
                self._finish_rotated(tf, by_inode, res, now, replaced=entry is not None)
                self._drain(res, budget, now)  # the old generation first, as far as the budget goes
                skipped = self._report_unread_backups(name, (tf.inode, tf.prev_inode), backups.get(name, ()), res,
                                                      tf.looked_at)
                if entry is None:
                    del self.files[name]
                    continue
                tf = self._new_generation(name, entry[0], tf.generation + 1 + skipped, prev_inode=tf.inode)
            size = tf.size = entry[1]
            tf.looked_at = looked_at
            if size < tf.offset:
                log.info("%s truncated (size %d < offset %d): new generation", name, size, tf.offset)
                self._close(tf)
                tf = self._new_generation(name, tf.inode, tf.generation + 1, prev_inode=tf.prev_inode)
                tf.size, tf.looked_at = size, looked_at
            if size > tf.offset:
                self._read(tf, size, res, budget, now, final=False)
        self._close_idle(now)
        self._looked_at = looked_at
        return res

    def _scan(self) -> tuple[dict[str, tuple[int, int]], dict[str, list[Backup]]]:
        """Live names -> (inode, size), and live name -> its rotated backups present."""
        out: dict[str, tuple[int, int]] = {}
        backups: dict[str, list[Backup]] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return out, backups
        wanted = self._wanted
        if len(wanted) > 4 * len(entries) + 1024:
            wanted.clear()  # names come and go; keep the memo bounded
        for e in entries:
            ok = wanted.get(e.name)
            if ok is None:
                ok = wanted[e.name] = backup_of(e.name) or bool(self.accept(e.name))
            if ok is False:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if ok is True:
                out[e.name] = (st.st_ino, st.st_size)
            else:  # a rotated backup: its content was (or will be) read under the live name
                backups.setdefault(ok[0], []).append(Backup(e.name, st.st_ino, st.st_size, st.st_mtime))
        return out, backups

    def _start(self, name: str, ino: int, size: int, by_inode: dict[int, str], backups: "tuple[()] | list[Backup]",
               res: PollResult, looked_at: float) -> None:
        cp = self._restored.pop(name, None)
        res.new_files.append(name)
        if cp is None:
            # New since the last look: backups it already has were written meanwhile and never read.
            skipped = self._report_unread_backups(name, (), backups, res, self._looked_at)
            self.files[name] = TailedFile(name, ino, skipped, size=size, looked_at=looked_at)
            return
        if cp.inode == ino:
            self.files[name] = TailedFile(name, ino, cp.generation, cp.offset, scan_pos=cp.offset, size=size,
                                          looked_at=looked_at)
            return
        # Rotated while we were down: finish the old inode if it is still there under a backup name.
        old_name = by_inode.get(cp.inode)
        if old_name is not None:
            old = TailedFile(old_name, cp.inode, cp.generation, cp.offset, scan_pos=cp.offset)
            old.path = name  # its lines belong to the live name's file id
            self._finish_by_path(old, old_name, res)
        else:
            self._report_gone(res, name, cp.generation, cp.offset, 0)
        skipped = self._report_unread_backups(name, (cp.inode,), backups, res, self._looked_at)
        self.files[name] = TailedFile(name, ino, cp.generation + 1 + skipped, size=size, looked_at=looked_at,
                                      prev_inode=cp.inode)

    def _resume_orphans(self, listing: dict[str, tuple[int, int]], by_inode: dict[int, str], res: PollResult) -> None:
        """A checkpointed file whose name is gone but whose inode is still here under a backup name
        (rotated while the agent was down, or while its old generation was being read, and no new
        file took the name): read it on from the checkpoint."""
        for name in [n for n, c in self._restored.items() if n not in listing and c.inode in by_inode]:
            cp = self._restored.pop(name)
            old = TailedFile(name, cp.inode, cp.generation, cp.offset, scan_pos=cp.offset)
            self._finish_by_path(old, by_inode[cp.inode], res)

    def _report_gone(self, res: PollResult, name: str, generation: int, offset: int, known: int) -> None:
        """The old inode of `name` is gone with an unread tail: at least `known` bytes, maybe more."""
        log.warning("%s rotated away and deleted before it was read past offset %d: its tail is lost", name, offset)
        how_much = f"at least {known} bytes" if known > 0 else "its size when deleted is unknown"
        res.drops.append(DropReport(
            source=self.source, reason=GONE, count=0, bytes=max(known, 0), ts=time.time(),
            detail=f"{name} generation {generation}: not read past offset {offset} ({how_much})",
        ))

    def _report_unread_backups(self, name: str, known: tuple[Optional[int], ...], backups: "tuple[()] | list[Backup]",
                               res: PollResult, since: Optional[float]) -> int:
        """Backups of `name` written after `since` (the last look at it), other than the `known`
        inodes (the one being finished and the one before it), were rotated out before the tailer
        ever read them. Returns how many (each was a generation)."""
        if since is None or not backups:
            return 0  # the first look of an agent without a checkpoint: older backups are history
        unread = [b for b in backups if b.inode not in known and b.mtime > since - MTIME_SLACK_S]
        if not unread:
            return 0
        nbytes = sum(b.size for b in unread)
        names = ", ".join(f"{b.name} ({b.size} bytes)" for b in sorted(unread, key=lambda b: b.name))
        log.warning("%s: %d rotated file(s) (%d bytes) were never read", name, len(unread), nbytes)
        res.drops.append(DropReport(
            source=self.source, reason=UNREAD_BACKUP, count=0, bytes=nbytes, ts=time.time(),
            detail=f"{name}: {names}"[:300],
        ))
        return len(unread)

    def _drain(self, res: PollResult, budget: list[int], now: float) -> None:
        """Read old generations of rotated files on, within the poll's budget; close those done."""
        while self.draining:
            if budget[0] <= 0 or budget[1] <= 0:
                res.more = True
                return
            tf = self.draining[0]
            assert tf.fd is not None
            if not self._read(tf, os.fstat(tf.fd).st_size, res, budget, now, final=True):
                res.more = True
                return
            self._close(tf)
            self.draining.pop(0)

    def _new_generation(self, name: str, ino: int, generation: int, prev_inode: Optional[int] = None) -> TailedFile:
        tf = TailedFile(name, ino, generation, prev_inode=prev_inode)
        self.files[name] = tf
        return tf

    def _finish_rotated(self, tf: TailedFile, by_inode: dict[int, str], res: PollResult, now: float,
                        replaced: bool) -> None:
        """The path now names another file (or none): the old inode is read to its end, over as many
        polls as its tail needs (see _drain). If it is gone, report it: always when another file
        took its name (it was rotated, so it grew past what we saw), else only if bytes we saw were
        unread (a file deleted after it was read is no loss)."""
        backup = by_inode.get(tf.inode)
        if tf.fd is None and backup is not None:
            try:
                tf.fd = os.open(os.path.join(self.root, backup), os.O_RDONLY)
            except OSError:
                tf.fd = None
        if tf.fd is not None:
            self.draining.append(tf)
            return
        if replaced or tf.size > tf.offset:
            self._report_gone(res, tf.path, tf.generation, tf.offset, tf.size - tf.offset)

    def _finish_by_path(self, tf: TailedFile, real_name: str, res: PollResult) -> None:
        try:
            tf.fd = os.open(os.path.join(self.root, real_name), os.O_RDONLY)
        except OSError:  # deleted since the listing
            self._report_gone(res, tf.path, tf.generation, tf.offset, 0)
            return
        self.draining.append(tf)  # read on within each poll's budget

    # ------------------------------------------------------------------ reading
    def _ensure_open(self, tf: TailedFile) -> bool:
        if tf.fd is not None:
            return True
        try:
            fd = os.open(os.path.join(self.root, tf.path), os.O_RDONLY)
        except OSError:
            return False
        if os.fstat(fd).st_ino != tf.inode:
            os.close(fd)  # replaced between scan and open; the next poll handles it
            return False
        tf.fd = fd
        return True

    def _close(self, tf: TailedFile) -> None:
        if tf.fd is not None:
            os.close(tf.fd)
            tf.fd = None

    def _close_idle(self, now: float) -> None:
        open_files = [f for f in self.files.values() if f.fd is not None]
        for f in open_files:
            if now - f.last_active >= self.idle_close_s:
                self._close(f)
        open_files = [f for f in open_files if f.fd is not None]
        if len(open_files) > self.max_open:
            open_files.sort(key=lambda f: f.last_active)
            for f in open_files[: len(open_files) - self.max_open]:
                self._close(f)

    def _read(self, tf: TailedFile, size: int, res: PollResult, budget: list[int], now: float, final: bool) -> bool:
        """Read lines up to `size` within the budget; True when it got to `size` (with `final`, the
        last line is then shipped even without its newline), False when the budget ran out first."""
        if not self._ensure_open(tf):
            return False
        assert tf.fd is not None
        pos = max(tf.offset, tf.scan_pos)
        read_at = time.time()
        while pos < size and budget[0] > 0 and budget[1] > 0:
            chunk = os.pread(tf.fd, min(CHUNK, size - pos), pos)
            if not chunk:
                break
            tf.last_active = now
            if tf.long_start is not None:
                nl = chunk.find(b"\n")
                if nl < 0:
                    pos += len(chunk)
                    tf.scan_pos = pos
                    continue
                end = pos + nl
                self._emit_long(tf, end, res, read_at, budget)
                pos = end + 1
                continue
            # process complete lines in [line_start, pos+len(chunk))
            data = chunk if pos == tf.offset else os.pread(tf.fd, pos + len(chunk) - tf.offset, tf.offset)
            start = 0
            base = tf.offset
            while True:
                nl = data.find(b"\n", start)
                if nl < 0 or budget[0] <= 0 or budget[1] <= 0:
                    break
                if nl - start > self.max_line:
                    tf.long_start, tf.long_head = base + start, data[start : start + self.max_line]
                    self._emit_long(tf, base + nl, res, read_at, budget)
                else:
                    self._emit(tf, base + start, data[start:nl], res, read_at, budget)
                start = nl + 1
                tf.offset = base + start
            pos = base + len(data)
            tf.scan_pos = tf.offset
            if budget[0] <= 0 or budget[1] <= 0:
                res.more = True
                return False
            rest = len(data) - start
            if rest > self.max_line:
                tf.long_start, tf.long_head = tf.offset, data[start : start + self.max_line]
                tf.scan_pos = pos
        if pos < size and (budget[0] <= 0 or budget[1] <= 0):
            res.more = True
            return False
        self._maybe_flush_partial(tf, size, res, read_at, now, final)
        return True

    def _emit(self, tf: TailedFile, offset: int, text: bytes, res: PollResult, read_at: float, budget: list[int]) -> None:
        res.lines.append(
            LogLine(file_id=self.file_id(tf.path), offset=offset, generation=tf.generation, text=text, read_at=read_at)
        )
        budget[0] -= 1
        budget[1] -= len(text) + 64

    def _emit_long(self, tf: TailedFile, end: int, res: PollResult, read_at: float,
                   budget: Optional[list[int]] = None) -> None:
        """Ship an over-long line ending at `end` cut short, and report the cut: its shorter form
        from `shrink` if that gives one, else its first `max_line` bytes."""
        assert tf.long_start is not None and tf.fd is not None
        fd = tf.fd
        short = self.shrink(lambda at, n: os.pread(fd, n, at), tf.long_start, end) if self.shrink else None
        text = short.text if short is not None else tf.long_head
        reason = short.reason if short is not None else f"line over {self.max_line} bytes cut"
        cut = end - tf.long_start - len(text)
        if budget is not None:
            budget[0] -= 1
            budget[1] -= len(text) + 64
        res.lines.append(
            LogLine(
                file_id=self.file_id(tf.path), offset=tf.long_start, generation=tf.generation,
                text=text, read_at=read_at, truncated_bytes=cut,
            )
        )
        res.drops.append(
            DropReport(
                source=self.source, reason=reason, count=0, bytes=cut,
                detail=f"{tf.path}:{tf.long_start}", ts=read_at,
            )
        )
        tf.offset = end + 1
        tf.scan_pos = tf.offset
        tf.long_start, tf.long_head = None, b""

    def _maybe_flush_partial(self, tf: TailedFile, size: int, res: PollResult, read_at: float, now: float, final: bool) -> None:
        """An unterminated last line is shipped once the file stopped growing for a while."""
        pending = size - tf.offset
        if pending <= 0:
            tf.partial_since = None
            return
        if tf.partial_since is None or size != tf.partial_size:
            tf.partial_since, tf.partial_size = now, size
            if not final:
                return
        if not final and now - tf.partial_since < self.partial_flush_s:
            return
        assert tf.fd is not None
        if tf.long_start is not None:
            self._emit_long(tf, size, res, read_at)
            tf.offset = size  # no newline was consumed
            tf.scan_pos = size
        else:
            text = os.pread(tf.fd, pending, tf.offset)
            self._emit(tf, tf.offset, text, res, read_at, [1 << 62, 1 << 62])
            tf.offset = size
            tf.scan_pos = size
        tf.partial_since = None
