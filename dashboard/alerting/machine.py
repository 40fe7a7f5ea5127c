"""The alert state machine, as Prometheus runs it for a rule with `for`: pending -> firing -> resolved.

Pure (no store, no clock): `step()` takes a rule's open alerts and what its condition found now, and
says what changed. The evaluator (evaluator.py) persists the changes and tells the clients.

- A thing the condition finds with no open alert opens one: `pending` from now, or `firing` at once
  for a rule with `for_s` 0.
- A pending alert fires once it has held `for_s` since `active_since`.
- An open alert whose thing the condition no longer finds ends: a firing one is `resolved` (kept as
  history), a pending one is dropped (Prometheus forgets it: it never fired).
- While open, its value, labels and summary follow the latest observation (the rule's severity and
  description too, so a head restarted with an edited rule table shows the new text).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Literal, Mapping, Optional, Sequence

from rayscope.alerts.rules import AlertRule, render_summary

StoredState = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True)
class Observation:
    """One thing a rule's condition finds holding now (conditions.py builds them).

    key: what identifies the thing within the rule (the host for RayNodeDown, a node id, a job id, ""
    for the cluster): one open alert per (rule, key). labels: what the summary template and
    Alertmanager see (node_ip, node_id, job_id, ...; alertname and severity are added here)."""

    key: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def node_id(self) -> Optional[str]:
        return self.labels.get("node_id") or None

    @property
    def node_ip(self) -> Optional[str]:
        return self.labels.get("node_ip") or None

    @property
    def job_id(self) -> Optional[str]:
        return self.labels.get("job_id") or None


@dataclass(frozen=True)
class AlertRecord:
    """An alert as stored (schema_alerts.py); pending ones are never shown by the API."""

    alert_id: str
    name: str
    key: str
    state: StoredState
    severity: str
    summary: str
    description: str
    active_since: float
    since: Optional[float]
    resolved_at: Optional[float]
    node_id: Optional[str]
    node_ip: Optional[str]
    job_id: Optional[str]
    value: Optional[float]
    labels: Mapping[str, str]

    def labels_json(self) -> str:
        return json.dumps(dict(self.labels), sort_keys=True)


@dataclass(frozen=True)
class Change:
    """What step() decided for one alert: `record` is its new state; `dropped`: a pending one forgotten;
    `visible`: the API shows it (it fired, resolved, or a firing one's value or labels moved)."""

    record: AlertRecord
    dropped: bool = False
    visible: bool = False


def alert_labels(rule: AlertRule, obs: Observation) -> dict[str, str]:
    """The labels an alert carries: alertname and severity first, then the observation's (non-empty)."""
    out = {"alertname": rule.name, "severity": rule.severity}
    out.update({k: v for k, v in obs.labels.items() if v})
    return out


def _opened(rule: AlertRule, obs: Observation, now: float) -> AlertRecord:
    labels = alert_labels(rule, obs)
    fires = rule.for_s <= 0
    return AlertRecord(
        alert_id=uuid.uuid4().hex[:16], name=rule.name, key=obs.key, state="firing" if fires else "pending",
        severity=rule.severity, summary=render_summary(rule, labels, obs.value), description=rule.description,
        active_since=now, since=now if fires else None, resolved_at=None,
        node_id=obs.node_id, node_ip=obs.node_ip, job_id=obs.job_id, value=obs.value, labels=labels)


def _followed(rule: AlertRule, rec: AlertRecord, obs: Observation, now: float) -> Optional[Change]:
    labels = alert_labels(rule, obs)
    fires = rec.state == "pending" and now - rec.active_since >= rule.for_s
    new = replace(rec, state="firing" if fires or rec.state == "firing" else "pending",
                  since=now if fires else rec.since, value=obs.value, labels=labels,
                  summary=render_summary(rule, labels, obs.value), severity=rule.severity,
                  description=rule.description, node_id=obs.node_id, node_ip=obs.node_ip, job_id=obs.job_id)
    if new == rec:
        return None
    return Change(new, visible=new.state == "firing")


def step(rule: AlertRule, open_alerts: Mapping[str, AlertRecord], found: Sequence[Observation],
         now: float) -> list[Change]:
    """The changes one evaluation makes to `rule`'s open (pending or firing) alerts, by key (an alert
    whose state, value and labels stay as they were is no change). Two observations of one key: the
    first wins (a condition should not produce them)."""
    changes: list[Change] = []
    seen: set[str] = set()
    for obs in found:
        if obs.key in seen:
            continue
        seen.add(obs.key)
        rec = open_alerts.get(obs.key)
        if rec is None:
            new = _opened(rule, obs, now)
            changes.append(Change(new, visible=new.state == "firing"))
        else:
            change = _followed(rule, rec, obs, now)
            if change is not None:
                changes.append(change)
    for key, rec in open_alerts.items():
        if key in seen:
            continue
        if rec.state == "pending":
            changes.append(Change(rec, dropped=True))
        else:
            changes.append(Change(replace(rec, state="resolved", resolved_at=now), visible=True))
    return changes
