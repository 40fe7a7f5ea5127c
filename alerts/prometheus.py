"""The rule table as a Prometheus rule file (`rayscope metrics alert-rules`): one group, one alerting
rule per AlertRule, in the table's order.

What each row becomes: `alert` its name, `expr` and `for` as defined, label `severity`, annotations
`summary` (the template, which Prometheus renders) and `description`. Load the file with
`rule_files:` in prometheus.yml and route on `severity` in Alertmanager (docs/metrics.md, Alert rules).
"""
from __future__ import annotations

from typing import Any

from rayscope.alerts.rules import GROUP_NAME, RULES, AlertRule, duration

__all__ = ["rule_file", "prometheus_rule"]


def prometheus_rule(r: AlertRule) -> dict[str, Any]:
    return {"alert": r.name, "expr": r.expr, "for": duration(r.for_s), "labels": {"severity": r.severity},
            "annotations": {"summary": r.summary, "description": r.description}}


def rule_file(rules: tuple[AlertRule, ...] = RULES) -> dict[str, Any]:
    """The file's content, for a YAML dumper (`groups: [{name, rules}]`)."""
    return {"groups": [{"name": GROUP_NAME, "rules": [prometheus_rule(r) for r in rules]}]}
