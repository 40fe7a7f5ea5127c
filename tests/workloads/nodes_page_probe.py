"""The web UI's Nodes page in real Chromium, run inside a test host (where the head's UI listens):
`python nodes_page_probe.py BASE_URL TOKEN NODE_IP connected|disconnected` exits 0 when the row
of the node with NODE_IP shows its agent that way (within 30 s), else 1 with what it showed."""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the suite's Chromium settings
from browser import ARGS, CHROMIUM  # noqa: E402

base, token, node_ip, want = sys.argv[1:5]
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page()
    page.goto(f"{base}/nodes#token={token}")
    row = page.locator("[data-testid=nodes-table] tbody tr", has_text=node_ip)
    expect(row).to_have_count(1, timeout=30_000)
    mark = row.locator("[data-testid=agent-disconnected]")
    try:
        if want == "disconnected":
            expect(mark).to_have_count(1, timeout=30_000)
        else:
            expect(mark).to_have_count(0, timeout=30_000)
            expect(row.locator(".ok-text", has_text="connected")).to_have_count(1, timeout=30_000)
    except AssertionError:
        print(f"the row of {node_ip} shows: {row.inner_text()!r}", file=sys.stderr)
        sys.exit(1)
    print(f"{node_ip}: {row.inner_text()!r}")
    browser.close()
