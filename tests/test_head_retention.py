"""Retention (dashboard/store/retention.py) on the real schema: it deletes exactly what is older
than the policy; an error inside one of its transactions (a real SQLite failure, raised by a
trigger) rolls that transaction back and leaves the writer's connection usable, also in a real
head process, whose next batches still commit."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from head_process import IngestClient, running_head, task_event
from polling import wait_for
from rayscope.dashboard.store.connection import open_reader, open_writer
from rayscope.dashboard.store.log_index import index_new_lines, trigram_query
from rayscope.dashboard.store.retention import CHUNK, RetentionPolicy, enforce
from rayscope.dashboard.store.schema_rollup import ROLLUP_S
from rayscope.wire import rayscope_ingest_pb2 as pb

NOW = 1_800_000_000.0
HOURS = 2.0
CUT = NOW - HOURS * 3600
NODE = "ab" * 28
N_OLD_LINES = 2 * CHUNK + 1234  # three chunks
# seconds relative to the cut: older ones go, the rest (the cut itself included) stay
SAMPLE_AGES = [-7200.0, -1.0, -0.001, 0.0, 0.001, 3600.0]


def _node_sample(ts: float) -> tuple:
    return (NODE, ts, 1.0, 100, 50, 0, 1000, 10, 0, 0, 0, 0, 0)


def _fill(conn: sqlite3.Connection, cut: float = CUT) -> None:
    """Samples and lines around `cut` (SAMPLE_AGES), N_OLD_LINES lines an hour before it, one old task."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO node_samples (node_id, ts, cpu_percent, mem_total, mem_used, swap_used, disk_total, "
                     "disk_used, disk_read_bytes, disk_write_bytes, net_sent_bytes, net_recv_bytes, gpu_count) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [_node_sample(cut + a) for a in SAMPLE_AGES])
    conn.executemany("INSERT INTO object_store_samples (node_id, ts, used_bytes, capacity_bytes, spilled_bytes_total, "
                     "restored_bytes_total, num_objects, fallback_bytes) VALUES (?, ?, 1, 2, 0, 0, 1, 0)",
                     [(NODE, cut + a) for a in SAMPLE_AGES])
    conn.execute("INSERT INTO log_files (file_id, node_id, path, basename, kind) "
                 "VALUES ('f', ?, 'f.out', 'f.out', 'worker_stdout')", (NODE,))
    # old lines first (ids 1..N_OLD_LINES, oldest first), then lines at and after the cut
    conn.executemany("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES ('f', 0, ?, ?, ?)",
                     [(i, f"old line {i}", cut - 3600 + i * 0.01) for i in range(N_OLD_LINES)])
    conn.executemany("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES ('f', 0, ?, ?, ?)",
                     [(N_OLD_LINES + i, f"kept line {i}", cut + a) for i, a in enumerate(SAMPLE_AGES[3:])])
    conn.execute("INSERT INTO tasks (task_id, attempt, job_id, name, state, state_rank, creation_time) "
                 "VALUES (?, 0, '01000000', 'ancient', 'FINISHED', 4, ?)", ("cd" * 24, cut - 86400))
    index_new_lines(conn)  # as the writer does before each COMMIT
    conn.execute("COMMIT")


def _snapshot(conn: sqlite3.Connection) -> dict:
    q = lambda sql: [tuple(r) for r in conn.execute(sql)]  # noqa: E731
    return {
        "node_samples": q("SELECT ts FROM node_samples ORDER BY ts"),
        "object_store_samples": q("SELECT ts FROM object_store_samples ORDER BY ts"),
        "node_rollup": q("SELECT slot FROM node_rollup ORDER BY slot"),
        "log_lines": q("SELECT id, text, read_at FROM log_lines ORDER BY id"),
        "tasks": q("SELECT task_id FROM tasks"),
        "log_files": q("SELECT file_id, lines FROM log_files"),
    }


@pytest.fixture
def db(tmp_path: Path):
    conn = open_writer(tmp_path / "head.db")
    _fill(conn)
    reader = open_reader(tmp_path / "head.db")
    yield conn, reader
    reader.close()
    conn.close()


def _fts_ok(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO log_fts(log_fts, rank) VALUES ('integrity-check', 1)")


def test_retention_deletes_exactly_what_is_older_than_the_policy(db) -> None:
    conn, reader = db
    before = _snapshot(reader)
    n = enforce(conn, RetentionPolicy.from_flag(HOURS), NOW)
    after = _snapshot(reader)
    kept_ts = [(CUT + a,) for a in SAMPLE_AGES if a >= 0]
    assert after["node_samples"] == kept_ts and after["object_store_samples"] == kept_ts
    assert after["log_lines"] == [r for r in before["log_lines"] if r[2] >= CUT]
    assert after["tasks"] == before["tasks"] and after["log_files"] == before["log_files"]
    # the rollup's slots (schema_rollup.py) go with the samples: those wholly before the cut
    kept_slots = sorted({(int((CUT + a) // ROLLUP_S),) for a in SAMPLE_AGES if a >= 0})
    assert after["node_rollup"] == kept_slots
    assert n == 2 * 3 + (len(before["node_rollup"]) - len(kept_slots)) + N_OLD_LINES
    _fts_ok(conn)
    count = "SELECT count(*) FROM log_fts WHERE log_fts MATCH ?"
    assert reader.execute(count, (trigram_query("old line"),)).fetchone()[0] == 0
    assert reader.execute(count, (trigram_query("kept line"),)).fetchone()[0] == 3


def test_without_a_log_policy_lines_stay_and_samples_keep_a_day(db) -> None:
    conn, reader = db
    before = _snapshot(reader)
    enforce(conn, RetentionPolicy(), CUT + 24 * 3600)
    after = _snapshot(reader)
    assert after["log_lines"] == before["log_lines"]
    assert after["node_samples"] == [(CUT + a,) for a in SAMPLE_AGES if a >= 0]


def test_the_newest_line_stays_so_line_ids_never_restart(db) -> None:
    conn, reader = db
    newest = reader.execute("SELECT max(id) FROM log_lines").fetchone()[0]
    enforce(conn, RetentionPolicy.from_flag(HOURS), NOW + 365 * 86400)  # everything is old
    assert [r[0] for r in reader.execute("SELECT id FROM log_lines")] == [newest]
    conn.execute("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES ('f', 1, 0, 'new', ?)",
                 (NOW,))
    assert reader.execute("SELECT id FROM log_lines WHERE text = 'new'").fetchone()[0] == newest + 1


def test_an_error_inside_the_samples_transaction_changes_nothing_and_the_connection_stays_usable(db) -> None:
    conn, reader = db
    before = _snapshot(reader)
    # node_samples are deleted first, in the same transaction: the failure comes after that
    conn.execute("CREATE TRIGGER fail_mid_way BEFORE DELETE ON object_store_samples "
                 "BEGIN SELECT RAISE(ABORT, 'injected: object store samples cannot go'); END")
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        enforce(conn, RetentionPolicy.from_flag(HOURS), NOW)
    assert not conn.in_transaction
    assert _snapshot(conn) == before and _snapshot(reader) == before  # the writer's own view too
    conn.execute("DROP TRIGGER fail_mid_way")  # usable: the next write transaction starts and commits
    enforce(conn, RetentionPolicy.from_flag(HOURS), NOW)
    assert _snapshot(reader)["object_store_samples"] == [(CUT + a,) for a in SAMPLE_AGES if a >= 0]


def test_an_error_in_a_log_chunk_rolls_that_chunk_back_and_keeps_the_ones_before(db) -> None:
    conn, reader = db
    before = _snapshot(reader)
    conn.execute(f"CREATE TRIGGER fail_mid_way BEFORE DELETE ON log_lines WHEN old.id = {CHUNK + 100} "
                 "BEGIN SELECT RAISE(ABORT, 'injected: this line cannot go'); END")
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        enforce(conn, RetentionPolicy.from_flag(HOURS), NOW)
    assert not conn.in_transaction
    first_chunk_gone = [r for r in before["log_lines"] if r[0] > CHUNK]
    assert _snapshot(conn)["log_lines"] == first_chunk_gone and _snapshot(reader)["log_lines"] == first_chunk_gone
    _fts_ok(conn)
    conn.execute("DROP TRIGGER fail_mid_way")
    enforce(conn, RetentionPolicy.from_flag(HOURS), NOW)
    assert _snapshot(reader)["log_lines"] == [r for r in before["log_lines"] if r[2] >= CUT]


def test_a_head_whose_retention_failed_still_commits_batches(tmp_path: Path) -> None:
    db_path = tmp_path / "head.db"
    conn = open_writer(db_path)
    _fill(conn, time.time() - 4 * 3600)  # samples hours old: retention at startup deletes them (here: fails)
    conn.execute("CREATE TRIGGER fail_mid_way BEFORE DELETE ON object_store_samples "
                 "BEGIN SELECT RAISE(ABORT, 'injected: object store samples cannot go'); END")
    conn.close()
    with running_head(workdir=tmp_path, db_path=db_path, extra_args=["--retention-hours", "1"]) as head:
        wait_for("the head's retention to fail", lambda: "injected: object store samples" in head.log_text(),
                 timeout=60, context=head.log_text)
        task = "ef" * 24
        with IngestClient(head.grpc_address, head.token) as c:
            seq = c.hello("agent-after-retention", NODE)
            assert c.send(pb.Batch(seq=seq + 1, tasks=[task_event(task, name="after_retention",
                                                                  states={"RUNNING": time.time()})])) == seq + 1
        r = head.get(f"/tasks/{task}")
        assert r.status_code == 200 and r.json()[0]["name"] == "after_retention", r.text
        assert head.get("/ingest/health").json()["drops"] == [], head.get("/ingest/health").text
