"""The profiling pages of the web UI (issue 14) in real Chromium against the shared real 2-node cluster.

A task spins in `weave_the_pattern` on the second node (tests/workloads/profiling_ui_workload.py).
From the task page the Stack action opens its dump (the function and line, locals on request); the
Stacks page dumps the job's busy workers and groups them; a CPU profile started from the task page
ends on its own and shows its top functions and the flame graph in the vendored speedscope (which
really parsed the document: its Sandwich table lists the function), with an authorized download; a
memory profile started from the node page's process row names the function that allocates.
Screenshots go to test-artifacts/screenshots/ (profiling_*.png).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from browser import Browser, Tab
from polling import read_line, wait_for, wait_or_kill

WORKLOAD = Path(__file__).parent / "workloads" / "profiling_ui_workload.py"
PROFILE_DONE_S = 120  # a 5 s profile, plus memray's attach through gdb (2-8 s), on a busy CI machine


def _task_running(c, task_id: str) -> bool:
    r = httpx.get(f"{c.http_url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {c.token}"}, timeout=10)
    return r.status_code == 200 and any(a["state"] == "RUNNING" for a in r.json())


@pytest.fixture(scope="module")
def spinning(rayscope_cluster) -> Iterator[tuple[str, str]]:
    """(job id, task id) of `weave_the_pattern` running on the worker node until the module ends."""
    c = rayscope_cluster
    release = Path(tempfile.mkdtemp(prefix="rs-prof-ui-")) / "release"
    proc = subprocess.Popen([sys.executable, str(WORKLOAD), c.gcs_address, c.worker_node_id, str(release)],
                            env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stdout, 120, "the profiling workload's SPINNING line")
        assert line.startswith("SPINNING "), (line, proc.stderr.read() if proc.poll() is not None else "")
        _, job, task = line.split()
        wait_for(f"task {task} to be RUNNING at the head", lambda: _task_running(c, task), timeout=60,
                 ignore=(httpx.HTTPError,))
        yield job, task
    finally:
        release.touch()
        wait_or_kill(proc, 60)


@pytest.fixture(scope="module")
def tab(rayscope_cluster, spinning, browser: Browser) -> Tab:
    return browser.tab(f"{rayscope_cluster.http_url}/#token={rayscope_cluster.token}")


@pytest.fixture(autouse=True)
def no_console_errors(tab: Tab) -> Iterator[None]:
    tab.take_errors()
    yield
    assert tab.take_errors() == []


def test_nodes_page_says_what_each_node_can_profile(rayscope_cluster, tab: Tab) -> None:
    tab.open("/nodes", "page-nodes")
    for node in (rayscope_cluster.head_node_id, rayscope_cluster.worker_node_id):
        cell = tab.page.locator(f"[data-testid=profiling-cell][data-node-id='{node}']")
        expect(cell).to_contain_text(re.compile(r"ptrace: \w+|stacks via fallback"))


def test_stack_action_opens_the_dump_with_locals_on_request(spinning, tab: Tab) -> None:
    _, task = spinning
    page = tab.page
    tab.open(f"/tasks/{task}", "page-task")
    page.get_by_test_id("page-task").get_by_role("button", name="Stack", exact=True).click()
    expect(page).to_have_url(re.compile(r"/stacks/[^/?]+$"))
    first_url = page.url
    frame = page.get_by_test_id("frame").filter(has_text="weave_the_pattern").first
    expect(frame).to_contain_text(re.compile(r"profiling_ui_workload\.py:\d+"))
    # the full path on hover
    expect(frame.locator(".loc")).to_have_attribute("title", re.compile(re.escape(str(WORKLOAD)) + r":\d+$"))
    expect(page.get_by_test_id("thread").first).to_contain_text(re.compile("active|idle"))
    method = page.get_by_test_id("stack-method").inner_text()
    assert method in ("py-spy", "faulthandler"), method
    if method == "faulthandler":  # ptrace is denied here: the fallback says why and how to fix it
        expect(page.get_by_test_id("stack-warning")).to_contain_text("fix:")
    else:  # locals: a new dump, with the task's arguments and variables under its frame
        page.get_by_test_id("locals-toggle").click()
        expect(page).to_have_url(re.compile(r"/stacks/[^/?]+\?locals=1$"))
        # the task's own frame, not its list comprehension's (`weave_the_pattern.<locals>.<listcomp>` on 3.11)
        fn = page.locator(".fn", has_text=re.compile(r"^weave_the_pattern$"))
        frame = page.get_by_test_id("frame").filter(has=fn).first
        expect(frame.get_by_test_id("locals")).to_contain_text("release")
    tab.shot("profiling_stack")
    shown = page.url
    page.get_by_test_id("stack-refresh").click()  # a new dump of the same task
    expect(page).not_to_have_url(shown)
    assert page.url.split("?")[0] not in (first_url, shown.split("?")[0])
    expect(page.get_by_test_id("frame").filter(has_text="weave_the_pattern").first).to_be_visible()


def test_stacks_page_groups_the_jobs_busy_workers(spinning, tab: Tab) -> None:
    job, task = spinning
    page = tab.page
    tab.open("/stacks", "page-stacks")
    page.locator("select[name=job]").select_option(job)
    page.get_by_test_id("dump-all").click()
    group = page.get_by_test_id("stack-group").filter(has_text="weave_the_pattern")
    expect(group.get_by_test_id("group-count")).to_contain_text("1")
    expect(group.get_by_test_id("group-headline")).to_contain_text("weave_the_pattern")
    expect(group.get_by_role("link", name=f"task {task[:10]}")).to_have_attribute("href", f"/tasks/{task}")
    group.get_by_role("button", name=re.compile("show the shared stack")).click()
    expect(group.get_by_test_id("frame").first).to_contain_text("weave_the_pattern")
    # the dump the previous test took is stored and listed, and links to its page
    dumps = page.get_by_test_id("stack-dumps")
    expect(dumps).to_contain_text("weave_the_pattern")
    tab.shot("profiling_stacks_summary")


def test_cpu_profile_shows_top_functions_and_the_flame_graph(spinning, tab: Tab) -> None:
    _, task = spinning
    page = tab.page
    tab.open(f"/tasks/{task}", "page-task")
    page.get_by_test_id("page-task").get_by_role("button", name="CPU profile").click()
    dialog = page.get_by_test_id("profile-dialog")
    expect(dialog.locator("input[name=duration]")).to_have_value("5")
    expect(dialog.locator("input[name=rate]")).to_have_value("100")
    dialog.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/profiles/[^/?]+$"))
    profile_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("page-profile")).to_have_attribute("data-status", "done", timeout=PROFILE_DONE_S * 1000)
    expect(page.get_by_test_id("top-functions")).to_contain_text("weave_the_pattern")
    viewer = page.frame_locator("[data-testid=speedscope]")
    viewer.get_by_text("Sandwich").click()  # speedscope's table of the parsed document's functions
    expect(viewer.get_by_role("cell", name="weave_the_pattern", exact=True).first).to_be_visible()
    viewer.get_by_text("Left Heavy").click()
    expect(viewer.locator("canvas").first).to_be_visible()
    tab.shot("profiling_cpu")
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    doc = json.loads(Path(download.value.path()).read_text())
    assert "weave_the_pattern" in {f["name"] for f in doc["shared"]["frames"]}
    tab.open("/profiles", "page-profiles")
    expect(page.get_by_test_id("profiles-table").get_by_role("link", name=profile_id[:12])).to_be_visible()


def test_memory_profile_from_the_process_row_names_the_allocating_function(rayscope_cluster, spinning, tab: Tab) -> None:
    page = tab.page
    tab.open(f"/nodes/{rayscope_cluster.worker_node_id}", "page-node")
    row = page.get_by_test_id("process-table").locator("tr").filter(has_text="weave_the_pattern")
    expect(row).to_have_count(1, timeout=60_000)
    row.get_by_role("button", name="Memory", exact=True).click()
    dialog = page.get_by_test_id("profile-dialog")
    expect(dialog.locator("input[name=duration]")).to_have_value("10")
    dialog.locator("input[name=duration]").fill("5")
    dialog.get_by_role("button", name="Start").click()
    expect(page).to_have_url(re.compile(r"/profiles/[^/?]+$"))
    expect(page.get_by_test_id("page-profile")).to_have_attribute("data-status", "done", timeout=PROFILE_DONE_S * 1000)
    expect(page.get_by_test_id("top-allocations")).to_contain_text("weave_the_pattern")
    expect(page.get_by_test_id("profile-total-bytes")).to_have_text(re.compile(r"^\d+(\.\d)? (B|KiB|MiB|GiB)$"))
    expect(page.frame_locator("[data-testid=speedscope]").locator("canvas").first).to_be_visible()
    tab.shot("profiling_memory")
