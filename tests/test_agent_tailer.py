"""The log tailer on real files: rotation, truncation, partial lines, binary, huge lines, restarts."""
from __future__ import annotations

import os
import time
from pathlib import Path

from polling import wait_for
from rayscope.agent.logs.files import describe
from rayscope.agent.logs.tailer import GONE, UNREAD_BACKUP, Tailer, backup_of
from rayscope.wire.rayscope_ingest_pb2 import LogKind


def lines_of(t: Tailer, **kw) -> list[tuple[str, int, int, bytes, int]]:
    res = t.poll(**kw)
    return [(ln.file_id.split(":", 1)[1], ln.generation, ln.offset, ln.text, ln.truncated_bytes) for ln in res.lines]


def write(p: Path, data: bytes, mode: str = "ab") -> None:
    with open(p, mode) as f:
        f.write(data)


def test_lines_offsets_and_new_files(tmp_path: Path) -> None:
    write(tmp_path / "a.out", b"one\ntwo\n")
    t = Tailer(str(tmp_path), "n1")
    res = t.poll()
    assert res.new_files == ["a.out"]
    assert [(ln.offset, ln.text) for ln in res.lines] == [(0, b"one"), (4, b"two")]
    assert res.lines[0].file_id == "n1:a.out"
    write(tmp_path / "a.out", b"three\n")
    write(tmp_path / "b.err", b"x\n")
    got = lines_of(t)
    assert ("a.out", 0, 8, b"three", 0) in got and ("b.err", 0, 0, b"x", 0) in got
    assert lines_of(t) == []


def test_partial_line_waits_then_flushes(tmp_path: Path) -> None:
    p = tmp_path / "a.out"
    write(p, b"done\npart")
    t = Tailer(str(tmp_path), "n", partial_flush_s=0.3)
    assert lines_of(t) == [("a.out", 0, 0, b"done", 0)]
    assert lines_of(t) == []  # partial: not yet
    write(p, b"ial\n")
    assert lines_of(t) == [("a.out", 0, 5, b"partial", 0)]
    write(p, b"stuck")
    assert lines_of(t) == []
    # flushed once it has not grown for longer than partial_flush_s
    assert wait_for("the stuck partial line", lambda: lines_of(t), 5, every=0.05) == [("a.out", 0, 13, b"stuck", 0)]


def test_partial_flush_exactly_once(tmp_path: Path) -> None:
    p = tmp_path / "a.out"
    write(p, b"stuck")
    t = Tailer(str(tmp_path), "n", partial_flush_s=0.2)
    seen = wait_for("the partial line flushed", lambda: [ln.text for ln in t.poll().lines], 5, every=0.05)
    assert seen == [b"stuck"]
    for _ in range(5):
        assert t.poll().lines == []
    write(p, b" more\n")
    assert lines_of(t) == [("a.out", 0, 5, b" more", 0)]


def test_rotation_finishes_old_file_then_new_generation(tmp_path: Path) -> None:
    p = tmp_path / "raylet.out"
    write(p, b"a\n")
    t = Tailer(str(tmp_path), "n")
    assert lines_of(t) == [("raylet.out", 0, 0, b"a", 0)]
    write(p, b"b\n")  # written before rotation, not yet read
    os.rename(p, tmp_path / "raylet.out.1")
    write(p, b"c\n")
    got = lines_of(t)
    assert got == [("raylet.out", 0, 2, b"b", 0), ("raylet.out", 1, 0, b"c", 0)]
    assert lines_of(t) == []  # the backup is not tailed again under its own name


def test_rotation_after_fd_closed_found_by_inode(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    write(p, b"a\n")
    t = Tailer(str(tmp_path), "n", idle_close_s=0.0)
    lines_of(t)
    assert t.open_fds() == 0
    write(p, b"b\n")
    os.rename(p, tmp_path / "x.log.1")
    write(p, b"c\n")
    assert lines_of(t) == [("x.log", 0, 2, b"b", 0), ("x.log", 1, 0, b"c", 0)]


def test_truncation_starts_new_generation(tmp_path: Path) -> None:
    p = tmp_path / "a.out"
    write(p, b"hello world\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    write(p, b"new\n", mode="wb")
    assert lines_of(t) == [("a.out", 1, 0, b"new", 0)]


def test_binary_bytes_shipped_raw(tmp_path: Path) -> None:
    raw = bytes(range(256)).replace(b"\n", b"")
    write(tmp_path / "b.out", raw + b"\n\xff\xfe\x00\n")
    t = Tailer(str(tmp_path), "n")
    got = lines_of(t)
    assert [g[3] for g in got] == [raw, b"\xff\xfe\x00"]


def test_ten_megabyte_line_is_cut_and_reported(tmp_path: Path) -> None:
    p = tmp_path / "big.out"
    big = b"x" * (10 * 1024 * 1024)
    write(p, b"before\n" + big + b"\nafter\n")
    t = Tailer(str(tmp_path), "n", max_line=256 * 1024)
    lines, drops = [], []
    for _ in range(20):
        r = t.poll()
        lines += r.lines
        drops += r.drops
    assert [ln.text[:6] for ln in lines] == [b"before", b"xxxxxx", b"after"]
    cut = lines[1]
    assert len(cut.text) == 256 * 1024 and cut.truncated_bytes == len(big) - 256 * 1024 and cut.offset == 7
    assert lines[2].offset == 7 + len(big) + 1
    assert len(drops) == 1 and drops[0].detail == "big.out:7" and drops[0].bytes == cut.truncated_bytes


def test_huge_line_written_in_pieces(tmp_path: Path) -> None:
    p = tmp_path / "big.out"
    t = Tailer(str(tmp_path), "n", max_line=1000, partial_flush_s=60)
    for _ in range(10):
        write(p, b"y" * 700)
        assert t.poll().lines == []
    write(p, b"\nok\n")
    got = lines_of(t)
    assert got == [("big.out", 0, 0, b"y" * 1000, 6000), ("big.out", 0, 7001, b"ok", 0)]


def test_restart_resumes_from_checkpoint_without_gap(tmp_path: Path) -> None:
    p = tmp_path / "w.out"
    write(p, b"1\n2\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    cps = t.checkpoint()
    t.close()
    write(p, b"3\n")
    t2 = Tailer(str(tmp_path), "n")
    t2.restore(cps)
    assert lines_of(t2) == [("w.out", 0, 4, b"3", 0)]


def test_restart_after_rotation_while_down(tmp_path: Path) -> None:
    p = tmp_path / "r.log"
    write(p, b"1\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    cps = t.checkpoint()
    t.close()
    write(p, b"2\n")
    os.rename(p, tmp_path / "r.log.1")
    write(p, b"3\n")
    t2 = Tailer(str(tmp_path), "n")
    t2.restore(cps)
    assert lines_of(t2) == [("r.log", 0, 2, b"2", 0), ("r.log", 1, 0, b"3", 0)]


def test_many_files_bounded_fds(tmp_path: Path) -> None:
    for i in range(300):
        write(tmp_path / f"worker-{i:04d}.out", f"line {i}\n".encode())
    t = Tailer(str(tmp_path), "n", max_open=50)
    assert len(t.poll().lines) == 300
    assert t.open_fds() <= 50
    for i in range(0, 300, 7):
        write(tmp_path / f"worker-{i:04d}.out", b"again\n")
    assert len(t.poll().lines) == len(range(0, 300, 7))
    assert t.open_fds() <= 50


def test_caps_split_a_backlog(tmp_path: Path) -> None:
    write(tmp_path / "a.out", b"".join(b"%d\n" % i for i in range(1000)))
    t = Tailer(str(tmp_path), "n")
    r = t.poll(max_lines=300)
    assert len(r.lines) == 300 and r.more
    rest = []
    while True:
        r = t.poll(max_lines=300)
        rest += r.lines
        if not r.more:
            break
    assert [int(ln.text) for ln in rest] == list(range(300, 1000))


def test_log_file_names() -> None:
    lf = describe("nid", "worker-abc123-02000000-4651.out")
    assert (lf.kind, lf.worker_id, lf.job_id, lf.pid) == (LogKind.LOG_WORKER_STDOUT, "abc123", "02000000", 4651)
    lf = describe("nid", "worker-abc123-ffffffff-4651.err")
    assert lf.kind == LogKind.LOG_WORKER_STDERR and not lf.HasField("job_id")
    lf = describe("nid", "python-core-driver-01000000ffff_4632.log")
    assert (lf.kind, lf.job_id, lf.pid) == (LogKind.LOG_CORE_DRIVER, "01000000", 4632)
    assert describe("nid", "raylet.out").kind == LogKind.LOG_RAYLET
    assert describe("nid", "gcs_server.err").kind == LogKind.LOG_GCS
    assert describe("nid", "job-driver-raysubmit_X.log").submission_id == "raysubmit_X"
    assert describe("nid", "raylet.out").file_id == "nid:raylet.out"


# ---------------------------------------------------------------- losses are reported (issue 12)


def drops_of(res) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in res.drops:
        out.setdefault(d.reason, []).append(d)
    return out


def test_rotation_while_down_with_the_backup_gone_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "r.log"
    write(p, b"1\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    cps = t.checkpoint()
    t.close()
    saved_at = time.time()
    write(p, b"2\n")  # never read: the agent is down
    os.rename(p, tmp_path / "r.log.1")
    write(p, b"3\n")
    os.unlink(tmp_path / "r.log.1")  # the backup is gone before the agent is back
    t2 = Tailer(str(tmp_path), "n")
    t2.restore(cps, saved_at)
    res = t2.poll()
    assert [(ln.generation, ln.offset, ln.text) for ln in res.lines] == [(1, 0, b"3")]
    (gone,) = drops_of(res)[GONE]
    assert gone.source == "logs" and "r.log generation 0: not read past offset 2" in gone.detail


def test_rotation_with_the_fd_closed_and_the_backup_gone_reports_what_was_unread(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    write(p, b"a\nbb\nccc\n")
    t = Tailer(str(tmp_path), "n", idle_close_s=0.0)
    assert [ln.text for ln in t.poll(max_lines=1).lines] == [b"a"]  # 7 bytes seen, not yet read
    assert t.open_fds() == 0
    os.rename(p, tmp_path / "x.log.1")
    write(p, b"new\n")  # before the unlink: a new file must not get the old inode number back
    os.unlink(tmp_path / "x.log.1")
    res = t.poll()
    assert [(ln.generation, ln.text) for ln in res.lines] == [(1, b"new")]
    (gone,) = drops_of(res)[GONE]
    assert gone.bytes == 7 and "x.log generation 0: not read past offset 2 (at least 7 bytes)" in gone.detail


def test_a_deleted_file_that_was_read_is_no_loss(tmp_path: Path) -> None:
    write(tmp_path / "d.log", b"a\n")
    t = Tailer(str(tmp_path), "n", idle_close_s=0.0)
    lines_of(t)
    os.unlink(tmp_path / "d.log")
    assert t.poll().drops == []


def test_a_generation_rotated_out_between_two_looks_is_reported(tmp_path: Path) -> None:
    """Rotated twice between polls (a stalled agent): the old inode is finished through its open fd,
    the generation in between was never read: its bytes are reported, the live one is generation 2."""
    p = tmp_path / "x.log"
    write(p, b"a\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    write(p, b"b\n")
    os.rename(p, tmp_path / "x.log.1")
    write(p, b"middle\n")
    os.rename(tmp_path / "x.log.1", tmp_path / "x.log.2")
    os.rename(p, tmp_path / "x.log.1")
    write(p, b"d\n")
    res = t.poll()
    assert [(ln.generation, ln.text) for ln in res.lines] == [(0, b"b"), (2, b"d")]
    (unread,) = drops_of(res)[UNREAD_BACKUP]
    assert unread.bytes == len(b"middle\n") and "x.log.1 (7 bytes)" in unread.detail
    write(p, b"e\n")
    assert t.poll().drops == []  # the old backups are not reported again


def test_a_file_created_and_rotated_between_looks_reports_its_backup(tmp_path: Path) -> None:
    write(tmp_path / "old.log.1", b"history\n")  # on the first look: before the agent, not a loss
    write(tmp_path / "old.log", b"x\n")
    t = Tailer(str(tmp_path), "n")
    res = t.poll()
    assert res.drops == [] and [ln.text for ln in res.lines] == [b"x"]
    write(tmp_path / "y.log", b"first\n")
    os.rename(tmp_path / "y.log", tmp_path / "y.log.1")
    write(tmp_path / "y.log", b"second\n")
    res = t.poll()
    assert [(ln.file_id, ln.generation, ln.text) for ln in res.lines] == [("n:y.log", 1, b"second")]
    (unread,) = drops_of(res)[UNREAD_BACKUP]
    assert unread.bytes == 6 and unread.detail == "y.log: y.log.1 (6 bytes)"


def test_one_rotation_between_looks_reports_nothing(tmp_path: Path) -> None:
    p = tmp_path / "raylet.out"
    write(p, b"a\n")
    t = Tailer(str(tmp_path), "n", idle_close_s=0.0)  # fd closed: the old file is found by inode
    lines_of(t)
    write(p, b"b\n")
    os.rename(p, tmp_path / "raylet.1.out")  # spdlog's backup name
    write(p, b"c\n")
    res = t.poll()
    assert [(ln.generation, ln.text) for ln in res.lines] == [(0, b"b"), (1, b"c")]
    assert res.drops == []
    write(p, b"d\n")
    os.rename(tmp_path / "raylet.1.out", tmp_path / "raylet.2.out")
    os.rename(p, tmp_path / "raylet.1.out")
    write(p, b"e\n")
    res = t.poll()
    assert [(ln.generation, ln.text) for ln in res.lines] == [(1, b"d"), (2, b"e")]
    assert res.drops == []  # raylet.2.out is the generation read before: not reported


def test_backup_names() -> None:
    assert backup_of("x.log.3") == ("x.log", 3)
    assert backup_of("raylet.2.out") == ("raylet.out", 2)
    assert backup_of("gcs_server.1.err") == ("gcs_server.err", 1)
    assert backup_of("worker-ab-01000000-4651.out") is None
    assert backup_of("raylet.out") is None


def test_a_rotation_after_a_truncation_reports_nothing(tmp_path: Path) -> None:
    write(tmp_path / "t.log.1", b"an old backup\n")
    os.utime(tmp_path / "t.log.1", (time.time() - 3600, time.time() - 3600))  # written an hour ago
    p = tmp_path / "t.log"
    write(p, b"long first line\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    write(p, b"cut\n", mode="wb")  # truncated: a new generation of the same inode
    assert lines_of(t) == [("t.log", 1, 0, b"cut", 0)]
    os.rename(tmp_path / "t.log.1", tmp_path / "t.log.2")
    os.rename(p, tmp_path / "t.log.1")
    write(p, b"next\n")
    res = t.poll()
    assert [(ln.generation, ln.text) for ln in res.lines] == [(2, b"next")]
    assert res.drops == []  # t.log.2 was history before the first look


def test_a_rotated_tail_is_read_within_the_poll_budget_and_survives_a_restart(tmp_path: Path) -> None:
    """The old generation of a rotated file is read over several polls (never in one unbounded
    read); while it is, the checkpoint points at it, so a restart finishes it from there (after
    deleting the backup's name, its open fd still reads it)."""
    p = tmp_path / "w.out"
    write(p, b"first\n")
    t = Tailer(str(tmp_path), "n")
    assert lines_of(t) == [("w.out", 0, 0, b"first", 0)]
    tail = [b"%03d " % i + b"x" * 1000 for i in range(100)]
    write(p, b"".join(ln + b"\n" for ln in tail))
    os.rename(p, tmp_path / "w.out.1")
    write(p, b"new\n")
    res = t.poll(max_lines=1000, max_bytes=20_000)
    assert res.more
    first = [ln.text for ln in res.lines]
    assert first == tail[: len(first)] and 10 <= len(first) < 30  # the budget, overshot by at most one line
    (cp,) = t.checkpoint()
    assert (cp.path, cp.inode, cp.generation) == ("w.out", os.stat(tmp_path / "w.out.1").st_ino, 0)
    t.close()

    restarted = Tailer(str(tmp_path), "n")
    restarted.restore([cp])
    got: list[tuple[int, bytes]] = []
    for _ in range(20):
        res = restarted.poll(max_lines=1000, max_bytes=20_000)
        got += [(ln.generation, ln.text) for ln in res.lines]
        if not res.more and got and got[-1][1] == b"new":
            break
    assert got == [(0, ln) for ln in tail[len(first):]] + [(1, b"new")]
    assert restarted.poll().lines == []


def test_a_rotated_file_being_drained_is_read_to_its_end_after_its_name_is_deleted(tmp_path: Path) -> None:
    p = tmp_path / "w.out"
    write(p, b"first\n")
    t = Tailer(str(tmp_path), "n")
    lines_of(t)
    tail = [b"%03d " % i + b"y" * 1000 for i in range(50)]
    write(p, b"".join(ln + b"\n" for ln in tail))
    os.rename(p, tmp_path / "w.out.1")
    got = [ln.text for ln in t.poll(max_lines=1000, max_bytes=10_000).lines]
    assert 0 < len(got) < len(tail)  # the rest is still to be read when the name goes
    os.unlink(tmp_path / "w.out.1")
    for _ in range(20):
        res = t.poll(max_lines=1000, max_bytes=10_000)
        got += [ln.text for ln in res.lines]
        assert not res.drops
        if not res.more:
            break
    assert got == tail
    assert t.open_fds() == 0


def test_a_checkpointed_file_renamed_away_while_down_is_read_on_from_its_backup(tmp_path: Path) -> None:
    """No new file took the name: the old inode is found under its backup name and finished."""
    p = tmp_path / "w.out"
    write(p, b"one\n")
    t = Tailer(str(tmp_path), "n")
    assert lines_of(t) == [("w.out", 0, 0, b"one", 0)]
    cps = t.checkpoint()
    t.close()
    write(p, b"two\n")
    os.rename(p, tmp_path / "w.out.1")
    restarted = Tailer(str(tmp_path), "n")
    restarted.restore(cps)
    assert lines_of(restarted) == [("w.out", 0, 4, b"two", 0)]
    assert restarted.checkpoint() == [] and restarted.open_fds() == 0
