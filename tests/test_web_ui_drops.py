"""The web UI shows what the pipeline dropped (issue 12 §1: each loss "visible at the head's API,
/metrics and in the UI"), in real Chromium against the real head fed by the real agent of a real
Ray node: a log line over the agent's line cap is cut, the agent reports the cut, the Nodes page's
"Dropped" card lists it (node, source, reason, bytes) without a reload, and the Overview's banner
says something was cut and links there."""
from __future__ import annotations

import uuid
from pathlib import Path

from playwright.sync_api import expect

from browser import Browser
from head_process import start_head
from polling import wait_for
from rayscope.agent.logs.tailer import MAX_LOG_LINE
from rayscope.runtime.node_identity import discover
from test_agent_collectors import RayNode, stop_agent, token
from test_agent_loss import _drops, _start_agent


def test_a_real_drop_appears_on_the_nodes_page(ray_node: RayNode, browser: Browser, tmp_path: Path) -> None:
    node_id = discover(ray_node.session_dir).node_id
    (tmp_path / "head").mkdir()
    head = start_head(workdir=tmp_path / "head", token=token(ray_node))
    agent_log = tmp_path / "agent.log"
    agent, _ = _start_agent(ray_node, head, tmp_path / "state", agent_log)
    log = Path(ray_node.session_dir, "logs", f"long-line-{uuid.uuid4().hex[:8]}.log")
    try:
        wait_for("the agent's first batches", lambda: head.get("/ingest/health").json()["batches_committed"] >= 2,
                 60, context=lambda: agent_log.read_text()[-3000:])
        assert head.get("/ingest/health").json()["drops"] == []  # this node had nothing to drop so far
        tab = browser.tab(f"{head.http_url}/#token={head.token}")
        expect(tab.page.get_by_test_id("page-overview")).to_be_visible()
        expect(tab.page.get_by_test_id("drops-banner")).to_have_count(0)
        tab.open("/nodes", "page-nodes")
        expect(tab.page.get_by_test_id("drops-title")).to_have_text("Dropped")
        expect(tab.page.get_by_text("Nothing dropped.")).to_be_visible()

        cap = MAX_LOG_LINE
        with open(log, "wb") as f:
            f.write(b"L" * (cap + 5000) + b"\nafter\n")
        reason = f"line over {cap} bytes cut"
        wait_for("the cut reported at the head", lambda: reason in _drops(head, node_id), 60,
                 context=lambda: agent_log.read_text()[-3000:])
        table = tab.page.get_by_test_id("drops-table")  # no reload: the live feed's "drops" delta
        row = table.locator("tr", has_text=reason)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(node_id[:12])
        expect(row).to_contain_text("logs")
        expect(row).to_contain_text(f"{log.name}:0")
        expect(row).to_contain_text("4.9 KiB")  # the 5,000 bytes cut
        expect(tab.page.get_by_test_id("drops-title")).to_have_text("Dropped (1 reason)")
        tab.shot("nodes_dropped")
        tab.open("/", "page-overview")  # the Overview says so too, and links to the list
        banner = tab.page.get_by_test_id("drops-banner")
        expect(banner).to_contain_text("Some data was not shipped whole: items cut for 1 reason(s) on 1 node(s).")
        banner.get_by_role("link").click()
        expect(tab.page.get_by_test_id("drops-table")).to_contain_text(reason)
        assert tab.take_errors() == []
    finally:
        stop_agent(agent)
        head.stop()
        log.unlink(missing_ok=True)
