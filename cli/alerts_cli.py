"""`rayscope alerts [--all] [--json]`: the alerts the head's own evaluator raised (GET /alerts).

Firing ones by default, `--all` adds the resolved ones (history); the most severe first, then the
newest. `--json` prints the API's rows in the same order. Exit status 0 either way: an alert firing is
an answer, not an error (scripts read `--json`).
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Sequence

from rayscope.cli.format import Column, human_duration, human_time, render_table, short_id, terminal_width
from rayscope.cli.state_cli import _client, _common_options, _dump_json, _guard, _out
from rayscope.dashboard.models import Alert

ALERTS_PATH = "/alerts"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _since(a: Alert) -> str:
    ago = human_duration(max(0.0, time.time() - a.since))
    return f"{human_time(a.since)} ({ago} ago)"


def _c(header: str, fn: Any, priority: int, shrink: bool = False) -> Column:
    return Column(header, fn, priority=priority, shrink=shrink, align_right=False)


COLUMNS: tuple[Column, ...] = (
    _c("SEVERITY", lambda a: a.severity, 0), _c("NAME", lambda a: a.name, 0), _c("STATE", lambda a: a.state, 1),
    _c("SINCE", _since, 2), _c("RESOLVED", lambda a: human_time(a.resolved_at), 6),
    _c("NODE_IP", lambda a: a.node_ip or "", 3), _c("NODE_ID", lambda a: short_id(a.node_id, 12), 5),
    _c("JOB_ID", lambda a: a.job_id or "", 4), _c("SUMMARY", lambda a: a.summary, 1, shrink=True),
)


def ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Firing before resolved, then the most severe, then the newest."""
    return sorted(alerts, key=lambda a: (a.state != "firing", SEVERITY_ORDER.get(a.severity, 9), -a.since))


def headline(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.state == "firing"]
    counts = ", ".join(f"{n} {s}" for s in SEVERITY_ORDER if (n := sum(1 for a in firing if a.severity == s)))
    return f"{len(firing)} firing" + (f" ({counts})" if counts else "")


@_guard
def cmd_alerts(args: argparse.Namespace) -> int:
    """Every alert of the asked state (following cursors: there is no row cap)."""
    params = [("state", "all" if args.all else "firing")]
    rows: list[Alert] = []
    with _client(args) as client:
        for page in client.iter_pages(ALERTS_PATH, Alert, params):
            rows.extend(page.rows)
    rows = ordered(rows)
    if args.json:
        _out(_dump_json(rows))
    elif not rows:
        _out("No alerts." if args.all else "No alerts firing.")
    else:
        _out(headline(rows) + (f", {sum(1 for a in rows if a.state == 'resolved')} resolved" if args.all else ""))
        _out(render_table(COLUMNS, rows, terminal_width()))
    return 0


def register(subparsers: Any) -> None:
    """Add `alerts` (called by cli/main.py)."""
    p = subparsers.add_parser("alerts", parents=[_common_options()],
                              help="alerts the head raised (firing; --all: resolved too)",
                              description="The alerts the head's own evaluator raised from its store "
                                          "(docs/alerts.md): firing ones, or with --all every one kept.")
    p.add_argument("--all", action="store_true", help="resolved alerts too")
    p.add_argument("--json", action="store_true", help="print the API's rows as a JSON array")
    p.set_defaults(func=cmd_alerts)
