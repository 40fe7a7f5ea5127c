"""Submitted jobs in the head's store: the latest snapshot per submission id wins (by event time, then
status), joined to the driver job that carries the submission id, listed and filtered like any job."""
from __future__ import annotations

import sqlite3
import time

import pytest

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
    # the Jobs page refreshes the driver's row; a submission without a known driver has no row to refresh
    assert deltas == {"jobs": [{"job_id": "05000000", "submission_id": "raysubmit_1", "submission_status": "RUNNING"}]}
    assert feed.send(submission_jobs=[sub("PENDING", T0, sid="raysubmit_2")]) == {}
    feed.send(submission_jobs=[sub("SUCCEEDED", T0 + 5, entrypoint="python ok.py", message="Job finished successfully.",
                                   driver_exit_code=0, end_time_ms=int((T0 + 5) * 1000),
                                   runtime_env="env_vars(1), working_dir")])
    feed.send(jobs=[pb.JobEvent(job_id="06000000", event_time=T0 + 2, driver_pid=43)])  # a hand-started driver
    by_id = {j.job_id: j for j in jobs(store)}
    j = by_id["05000000"]
    assert (j.submission_id, j.submission_status, j.submission_entrypoint, j.submission_message) == (
        "raysubmit_1", "SUCCEEDED", "python ok.py", "Job finished successfully.")
    assert (j.driver_exit_code, j.runtime_env, j.submission_end_time) == (0, "env_vars(1), working_dir", T0 + 5)
    plain = by_id["06000000"]
    assert plain.submission_id is None and plain.submission_status is None
    assert store.job("05000000") == j
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
