"""Reading Prometheus text for the tests: the samples of an exposition, and the metric names a PromQL
expression selects (shared by the metrics, alert-rule and Grafana tests)."""
from __future__ import annotations

import promql_parser


def sample_values(text: str) -> dict[str, float]:
    """`name{labels}` (exactly as exposed) -> value, for every sample line of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def metric_names(node) -> set[str]:
    """Every metric name a parsed PromQL expression selects (walks promql_parser's AST)."""
    names: set[str] = set()
    if isinstance(node, promql_parser.VectorSelector):
        names.add(node.name)
    for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            names |= metric_names(child)
    for arg in getattr(node, "args", None) or []:
        names |= metric_names(arg)
    return names
