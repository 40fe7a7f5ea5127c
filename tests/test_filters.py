"""The one parser of the listing filter syntax (common/filters.py), and that every reader uses it."""
from __future__ import annotations

import pytest

from rayscope.cli.client import HeadBadRequest, filter_params
from rayscope.common.filters import FilterExpr, FilterSyntaxError, parse_filter, parse_filters


@pytest.mark.parametrize(("raw", "want"), [
    ("state=FAILED", FilterExpr("state", False, "FAILED")),
    ("state!=FAILED", FilterExpr("state", True, "FAILED")),
    (" name =a=b", FilterExpr("name", False, "a=b")),  # the value may hold '='; the key is stripped
    ("error_type=", FilterExpr("error_type", False, "")),
    ("x!==y", FilterExpr("x", True, "=y")),
])
def test_parses(raw: str, want: FilterExpr) -> None:
    assert parse_filter(raw) == want


@pytest.mark.parametrize("raw", ["no-operator", "=x", "!=x", "  =x", ""])
def test_rejects_with_the_syntax_in_one_line(raw: str) -> None:
    with pytest.raises(FilterSyntaxError) as err:
        parse_filter(raw)
    assert str(err.value) == f"bad filter {raw!r}: use KEY=VALUE or KEY!=VALUE"


def test_the_cli_checks_with_the_same_parser() -> None:
    assert filter_params(["state!=FAILED"]) == [("filter", "state!=FAILED")]
    with pytest.raises(HeadBadRequest, match=r"bad filter '!=x': use KEY=VALUE or KEY!=VALUE, e.g. --filter"):
        filter_params(["!=x"])


def test_a_listing_names_its_valid_keys() -> None:
    keys = ["state", "name"]
    assert parse_filters(["state=A", "name!=b"], keys) == [FilterExpr("state", False, "A"),
                                                           FilterExpr("name", True, "b")]
    with pytest.raises(FilterSyntaxError) as err:
        parse_filters(["state=A", "nope=1"], keys)
    assert str(err.value) == "unknown filter key 'nope'; valid keys: state, name"
    with pytest.raises(FilterSyntaxError) as err:
        parse_filters(["=1"], keys)
    assert str(err.value) == "bad filter '=1': use KEY=VALUE or KEY!=VALUE; valid keys: state, name"
