"""The web UI never cuts a list silently (issue 12 §4): past a page (jobs 1,000; objects 1,000;
processes 2,000 per node; workers 1,000; the job pickers 200) it says more exist and loads the next
page on request (log files: 10,000). Real Chromium over a real head fed through the real wire with just over each
page's size of rows (no limit is lowered for the test); the counts are the ones sent.
"""
from __future__ import annotations

import time
from typing import Iterator

import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from head_process import IngestClient, running_head
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "cd" * 28
N_JOBS = 1_005      # page 1,000 (jobs page), 200 (pickers)
N_RUNNING = 12      # the latest jobs are running: more than the overview's 10 latest jobs
N_OBJECTS = 1_003   # page 1,000
N_PROCS = 2_004     # page 2,000 per node
N_WORKERS = 1_002   # page 1,000
N_FILES = 10_001    # page 10,000
N_DRIVER_LINES = 600  # 500 shown first; 10 kB each, so 500 span more than one ~4 MiB page of the head
DRIVER_LINE = "x" * 10_000


def _batch() -> pb.Batch:
    now = time.time()
    jobs = [pb.JobEvent(job_id=f"{i:08x}", is_dead=i <= N_JOBS - N_RUNNING, driver_pid=10_000 + i,
                        start_time_ms=int((now - 5000 + i) * 1000),
                        end_time_ms=int((now - 4000 + i) * 1000), entrypoint=f"python job_{i}.py", event_time=now)
            for i in range(1, N_JOBS + 1)]
    procs = pb.ProcessSnapshot(ts=now, processes=[
        pb.RayProcess(pid=20_000 + i, ppid=1, role="worker", title=f"ray::IDLE_{i}", cpu_percent=float(i % 97), rss=1 << 20,
                      uss=1 << 19, num_fds=5, num_threads=2, create_time=now - 100) for i in range(N_PROCS)])
    objects = pb.ObjectSnapshot(ts=now, refs=[
        pb.ObjectRef(object_id=f"{i:056x}", node_ip="192.0.2.9", pid=20_000, worker_type="Driver", call_site="disabled",
                     task_status="FINISHED", attempt=1, object_size=1000 + i, reference_type="LOCAL_REFERENCE")
        for i in range(N_OBJECTS)])
    workers = [pb.WorkerEvent(worker_id=f"{i + 1:056x}", node_id=NODE, pid=30_000 + i, worker_type="WORKER", is_alive=False,
                              exit_type="INTENDED_SYSTEM_EXIT", exit_detail="idle", start_time=now - 50, end_time=now - 10,
                              event_time=now) for i in range(N_WORKERS)]
    files = [pb.LogFile(file_id=f"f{i:05d}", node_id=NODE, path=f"extra_{i:05d}.log",
                        kind=pb.LOG_OTHER) for i in range(N_FILES)]
    return pb.Batch(seq=1, jobs=jobs, processes=procs, objects=objects, workers=workers, log_files=files,
                    nodes=[pb.NodeEvent(node_id=NODE, state="ALIVE", node_ip="192.0.2.9", is_head_node=True, event_time=now)])


def _driver_log_batch() -> pb.Batch:
    """A driver log of job 00000001 whose first 500 lines are over one byte-capped page of the head."""
    now = time.time()
    log = pb.LogFile(file_id="driver-log", node_id=NODE, path="job-driver-raysubmit_paging.log", kind=pb.LOG_JOB_DRIVER,
                     job_id="00000001")
    lines = [pb.LogLine(file_id="driver-log", offset=i * (len(DRIVER_LINE) + 6), text=f"{i:05d}{DRIVER_LINE}".encode(),
                        read_at=now) for i in range(N_DRIVER_LINES)]
    return pb.Batch(seq=2, log_files=[log], log_lines=lines)


@pytest.fixture(scope="module")
def tab() -> Iterator[Tab]:
    with running_head() as head:
        with IngestClient(head.grpc_address, head.token) as c:
            c.hello("agent-paging", NODE)
            assert c.send(_batch()) == 1
            assert c.send(_driver_log_batch()) == 2
        browser = Browser()
        try:
            yield browser.tab(f"{head.http_url}/#token={head.token}")
        finally:
            browser.close()


def _rows(tab: Tab, testid: str):
    return tab.page.locator(f"[data-testid={testid}] tbody tr, [data-testid={testid}] button.file")


def _pages_through(tab: Tab, path: str, page_id: str, table: str, first: int, total: int, what: str) -> None:
    tab.open(path, page_id)
    expect(_rows(tab, table)).to_have_count(first, timeout=30_000)
    card = tab.page.locator(f"section.card:has([data-testid={table}])")  # a page can hold several lists
    more = card.locator("[data-testid=more-rows]")
    expect(more).to_contain_text(f"Showing the first {first:,} {what}; more exist.")
    card.locator("[data-testid=load-more]").click()
    expect(_rows(tab, table)).to_have_count(total, timeout=30_000)
    expect(more).to_have_count(0)  # everything is shown: no claim that more exist


def test_overview_shows_every_running_job_and_says_more_jobs_exist(tab: Tab) -> None:
    tab.open("/", "page-overview")
    expect(tab.page.locator("[data-testid=running-jobs] tbody tr")).to_have_count(N_RUNNING)
    expect(tab.page.get_by_test_id("jobs-running")).to_have_text(str(N_RUNNING))
    expect(tab.page.get_by_test_id("job-progress")).to_have_count(10)
    expect(tab.page.get_by_test_id("more-jobs")).to_contain_text("The latest 10 jobs; more exist")


def test_jobs_page_says_more_exist_and_loads_them(tab: Tab) -> None:
    _pages_through(tab, "/jobs", "page-jobs", "jobs-table", 1_000, N_JOBS, "jobs")
    tab.shot("paging_jobs")


def test_objects_page_says_more_exist_and_loads_them(tab: Tab) -> None:
    _pages_through(tab, "/objects", "page-objects", "objects-table", 1_000, N_OBJECTS, "object references (largest first)")


def test_node_processes_say_more_exist_and_load_them(tab: Tab) -> None:
    _pages_through(tab, f"/nodes/{NODE}", "page-node", "process-table", 2_000, N_PROCS, "processes (busiest first)")


def test_workers_page_says_more_exist_and_loads_them(tab: Tab) -> None:
    # The dead ones (the live worker processes of the snapshot are workers too).
    _pages_through(tab, "/workers?alive=false", "page-workers", "workers-table", 1_000, N_WORKERS, "workers")
    assert "INTENDED_SYSTEM_EXIT" in _rows(tab, "workers-table").first.inner_text()


def test_log_file_tree_says_more_exist_and_loads_them(tab: Tab) -> None:
    _pages_through(tab, "/logs", "page-logs", "file-tree", 10_000, N_FILES + 1, "log files")  # + the driver log


@pytest.mark.parametrize("path,page_id", [("/tasks", "page-tasks"), ("/timeline", "page-timeline")])
def test_job_picker_says_more_exist_and_loads_them(tab: Tab, path: str, page_id: str) -> None:
    tab.open(path, page_id)
    options = tab.page.locator("select[name=job] option")
    expect(options).to_have_count(1 + 200 + 1, timeout=30_000)  # "any", the latest 200, "more exist"
    last = options.last
    expect(last).to_contain_text("200 shown, more exist")
    tab.page.select_option("select[name=job]", value=last.get_attribute("value"))
    expect(options).to_have_count(1 + 400 + 1, timeout=30_000)
    assert tab.page.locator("select[name=job]").input_value() == ""  # loading more did not pick a job


def test_a_logs_load_more_follows_the_cursor_past_a_byte_capped_page(tab: Tab) -> None:
    """500 lines of 10 kB are more than the head puts in one page (~4 MiB): the view follows the
    cursor to show all 500, and "load more" reaches the rest (raising `limit` got the same page)."""
    tab.open("/jobs/00000001?tab=logs", "page-job")
    lines = tab.page.locator("[data-testid=log-lines] .logline")
    expect(lines).to_have_count(500, timeout=30_000)
    tab.page.locator("[data-testid=log-lines] button", has_text="load more").click()
    expect(lines).to_have_count(N_DRIVER_LINES, timeout=30_000)
    expect(lines.last).to_contain_text(f"{N_DRIVER_LINES - 1:05d}xxx")
    expect(tab.page.locator("[data-testid=log-lines] button", has_text="load more")).to_have_count(0)
