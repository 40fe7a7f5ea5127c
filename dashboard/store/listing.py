"""Filtered, sorted, keyset-paginated listings over one table or view.

Why keyset: OFFSET and COUNT(*) cost O(rows skipped); a cursor holding the last row's sort
value and unique key lets SQLite seek straight into an index, so page 10,000 is as fast as
page 1. NULL sort values are paged in their own phase (first when ascending, last when
descending, as SQLite orders them) so row-value comparisons stay index-friendly.
"""
from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

from rayscope.common.filters import FilterSyntaxError
from rayscope.common.filters import parse_filters as parse_filter_exprs
from rayscope.dashboard.errors import BadRequest

ModelT = TypeVar("ModelT")
MAX_LIMIT = 10_000
# A page stops taking rows once it holds about this many bytes, whatever its `limit`: rows can be
# large (a task's error message, a 256 KiB log line with its context), and 10,000 of them would be
# one multi-GB answer built in the head's memory. The page then ends early with a `next_cursor`
# that resumes right after its last row, so nothing is skipped; a single row over the cap still
# comes alone (a page always makes progress).
MAX_PAGE_BYTES = 4 << 20
ROW_OVERHEAD_BYTES = 16  # per field: JSON punctuation, the field name, numbers


def row_bytes(values: Sequence[Any]) -> int:
    """About what a row weighs in the JSON answer: UTF-8 length of its text, a fixed cost per field."""
    return sum(len(v.encode()) if type(v) is str else len(v) if type(v) is bytes else 0 for v in values) + (
        ROW_OVERHEAD_BYTES * len(values))


class PageBudget:
    """Counts a page's bytes against MAX_PAGE_BYTES; the first row always fits."""

    def __init__(self, max_bytes: int = MAX_PAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.rows = 0

    def take(self, size: int) -> bool:
        """Count a row of `size` bytes if it fits (False: end the page before it)."""
        if self.rows and self.used + size > self.max_bytes:
            return False
        self.used += size
        self.rows += 1
        return True


@dataclass(frozen=True)
class Column:
    """A model field as SQL: its expression over the source and the Python type of filter values."""

    expr: str
    type: type = str
    nullable: bool = True


@dataclass(frozen=True)
class ListSpec(Generic[ModelT]):
    source: str  # table, view or parenthesised subquery
    columns: dict[str, Column]
    key: tuple[str, ...]  # SQL expressions that make a row unique (the tie-breaker)
    default_sort: str  # e.g. "-creation_time"
    to_model: Callable[[sqlite3.Row], ModelT]
    params: tuple = ()  # bound parameters the source needs


@dataclass
class Filter:
    key: str
    negate: bool
    value: Any


@dataclass
class ListQuery:
    """A listing request as the API received it: raw `KEY=VALUE` / `KEY!=VALUE` filter strings."""

    filters: list[str] = field(default_factory=list)
    sort: Optional[str] = None
    limit: int = 100
    cursor: Optional[str] = None


def _convert(raw: str, typ: type, key: str) -> Any:
    try:
        if typ is bool:
            low = raw.lower()
            if low in ("true", "1", "yes"):
                return 1
            if low in ("false", "0", "no"):
                return 0
            raise ValueError(raw)
        return typ(raw)
    except ValueError:
        raise BadRequest(f"filter {key}: {raw!r} is not a valid {typ.__name__}") from None


def parse_filters(spec: ListSpec, raw_filters: Sequence[str]) -> list[Filter]:
    """`KEY=VALUE` / `KEY!=VALUE`; the keys are the model's filterable field names."""
    try:
        exprs = parse_filter_exprs(raw_filters, spec.columns)
    except FilterSyntaxError as e:
        raise BadRequest(str(e)) from None
    return [Filter(f.key, f.negate, _convert(f.value, spec.columns[f.key].type, f.key)) for f in exprs]


def _parse_sort(spec: ListSpec, sort: Optional[str]) -> tuple[str, bool]:
    s = sort or spec.default_sort
    desc = s.startswith("-")
    name = s.lstrip("-+")
    if name not in spec.columns:
        raise BadRequest(f"unknown sort field {name!r}; valid fields: {', '.join(spec.columns)}")
    return name, desc


def encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(state, dict):
            raise ValueError
        return state
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("bad cursor: pass next_cursor from the previous page unchanged") from None


def _row_value(n: int) -> str:
    return "(" + ", ".join("?" * n) + ")"


def list_page(conn: sqlite3.Connection, spec: ListSpec[ModelT], q: ListQuery) -> tuple[list[ModelT], Optional[str]]:
    """One page of models and the cursor of the next page (None at the end): up to `q.limit` rows,
    fewer when they pass MAX_PAGE_BYTES (the cursor then resumes after the last row returned)."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    sort_name, desc = _parse_sort(spec, q.sort)
    sort_tag = ("-" if desc else "") + sort_name
    col = spec.columns[sort_name]
    where, params = [], list(spec.params)
    for f in parse_filters(spec, q.filters):
        where.append(f"{spec.columns[f.key].expr} {'IS NOT' if f.negate else '='} ?")
        params.append(f.value)
    phases = ["notnull", "null"] if desc else ["null", "notnull"]
    if not col.nullable:
        phases = ["notnull"]
    start_phase, after = 0, None
    if q.cursor:
        state = decode_cursor(q.cursor)
        if state.get("s") != sort_tag or state.get("p") not in phases:
            raise BadRequest("cursor does not belong to this sort; start again without a cursor")
        start_phase, after = phases.index(state["p"]), state
    key_sql = ", ".join(spec.key)
    direction = "DESC" if desc else "ASC"
    cmp = "<" if desc else ">"
    rows: list[sqlite3.Row] = []
    row_phase: list[str] = []
    want = q.limit + 1
    budget = PageBudget()
    full = False  # a row past the byte budget exists: the page ends before it
    for phase in phases[start_phase:]:
        cond, cparams = list(where), list(params)
        if phase == "null":
            cond.append(f"{col.expr} IS NULL")
            order = ", ".join(f"{k} {direction}" for k in spec.key)
            if after is not None:
                cond.append(f"({key_sql}) {cmp} {_row_value(len(spec.key))}")
                cparams.extend(after["k"])
        else:
            if col.nullable:
                cond.append(f"{col.expr} IS NOT NULL")
            order = ", ".join(f"{e} {direction}" for e in (col.expr, *spec.key))
            if after is not None:
                cond.append(f"({col.expr}, {key_sql}) {cmp} {_row_value(1 + len(spec.key))}")
                cparams.extend([after["v"], *after["k"]])
        sql = (f"SELECT *, {key_sql}, {col.expr} FROM {spec.source} "
               f"{'WHERE ' + ' AND '.join(cond) if cond else ''} ORDER BY {order} LIMIT {want - len(rows)}")
        for r in conn.execute(sql, cparams):  # row by row: a page past the budget reads no further
            if len(rows) < q.limit and not budget.take(row_bytes(r)):
                full = True
                break
            rows.append(r)
            row_phase.append(phase)
        after = None
        if full or len(rows) >= want:
            break
    next_cursor = None
    kept = len(rows) if full else q.limit
    if full or len(rows) > q.limit:
        last, phase = rows[kept - 1], row_phase[kept - 1]
        nkey = len(spec.key)
        vals = tuple(last)[-(nkey + 1):]
        next_cursor = encode_cursor({"s": sort_tag, "p": phase, "v": vals[-1], "k": list(vals[:nkey])})
        rows = rows[:kept]
    return [spec.to_model(r) for r in rows], next_cursor
