"""The web UI's Jobs page and job page for submissions without a driver job (`ray job submit` jobs
that are still PENDING, or failed before their entrypoint called ray.init): real Chromium over a real
head fed through the real wire. When the driver of the pending one arrives, the live page turns its
row into the driver's: one row per submission."""
from __future__ import annotations

import time
from typing import Iterator

import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from head_process import HeadProcess, IngestClient, running_head
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ce" * 28
PENDING, BAD, DRIVER = "rs_ui_pending", "rs_ui_bad", "0a000000"
MESSAGE = "Job entrypoint command failed with exit code 2, last available logs (truncated to 20,000 chars):"
SUPERVISOR_LINE = "supervisor says the entrypoint exited"


def _batches() -> list[pb.Batch]:
    now = time.time()
    subs = [
        pb.SubmissionJobEvent(submission_id=PENDING, status="PENDING", entrypoint="python slow.py",
                              start_time_ms=int((now - 5) * 1000), runtime_env="pip(2)", event_time=now - 5),
        pb.SubmissionJobEvent(submission_id=BAD, status="FAILED", entrypoint="python -c 'import sys; sys.exit(2)'",
                              message=MESSAGE, driver_exit_code=2, start_time_ms=int((now - 9) * 1000),
                              end_time_ms=int((now - 8) * 1000), event_time=now - 8),
    ]
    log = pb.LogFile(file_id="sup-log", node_id=NODE, path=f"job-driver-{BAD}.log", kind=pb.LOG_JOB_DRIVER,
                     submission_id=BAD)
    line = pb.LogLine(file_id="sup-log", offset=0, text=SUPERVISOR_LINE.encode(), read_at=now)
    node = pb.NodeEvent(node_id=NODE, state="ALIVE", node_ip="192.0.2.7", is_head_node=True, event_time=now)
    return [pb.Batch(seq=1, nodes=[node], submission_jobs=subs, log_files=[log], log_lines=[line])]


@pytest.fixture(scope="module")
def fed() -> Iterator[tuple[HeadProcess, Tab]]:
    with running_head() as head:
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello("agent-subs", NODE)
            for b in _batches():
                assert c.send(b) == b.seq
        browser = Browser()
        try:
            yield head, browser.tab(f"{head.http_url}/#token={head.token}")
        finally:
            browser.close()


def _submission_rows(tab: Tab, sid: str):
    return tab.page.get_by_test_id("jobs-table").locator("tbody tr", has_text=sid)


def test_jobs_page_lists_submissions_without_a_driver(fed) -> None:
    _, tab = fed
    tab.open("/jobs", "page-jobs")
    for sid, status in ((PENDING, "PENDING"), (BAD, "FAILED")):
        row = _submission_rows(tab, sid)
        expect(row).to_have_count(1)
        expect(row.get_by_test_id("job-no-driver")).to_have_count(1)
        expect(row.locator(f"[data-state={status}]")).to_have_count(1)
    expect(_submission_rows(tab, BAD)).to_contain_text("exit 2")
    tab.shot("jobs_without_driver")
    _submission_rows(tab, BAD).get_by_test_id("job-no-driver").click()
    expect(tab.page.get_by_test_id("page-job")).to_be_visible()
    kv = tab.page.locator("dl.kv")
    expect(kv).to_contain_text(BAD)
    expect(kv).to_contain_text("no driver job")
    expect(tab.page.get_by_test_id("job-submission-message")).to_contain_text("exit code 2")
    expect(tab.page.get_by_test_id("log-lines")).to_contain_text(SUPERVISOR_LINE)  # the job supervisor's log
    tab.shot("job_without_driver")
    assert tab.take_errors() == []


def test_the_driver_arriving_takes_over_the_submissions_row(fed) -> None:
    head, tab = fed
    tab.open("/jobs", "page-jobs")
    expect(_submission_rows(tab, PENDING).get_by_test_id("job-no-driver")).to_have_count(1)
    now = time.time()
    with IngestClient(head.grpc_address, head.token) as c:
        seq = c.hello("agent-subs", NODE)
        driver = pb.JobEvent(job_id=DRIVER, event_time=now, driver_pid=77, driver_ip="192.0.2.7",
                             submission_id=PENDING, start_time_ms=int(now * 1000))
        running = pb.SubmissionJobEvent(submission_id=PENDING, status="RUNNING", entrypoint="python slow.py",
                                        start_time_ms=int((now - 5) * 1000), event_time=now)
        assert c.send(pb.Batch(seq=seq + 1, jobs=[driver], submission_jobs=[running])) == seq + 1
    row = _submission_rows(tab, PENDING)  # the live page: WebSocket delta, no reload
    expect(row).to_have_count(1)
    expect(row).to_contain_text(DRIVER)
    expect(row.locator("[data-state=RUNNING]")).to_have_count(2)  # the driver job's state and the submission's
    expect(row.get_by_test_id("job-no-driver")).to_have_count(0)
    tab.open(f"/jobs/{PENDING}", "page-job")  # a submission id still finds its job, now the driver's
    expect(tab.page.locator("dl.kv")).to_contain_text(DRIVER)
    assert tab.take_errors() == []
