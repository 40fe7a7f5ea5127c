"""Shared FastAPI dependencies: the store, and the listing parameters every listing takes."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import Depends, Query, Request

from rayscope.dashboard.store import ListQuery, Store


def get_store(request: Request) -> Store:
    return request.app.state.store


def listing(
    filter: Annotated[list[str], Query(description="KEY=VALUE or KEY!=VALUE, repeatable, ANDed")] = [],  # noqa: B006
    sort: Annotated[Optional[str], Query(description="FIELD or -FIELD")] = None,
    limit: Annotated[int, Query(description="rows per page, 1..10000")] = 100,
    cursor: Annotated[Optional[str], Query(description="next_cursor of the previous page")] = None,
) -> ListQuery:
    return ListQuery(filters=list(filter), sort=sort, limit=limit, cursor=cursor)


StoreDep = Annotated[Store, Depends(get_store)]
ListingDep = Annotated[ListQuery, Depends(listing)]
