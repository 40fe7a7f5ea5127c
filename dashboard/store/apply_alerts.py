"""The alert evaluator's writes and its one read at start (dashboard/alerting/evaluator.py), run in the
writer process like every write (`await store.writer.run(apply_alert_changes, changes)`)."""
from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rayscope.dashboard.alerting.machine import AlertRecord, Change

_COLUMNS = ("alert_id", "name", "key", "state", "severity", "summary", "description", "active_since", "since",
            "resolved_at", "node_id", "node_ip", "job_id", "value", "labels")
_UPSERT = (f"INSERT OR REPLACE INTO alerts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})")


def _row(r: "AlertRecord") -> tuple:
    return (r.alert_id, r.name, r.key, r.state, r.severity, r.summary, r.description, r.active_since, r.since,
            r.resolved_at, r.node_id, r.node_ip, r.job_id, r.value, r.labels_json())


def apply_alert_changes(conn: sqlite3.Connection, changes: Sequence["Change"]) -> None:
    """One evaluation round's changes in one transaction: upserted by alert_id; dropped pending ones
    deleted."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("DELETE FROM alerts WHERE alert_id = ?", [(c.record.alert_id,) for c in changes if c.dropped])
        conn.executemany(_UPSERT, [_row(c.record) for c in changes if not c.dropped])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def open_alerts(conn: sqlite3.Connection) -> list["AlertRecord"]:
    """The pending and firing alerts, to resume from (a restarted head keeps their `for` clocks)."""
    from rayscope.dashboard.alerting.machine import AlertRecord

    out = []
    for r in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM alerts WHERE state != 'resolved'"):
        d = dict(zip(_COLUMNS, r))
        d["labels"] = json.loads(d["labels"] or "{}")
        out.append(AlertRecord(**d))
    return out
