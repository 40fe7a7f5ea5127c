"""Playwright over Debian's chromium (no browser download), and process helpers, for the web UI tests.

`Browser.page()` opens a tab that records console errors and uncaught exceptions, so a test can
assert a page loaded cleanly; `shot()` saves a full-page screenshot under test-artifacts/.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"


@dataclass
class Tab:
    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)

    def open(self, path: str, testid: str) -> None:
        """Navigate and wait for the page's root element."""
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector(f"[data-testid={testid}]", timeout=20_000)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{re.sub(r'[^a-z0-9_-]+', '_', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def take_errors(self) -> list[str]:
        out, self.errors[:] = list(self.errors), []
        return out


class Browser:
    def __init__(self) -> None:
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    def blank(self, base_url: str) -> Tab:
        """A fresh context (own sessionStorage) that has not signed in."""
        ctx = self._browser.new_context(viewport={"width": 1440, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        tab = Tab(page, base_url)
        page.on("console", lambda m: tab.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: tab.errors.append(f"uncaught: {e}"))
        return tab

    def tab(self, link: str) -> Tab:
        """A fresh context signed in through the `URL/#token=…` link the CLI prints."""
        tab = self.blank(link.split("/#", 1)[0])
        page = tab.page
        page.goto(link)
        page.wait_for_selector("[data-testid=page-overview]")
        assert "token" not in page.url  # moved to sessionStorage, out of the address bar
        return tab

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()
