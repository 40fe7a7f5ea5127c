"""Every task listing the web UI and the CLI ask for is answered from an index: no scan of the
whole tasks table, no sort of it, and every filter a seek on its own column. At 1M tasks each such scan costs 0.3-0.8 s (measured), and
nothing else would notice it: the answers are the same, only slower.

The SQL is what list_page really runs (captured with a trace callback), planned by SQLite on the
real schema; both pages of a keyset walk are checked (the second one carries the cursor).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rayscope.dashboard.store import specs
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.listing import ListQuery, list_page

T0 = 1_700_000_000.0
PARENT = "ab" * 24

# (sort, filters): the Tasks page's sorts, its filters, and a task page's Child tasks tab.
LISTINGS = [
    (None, []),
    ("creation_time", []),
    ("-start_time", []),
    ("start_time", []),
    ("-duration", []),
    ("duration", []),
    (None, ["state=FAILED"]),
    (None, ["job_id=01000000"]),
    (None, ["name=square"]),
    (None, ["node_id=" + "aa" * 28]),
    (None, ["actor_id=" + "cd" * 16]),
    (None, [f"parent_task_id={PARENT}"]),
]


@pytest.fixture(scope="module")
def conn(tmp_path_factory) -> sqlite3.Connection:
    """The real schema with a few hundred tasks (some without start or end: both NULL phases run)."""
    c = open_writer(Path(tmp_path_factory.mktemp("plans")) / "head.db")
    rows = []
    for i in range(300):
        started = T0 + i if i % 3 else None
        ended = started + 0.5 if started is not None and i % 2 else None
        rows.append((f"{i:048x}", 0, "01000000", "square", "NORMAL_TASK", "FINISHED", 4,
                     PARENT if i % 5 == 0 else None, T0 + i, started, ended))
    c.executemany("INSERT INTO tasks (task_id, attempt, job_id, name, type, state, state_rank, parent_task_id, "
                  "creation_time, start_time, end_time) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    c.row_factory = sqlite3.Row  # as the head's readers (open_reader)
    yield c
    c.close()


def _statements(conn: sqlite3.Connection, query: ListQuery) -> tuple[list[str], str | None]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        _, cursor = list_page(conn, specs.TASKS, query)
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")], cursor


def _plan(conn: sqlite3.Connection, sql: str) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]


@pytest.mark.parametrize("sort,filters", LISTINGS, ids=[f"{s or 'default'}|{','.join(f) or '-'}" for s, f in LISTINGS])
def test_task_listing_uses_an_index(conn, sort, filters):
    first, cursor = _statements(conn, ListQuery(filters=filters, sort=sort, limit=20))
    assert first, "list_page ran no SELECT"
    statements = list(first)
    if cursor is not None:
        statements += _statements(conn, ListQuery(filters=filters, sort=sort, limit=20, cursor=cursor))[0]
    for sql in statements:
        plan = _plan(conn, sql)
        full_scans = [step for step in plan if step.startswith("SCAN tasks") and "INDEX" not in step]
        sorts = [step for step in plan if "TEMP B-TREE" in step]
        assert not full_scans and not sorts, f"{sql}\n-> {plan}"
        # A filter must be an index seek on its own column, not a walk of the sort index that
        # tests every row (as a plan, that walk reads "SEARCH ... (creation_time>?)").
        for key in (f.split("=", 1)[0] for f in filters):
            assert any(f"({key}=?" in step for step in plan), f"{sql}\n-> {plan}"
