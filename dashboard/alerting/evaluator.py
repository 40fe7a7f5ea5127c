"""The head's alert evaluator: every EVAL_EVERY_S, each rule's condition over the store, through the
state machine, into the alerts table; what changed goes to WebSocket clients (kind `alerts`) and, with
`--alertmanager-url`, to Alertmanager.

A live head only: in history mode the cluster is gone and the stored alerts are what it ended with.
Reads run on a worker thread with the store's reader connections (the conditions are indexed lookups,
never a scan of tasks or samples); writes go through the writer process like every other write. A
condition that raises is logged (once until it works again) and skipped for that round, its alerts left
as they were: one broken rule never stops the others, nor the head.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Mapping, Optional, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rayscope.alerts.rules import RULES, AlertRule
from rayscope.dashboard import models as m
from rayscope.dashboard.alerting.alertmanager import AlertmanagerSender
from rayscope.dashboard.alerting.conditions import CONDITIONS, Condition, Memory
from rayscope.dashboard.alerting.machine import AlertRecord, Change, Observation, step
from rayscope.dashboard.store import Store
from rayscope.dashboard.store.apply_alerts import apply_alert_changes, open_alerts
from rayscope.dashboard.ws import Hub

log = logging.getLogger(__name__)

EVAL_EVERY_S = 10.0


def api_model(rec: AlertRecord) -> Optional[m.Alert]:
    """The API's view of a stored alert; None while it is pending (it has not fired)."""
    if rec.state == "pending" or rec.since is None:
        return None
    return m.Alert(alert_id=rec.alert_id, name=rec.name, state=rec.state, severity=rec.severity,  # type: ignore[arg-type]
                   summary=rec.summary, description=rec.description, since=rec.since, resolved_at=rec.resolved_at,
                   node_id=rec.node_id, node_ip=rec.node_ip, job_id=rec.job_id, value=rec.value,
                   labels=dict(rec.labels))


class AlertEvaluator:
    def __init__(self, store: Store, hub: Hub, sender: Optional[AlertmanagerSender] = None,
                 rules: Sequence[AlertRule] = RULES, conditions: Mapping[str, Condition] = CONDITIONS,
                 started_at: Optional[float] = None) -> None:
        missing = [r.name for r in rules if r.name not in conditions]
        if missing:
            raise ValueError(f"no head condition for the rules {missing} (dashboard/alerting/conditions.py)")
        self.store, self.hub, self.sender = store, hub, sender
        self.rules = tuple(rules)
        self.conditions = conditions
        self.started_at = time.time() if started_at is None else started_at
        self._open: dict[str, dict[str, AlertRecord]] = {r.name: {} for r in self.rules}
        self._failing: set[str] = set()  # rules whose condition raised last round (logged once)
        self._memory = {r.name: Memory() for r in self.rules}  # each condition's own, between rounds (counters)
        self.rounds = 0
        self.condition_errors = 0
        self.firing: dict[str, int] = {r.name: 0 for r in self.rules}  # firing alerts by rule, for /metrics

    async def load(self) -> None:
        """The open alerts a previous head left (their `for` clocks go on); firing ones are re-offered to
        Alertmanager, which expires them otherwise."""
        for rec in await asyncio.to_thread(lambda: open_alerts(self.store.conn)):
            if rec.name in self._open:
                self._open[rec.name][rec.key] = rec
        self._count_firing()
        if self.sender is not None:
            self.sender.offer([a for recs in self._open.values() for r in recs.values()
                               if (a := api_model(r)) is not None])

    def _count_firing(self) -> None:
        # replaced whole, never mutated: /metrics reads it from another thread
        self.firing = {name: sum(1 for r in recs.values() if r.state == "firing") for name, recs in self._open.items()}

    def _observe(self, now: float) -> dict[str, list[Observation]]:
        """On a worker thread: each rule's observations; a rule absent from the answer was not judged."""
        conn = self.store.conn
        out: dict[str, list[Observation]] = {}
        for rule in self.rules:
            cond = self.conditions[rule.name]
            if now - self.started_at < cond.warmup_s:
                continue
            try:
                out[rule.name] = cond.find(conn, rule, now, self._memory[rule.name])
            except Exception:  # noqa: BLE001 - one rule's failure must not stop the others
                self.condition_errors += 1
                if rule.name not in self._failing:
                    log.exception("alert condition %s failed; its alerts stay as they are until it works", rule.name)
                self._failing.add(rule.name)
                continue
            self._failing.discard(rule.name)
        return out

    async def run_once(self, now: Optional[float] = None) -> list[Change]:
        """One round: observe, step every judged rule, persist, publish, deliver. Returns the changes."""
        now = time.time() if now is None else now
        found = await asyncio.to_thread(self._observe, now)
        changes: list[Change] = []
        for rule in self.rules:
            if rule.name in found:
                changes += step(rule, self._open[rule.name], found[rule.name], now)
        if changes:
            await self.store.writer.run(apply_alert_changes, changes)
            for c in changes:
                opened = self._open[c.record.name]
                if c.dropped or c.record.state == "resolved":
                    opened.pop(c.record.key, None)
                else:
                    opened[c.record.key] = c.record
            self._count_firing()
            shown = [a for c in changes if c.visible and (a := api_model(c.record)) is not None]
            if shown:
                self.hub.publish({"alerts": [a.model_dump(mode="json") for a in shown]})
                if self.sender is not None:
                    self.sender.offer(shown)
        self.rounds += 1
        return changes

    async def loop(self, every_s: float = EVAL_EVERY_S) -> None:
        try:
            await self.load()
        except Exception:  # noqa: BLE001 - evaluate anyway: what fires now is found again
            log.exception("reading the open alerts back failed; starting without them")
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the writer restarting: the next round tries again
                log.exception("alert evaluation failed")
            await asyncio.sleep(every_s)


class AlertingCollector(Collector):
    """The evaluator's own figures on the head's /metrics."""

    def __init__(self, evaluator: AlertEvaluator) -> None:
        self.ev = evaluator

    def collect(self):
        out: list[Metric] = []
        firing = GaugeMetricFamily("rayscope_head_alerts_firing", "Alerts the head's own evaluator has firing, by rule",
                                   labels=["alertname"])
        for name, n in self.ev.firing.items():
            firing.add_metric([name], n)
        out.append(firing)
        out.append(CounterMetricFamily("rayscope_head_alert_evaluations", "Rounds of the head's alert evaluator",
                                       value=self.ev.rounds))
        out.append(CounterMetricFamily("rayscope_head_alert_condition_errors",
                                       "Conditions that raised (the rule was skipped that round)",
                                       value=self.ev.condition_errors))
        if self.ev.sender is not None:
            s = self.ev.sender.stats
            out.append(CounterMetricFamily("rayscope_head_alertmanager_posts", "POSTs to Alertmanager", value=s.posts))
            out.append(CounterMetricFamily("rayscope_head_alertmanager_post_failures",
                                           "POSTs to Alertmanager that failed (unreachable, or not 2xx)",
                                           value=s.failures))
        return out
