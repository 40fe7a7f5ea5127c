"""Delivery of the head's alerts to an Alertmanager (`--alertmanager-url`), the way Prometheus does it.

Alertmanager's `POST /api/v2/alerts` takes a list of alerts, each its label set plus annotations,
`startsAt` and `endsAt`. An alert without news expires at its `endsAt`, so a sender re-sends every
firing alert while it fires with `endsAt` a few resend intervals ahead (Prometheus: every minute,
4 x its resend delay ahead), and sends a resolved one with `endsAt` = when it resolved, repeated for a
while (Prometheus: 15 minutes) so an Alertmanager that was unreachable at that moment still learns it.

Never in the evaluator's way: `offer()` only replaces what is to be sent and wakes the sender task; a
POST that fails is logged once per outage (and once when it works again) and counted, and the next
round sends the current state again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Optional, Sequence

import httpx

from rayscope.dashboard import models as m

log = logging.getLogger(__name__)

RESEND_EVERY_S = 60.0  # Prometheus' --rules.alert.resend-delay
FIRING_VALID_FOR_S = 4 * RESEND_EVERY_S  # endsAt of a firing alert: it expires unless re-sent by then
RESOLVED_RESEND_S = 15 * 60.0  # resolved alerts are re-sent this long after they resolved
POST_TIMEOUT_S = 10.0
API_PATH = "/api/v2/alerts"


class BadAlertmanagerUrl(ValueError):
    """--alertmanager-url is not an http(s) URL."""


def check_url(url: str) -> str:
    """The base URL without a trailing slash; BadAlertmanagerUrl (one line) when it is not http(s)://HOST."""
    parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parsed is None or not parsed.host:
        raise BadAlertmanagerUrl(f"--alertmanager-url must be http://HOST:PORT or https://HOST:PORT "
                                 f"(Alertmanager's base URL), got {url!r}")
    return url.rstrip("/")


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable(alert: m.Alert, now: float, generator_url: str) -> dict:
    """One alert in Alertmanager's API shape (postableAlert)."""
    body: dict = {
        "labels": dict(alert.labels),
        "annotations": {"summary": alert.summary, "description": alert.description},
        "startsAt": _rfc3339(alert.since),
        "endsAt": _rfc3339(alert.resolved_at if alert.resolved_at is not None else now + FIRING_VALID_FOR_S),
    }
    if generator_url:
        body["generatorURL"] = generator_url
    return body


@dataclass
class DeliveryStats:
    posts: int = 0
    failures: int = 0
    last_error: Optional[str] = None


class AlertmanagerSender:
    """The head's client of one Alertmanager: a task that posts the current alerts when told, and at
    least every RESEND_EVERY_S while any is firing or recently resolved."""

    def __init__(self, url: str, generator_url: str = "", client: Optional[httpx.AsyncClient] = None) -> None:
        self.url = check_url(url)
        self.generator_url = generator_url
        self.stats = DeliveryStats()
        self._client = client
        self._alerts: dict[str, m.Alert] = {}
        self._wake = asyncio.Event()
        self._outage = False

    def offer(self, alerts: Sequence[m.Alert]) -> None:
        """The alerts whose state changed (firing or resolved): posted on the sender's next turn."""
        for a in alerts:
            self._alerts[a.alert_id] = a
        if alerts:
            self._wake.set()

    def _due(self, now: float) -> list[m.Alert]:
        for aid in [aid for aid, a in self._alerts.items()
                    if a.resolved_at is not None and now - a.resolved_at > RESOLVED_RESEND_S]:
            del self._alerts[aid]
        return list(self._alerts.values())

    async def post_once(self, now: Optional[float] = None) -> bool:
        """Post every current alert once; True when Alertmanager took them (or there was nothing)."""
        now = time.time() if now is None else now
        alerts = self._due(now)
        if not alerts:
            return True
        body = [postable(a, now, self.generator_url) for a in alerts]
        client = self._client or httpx.AsyncClient(timeout=POST_TIMEOUT_S)
        try:
            res = await client.post(self.url + API_PATH, json=body)
            ok, why = res.status_code // 100 == 2, f"HTTP {res.status_code}: {res.text[:200].strip()}"
        except httpx.HTTPError as err:
            ok, why = False, f"{type(err).__name__}: {err}"
        finally:
            if self._client is None:
                await client.aclose()
        self.stats.posts += 1
        if ok:
            if self._outage:
                log.warning("alertmanager %s takes alerts again (%d posts failed in all)", self.url,
                            self.stats.failures)
            self._outage = False
            return True
        self.stats.failures += 1
        self.stats.last_error = why
        if not self._outage:
            log.warning("alertmanager %s did not take %d alerts (%s); retrying every %.0f s, logged once "
                        "until it works again", self.url, len(body), why, RESEND_EVERY_S)
        self._outage = True
        return False

    async def run(self) -> None:
        """Until cancelled: post on every offer, and re-send at least every RESEND_EVERY_S."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RESEND_EVERY_S)
            self._wake.clear()
            try:
                await self.post_once()
            except Exception:  # noqa: BLE001 - delivery must never end the head
                log.exception("posting alerts to %s failed", self.url)
