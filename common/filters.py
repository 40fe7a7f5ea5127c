"""The listing filter syntax: `KEY=VALUE` or `KEY!=VALUE` (docs/architecture.md, REST API).

Why one parser: the head's listings, its log search, the debugger's session listing and the CLI
(which checks a filter before sending it) all read this syntax; each had its own copy, and they
disagreed on edge cases such as `!=x`. What the keys may be, and how a value converts, is each
listing's business.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["FilterExpr", "FilterSyntaxError", "parse_filter", "parse_filters"]

SYNTAX = "KEY=VALUE or KEY!=VALUE"


class FilterSyntaxError(ValueError):
    """Not `KEY=VALUE` / `KEY!=VALUE`; str() is one line that names the filter."""


@dataclass(frozen=True)
class FilterExpr:
    key: str  # stripped of surrounding blanks
    negate: bool  # KEY!=VALUE
    value: str  # as written (may be empty: `state=` matches the empty string)


def parse_filter(raw: str) -> FilterExpr:
    """Split one filter at its first `=` (a `!` just before it negates). The value may hold `=`."""
    eq = raw.find("=")
    negate = eq > 0 and raw[eq - 1] == "!"
    key = raw[: eq - 1 if negate else eq].strip() if eq > 0 else ""
    if not key:
        raise FilterSyntaxError(f"bad filter {raw!r}: use {SYNTAX}")
    return FilterExpr(key, negate, raw[eq + 1:])


def parse_filters(raws: Sequence[str], keys: Iterable[str]) -> list[FilterExpr]:
    """Every filter of a listing whose valid keys are `keys`: FilterSyntaxError (one line that
    lists the valid keys) for bad syntax or an unknown key."""
    valid = list(keys)
    out = []
    for raw in raws:
        try:
            f = parse_filter(raw)
        except FilterSyntaxError as e:
            raise FilterSyntaxError(f"{e}; valid keys: {', '.join(valid)}") from None
        if f.key not in valid:
            raise FilterSyntaxError(f"unknown filter key {f.key!r}; valid keys: {', '.join(valid)}")
        out.append(f)
    return out
