"""The vocabulary of a dashboard definition: panels with PromQL targets, rows, variables."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

PanelKind = Literal["timeseries", "stat", "bargauge"]

# Label selectors every query carries, so one Grafana serves several Ray clusters.
SESSION = 'ray_session=~"$session"'
NODE = 'node_id=~"$node"'
BY_SESSION = "{" + SESSION + "}"
BY_NODE = "{" + SESSION + ", " + NODE + "}"
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    unit: str = "short"  # Grafana unit id: bytes, percentunit, s, watt, celsius, ops, short
    kind: PanelKind = "timeseries"
    description: str = ""
    width: int = 12  # of 24 grid columns
    height: int = 8
    max: Optional[float] = None  # e.g. 1 for ratios
    stack: bool = False


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    node_variable: bool = True  # the dashboard filters by node
    tags: tuple[str, ...] = field(default=("rayscope", "ray"))


def panel(title: str, *exprs: str | tuple[str, str], **kw: Any) -> Panel:
    """panel("CPU", ("expr", "{{node_id}}"), unit="percentunit"): a str is an expr without legend."""
    targets = tuple(Target(e) if isinstance(e, str) else Target(*e) for e in exprs)
    return Panel(title, targets, **kw)
