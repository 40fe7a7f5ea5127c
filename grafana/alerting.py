"""The rule table (alerts/rules.py) as Grafana alerting file provisioning, for a Grafana that should alert
on the same Prometheus its Rayscope dashboards read.

Written by `rayscope metrics grafana-config` as OUT/provisioning/alerting/rayscope.yaml, beside the
datasource it queries (uid `rayscope-prometheus`, render.py). Each rule is two steps, as Grafana's
rules are built:
- A: the rule's PromQL, an instant query on that datasource: it returns only the series that meet
  the condition (the comparison is part of the expr), with the value the summary shows;
- B, the condition: a math expression that is 1 for each series A returned, so Grafana fires for
  each of them (a series whose value is 0, like RayNodeDown's, would otherwise count as "not firing").
No series means nothing is wrong: noDataState OK.
Summaries use Grafana's template data: `$values.A.Value` where Prometheus' template says `$value`.
"""
from __future__ import annotations

import re
from typing import Any

from rayscope.alerts.rules import GROUP_NAME, RULES, AlertRule, duration

__all__ = ["alerting_provisioning", "grafana_rule", "grafana_template", "FOLDER", "INTERVAL_S"]

FOLDER = "Rayscope"  # the dashboards' folder (render.py's provider) holds the alert rules too
INTERVAL_S = 60  # Grafana evaluates the group every minute; every rule's `for` is a multiple of it
_VALUE = re.compile(r"\{\{\s*\$value\s*(?:\|\s*(humanize|humanizePercentage)\s*)?\}\}")


def grafana_template(summary: str) -> str:
    """A Prometheus summary template in Grafana's terms: `{{ $value | f }}` -> `{{ f $values.A.Value }}`."""
    def one(m: re.Match[str]) -> str:
        return f"{{{{ {m.group(1)} $values.A.Value }}}}" if m.group(1) else "{{ $values.A.Value }}"

    return _VALUE.sub(one, summary)


def _uid(name: str) -> str:
    """Grafana rule uids: at most 40 of [a-zA-Z0-9-_]."""
    uid = "rayscope-" + re.sub(r"[^a-z0-9]+", "-", name.lower())
    assert len(uid) <= 40, uid
    return uid


def grafana_rule(r: AlertRule, datasource_uid: str) -> dict[str, Any]:
    lookback = max(600, 2 * r.window_s)  # what Grafana fetches for A; the expr's own ranges fit in it
    return {
        "uid": _uid(r.name), "title": r.name, "condition": "B",
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": lookback, "to": 0}, "datasourceUid": datasource_uid,
             "model": {"refId": "A", "expr": r.expr, "instant": True, "range": False,
                       "datasource": {"type": "prometheus", "uid": datasource_uid}}},
            {"refId": "B", "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": "__expr__",
             "model": {"refId": "B", "type": "math", "expression": "is_number($A) || is_inf($A)",
                       "datasource": {"type": "__expr__", "uid": "__expr__"}}},
        ],
        "noDataState": "OK", "execErrState": "Error", "for": duration(r.for_s),
        "annotations": {"summary": grafana_template(r.summary), "description": r.description},
        "labels": {"severity": r.severity}, "isPaused": False,
    }


def alerting_provisioning(datasource_uid: str, rules: tuple[AlertRule, ...] = RULES) -> dict[str, Any]:
    """Grafana's alerting provisioning file (`apiVersion: 1`, `groups`): one group in the Rayscope folder."""
    return {"apiVersion": 1, "groups": [{
        "orgId": 1, "name": GROUP_NAME, "folder": FOLDER, "interval": duration(INTERVAL_S),
        "rules": [grafana_rule(r, datasource_uid) for r in rules]}]}
