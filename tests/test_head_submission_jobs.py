"""Submitted jobs in the head's store: the latest snapshot per submission id wins (by event time, then
status), joined to the driver job that carries the submission id, listed and filtered like any job;
a submission no driver job names is a row of its own (job_id null) until its driver arrives."""
from __future__ import annotations

import sqlite3
import time

import pytest

from rayscope.dashboard.errors import NotFound
from rayscope.dashboard.store import Store, specs
from rayscope.dashboard.store.apply_batch import apply_batch, record_hello
from rayscope.dashboard.store.listing import ListQuery
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "aa" * 28
T0 = 1_796_405_600.0


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "head.db")
    s.writer.call(record_hello, pb.AgentHello(agent_id="a", node_id=NODE), time.time())
    yield s
    s.close()


class Feed:
    def __init__(self, store: Store) -> None:
        self.store, self.seq = store, 0

    def send(self, **items) -> dict[str, list[dict]]:
        """Apply one batch; the WebSocket deltas it produced."""
        self.seq += 1
        return self.store.writer.call(apply_batch, "a", NODE, pb.Batch(seq=self.seq, **items), True).deltas


def sub(status: str, t: float, sid: str = "raysubmit_1", **kw) -> pb.SubmissionJobEvent:
    return pb.SubmissionJobEvent(submission_id=sid, status=status, event_time=t, **kw)


def jobs(store: Store, *filters: str) -> list:
    return store.page(specs.JOBS, ListQuery(filters=list(filters))).rows


def test_driver_job_joined_to_its_latest_submission(store) -> None:
    feed = Feed(store)
    feed.send(submission_jobs=[sub("PENDING", T0, entrypoint="python ok.py", start_time_ms=int(T0 * 1000))])
    feed.send(jobs=[pb.JobEvent(job_id="05000000", event_time=T0 + 1, driver_pid=42, submission_id="raysubmit_1",
                                start_time_ms=int((T0 + 1) * 1000))])
    deltas = feed.send(submission_jobs=[sub("RUNNING", T0 + 1, entrypoint="python ok.py", driver_node_id=NODE)])
    # the Jobs page refreshes the driver's row; a submission without a known driver refreshes its own row
    assert deltas == {"jobs": [{"job_id": "05000000", "submission_id": "raysubmit_1", "submission_status": "RUNNING"}]}
    assert feed.send(submission_jobs=[sub("PENDING", T0, sid="raysubmit_2")]) == {
        "jobs": [{"job_id": None, "submission_id": "raysubmit_2", "submission_status": "PENDING"}]}
    feed.send(submission_jobs=[sub("SUCCEEDED", T0 + 5, entrypoint="python ok.py", message="Job finished successfully.",
                                   driver_exit_code=0, end_time_ms=int((T0 + 5) * 1000),
                                   runtime_env="env_vars(1), working_dir")])
    feed.send(jobs=[pb.JobEvent(job_id="06000000", event_time=T0 + 2, driver_pid=43)])  # a hand-started driver
    by_id = {j.job_id: j for j in jobs(store)}
    assert set(by_id) == {"05000000", "06000000", None}  # None: raysubmit_2, which has no driver
    j = by_id["05000000"]
    assert (j.submission_id, j.submission_status, j.submission_entrypoint, j.submission_message) == (
        "raysubmit_1", "SUCCEEDED", "python ok.py", "Job finished successfully.")
    assert (j.driver_exit_code, j.runtime_env, j.submission_end_time) == (0, "env_vars(1), working_dir", T0 + 5)
    plain = by_id["06000000"]
    assert plain.submission_id is None and plain.submission_status is None
    assert store.job("05000000") == j
    assert store.job("raysubmit_1") == j  # a submission id names its driver's row
    assert [r.job_id for r in jobs(store, "submission_status=SUCCEEDED")] == ["05000000"]
    assert [r.job_id for r in jobs(store, "submission_id=raysubmit_1")] == ["05000000"]


def test_an_older_or_earlier_status_never_moves_a_submission_back(store) -> None:
    feed = Feed(store)
    feed.send(submission_jobs=[sub("FAILED", T0 + 3, message="exit code 1", driver_exit_code=1)])
    feed.send(submission_jobs=[sub("RUNNING", T0 + 1)])  # a resend of an older event
    feed.send(submission_jobs=[sub("RUNNING", T0 + 3)])  # same second as the end (Ray stamps whole seconds)
    row = store.conn.execute("SELECT status, message, driver_exit_code FROM submission_jobs").fetchone()
    assert tuple(row) == ("FAILED", "exit code 1", 1)
    feed.send(submission_jobs=[sub("RUNNING", T0 + 10)])  # a newer event wins (e.g. a resubmission)
    assert store.conn.execute("SELECT status FROM submission_jobs").fetchone()[0] == "RUNNING"


def test_a_bad_submission_is_dropped_with_a_report(store) -> None:
    feed = Feed(store)
    feed.send(submission_jobs=[sub("EXPLODED", T0), sub("RUNNING", T0, sid=""), sub("RUNNING", T0, sid="ok")])
    assert [r[0] for r in store.conn.execute("SELECT submission_id FROM submission_jobs")] == ["ok"]
    drops = {d.reason: d.count for d in store.ingest_health().drops}
    assert drops == {"malformed at head: unknown submitted job status 'EXPLODED'": 1,
                     "malformed at head: empty submission_id": 1}


def test_a_store_written_before_submitted_jobs_opens(tmp_path) -> None:
    """A finished cluster's DB from an older head (history mode) gains the join column on open."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT 'RUNNING', "
                 "driver_pid INTEGER, driver_ip TEXT, entrypoint TEXT, ray_namespace TEXT, start_time REAL, "
                 "end_time REAL) WITHOUT ROWID")
    conn.execute("INSERT INTO jobs (job_id, state) VALUES ('01000000', 'FINISHED')")
    conn.commit()
    conn.close()
    s = Store(db)
    try:
        (j,) = jobs(s)
        assert (j.job_id, j.state, j.submission_id, j.submission_status) == ("01000000", "FINISHED", None, None)
    finally:
        s.close()


def test_a_pending_submission_is_listed_until_its_driver_arrives(store) -> None:
    """PENDING (runtime env being set up): a row of its own, job_id null; once the driver job names
    the submission, that driver's row carries it and the submission's own row is gone."""
    feed = Feed(store)
    feed.send(submission_jobs=[sub("PENDING", T0, entrypoint="python slow.py", start_time_ms=int(T0 * 1000),
                                   runtime_env="pip(3)")])
    (row,) = jobs(store)
    assert (row.job_id, row.state, row.submission_id, row.submission_status) == (
        None, "RUNNING", "raysubmit_1", "PENDING")
    assert (row.entrypoint, row.submission_entrypoint, row.start_time, row.runtime_env) == (
        "python slow.py", "python slow.py", T0, "pip(3)")
    assert (row.driver_pid, row.driver_ip, row.end_time) == (None, None, None)
    assert store.job("raysubmit_1") == row
    assert [r.submission_id for r in jobs(store, "state=RUNNING")] == ["raysubmit_1"]
    assert jobs(store, "state=FINISHED") == []
    assert [r.submission_id for r in jobs(store, "submission_status=PENDING")] == ["raysubmit_1"]
    # the driver arrives: its delta names the submission whose row it replaces
    deltas = feed.send(jobs=[pb.JobEvent(job_id="07000000", event_time=T0 + 2, driver_pid=44,
                                         submission_id="raysubmit_1", start_time_ms=int((T0 + 2) * 1000))])
    assert deltas == {"jobs": [{"job_id": "07000000", "state": None, "submission_id": "raysubmit_1"}]}
    (row,) = jobs(store)
    assert (row.job_id, row.driver_pid, row.submission_id, row.submission_status) == (
        "07000000", 44, "raysubmit_1", "PENDING")
    feed.send(submission_jobs=[sub("RUNNING", T0 + 2, entrypoint="python slow.py", start_time_ms=int(T0 * 1000))])
    (row,) = jobs(store)  # one row per submission, never two
    assert (row.job_id, row.submission_status) == ("07000000", "RUNNING")
    assert store.job("raysubmit_1") == store.job("07000000") == row


def test_a_submission_that_failed_before_any_driver_is_listed(store) -> None:
    """E.g. `python -c 'import sys; sys.exit(2)'` or a bad runtime env: Ray ends the submission FAILED
    and no driver job ever exists. The row is FINISHED, with Ray's message and the exit code."""
    feed = Feed(store)
    feed.send(jobs=[pb.JobEvent(job_id="01000000", event_time=T0, driver_pid=40, is_dead=True,
                                start_time_ms=int(T0 * 1000), end_time_ms=int((T0 + 1) * 1000))])
    feed.send(submission_jobs=[sub("PENDING", T0 + 2, sid="rs_bad", start_time_ms=int((T0 + 2) * 1000),
                                   entrypoint="python -c 'import sys; sys.exit(2)'")])
    deltas = feed.send(submission_jobs=[sub(
        "FAILED", T0 + 3, sid="rs_bad", entrypoint="python -c 'import sys; sys.exit(2)'",
        message="Job entrypoint command failed with exit code 2, last available logs: ...", driver_exit_code=2,
        error_type="JOB_ENTRYPOINT_COMMAND_ERROR", start_time_ms=int((T0 + 2) * 1000),
        end_time_ms=int((T0 + 3) * 1000))])
    assert deltas == {"jobs": [{"job_id": None, "submission_id": "rs_bad", "submission_status": "FAILED"}]}
    rows = jobs(store)
    assert [(r.job_id, r.submission_id) for r in rows] == [(None, "rs_bad"), ("01000000", None)]  # newest first
    bad = rows[0]
    assert (bad.state, bad.submission_status, bad.driver_exit_code, bad.submission_error_type) == (
        "FINISHED", "FAILED", 2, "JOB_ENTRYPOINT_COMMAND_ERROR")
    assert (bad.start_time, bad.end_time, bad.submission_end_time) == (T0 + 2, T0 + 3, T0 + 3)
    assert "exit code 2" in (bad.submission_message or "")
    assert jobs(store, "submission_status=FAILED") == [bad]
    assert [r.submission_id for r in jobs(store, "state=FINISHED")] == ["rs_bad", None]
    assert jobs(store, "job_id=01000000")[0].submission_id is None
    assert store.job("rs_bad") == bad
    with pytest.raises(NotFound, match="no job rs_nope"):
        store.job("rs_nope")


def test_the_cursor_pages_driverless_submissions_and_drivers_alike(store) -> None:
    """Every sort, one row per page: each row exactly once, the rows without a job_id included (their
    key is the submission id), ties on the sort value and null sort values too."""
    feed = Feed(store)
    feed.send(jobs=[pb.JobEvent(job_id=f"{i:02x}000000", event_time=T0, driver_pid=i,
                                submission_id="rs_joined" if i == 3 else "",
                                start_time_ms=int((T0 + i % 2) * 1000)) for i in range(1, 5)])
    feed.send(submission_jobs=[sub("FAILED", T0, sid=f"rs_{i}", start_time_ms=int((T0 + i % 2) * 1000))
                               for i in range(4)] + [sub("PENDING", T0, sid="rs_nostart"), sub("RUNNING", T0,
                                                                                              sid="rs_joined")])
    want = sorted([("01000000", None), ("02000000", None), ("03000000", "rs_joined"), ("04000000", None)]
                  + [(None, f"rs_{i}") for i in range(4)] + [(None, "rs_nostart")], key=str)
    for sort in ("-start_time", "start_time", "job_id", "-job_id", "submission_id", "-submission_status", "state"):
        seen, cursor = [], None
        while True:
            page = store.page(specs.JOBS, ListQuery(sort=sort, limit=1, cursor=cursor))
            seen += [(r.job_id, r.submission_id) for r in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(seen, key=str) == want, sort
        assert len(seen) == len(want), sort


@pytest.mark.parametrize("status,state", [("PENDING", "RUNNING"), ("RUNNING", "RUNNING"), ("STOPPED", "FINISHED"),
                                          ("SUCCEEDED", "FINISHED"), ("FAILED", "FINISHED")])
def test_the_state_of_a_submission_without_a_driver(store, status: str, state: str) -> None:
    """`state` stays RUNNING/FINISHED: not over yet, or over (e.g. STOPPED before it started)."""
    Feed(store).send(submission_jobs=[sub(status, T0)])
    (row,) = jobs(store, f"state={state}")
    assert (row.job_id, row.submission_id, row.submission_status) == (None, "raysubmit_1", status)
