"""GET /logs/files, /logs/lines, /logs/search."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query

from rayscope.common.filters import FilterSyntaxError, parse_filter
from rayscope.dashboard import models as m
from rayscope.dashboard.api.deps import ListingDep, StoreDep
from rayscope.dashboard.errors import BadRequest
from rayscope.dashboard.store import specs
from rayscope.dashboard.store.read_logs import LineSelector, SearchQuery

router = APIRouter(tags=["logs"])


@router.get("/logs/files", response_model=m.Page[m.LogFile])
def list_log_files(store: StoreDep, q: ListingDep):
    return store.page(specs.LOG_FILES, q)


@router.get("/logs/lines", response_model=m.Page[m.LogLine])
def log_lines(
    store: StoreDep,
    file_id: Optional[str] = None, node_id: Optional[str] = None, task_id: Optional[str] = None,
    actor_id: Optional[str] = None, worker_id: Optional[str] = None, job_id: Optional[str] = None,
    limit: int = 100, cursor: Optional[str] = None,
):
    sel = LineSelector(file_id=file_id, node_id=node_id, task_id=task_id, actor_id=actor_id,
                       worker_id=worker_id, job_id=job_id)
    return store.log_lines(sel, limit, cursor)


def _split_filters(raw: list[str]) -> tuple[list[tuple[str, bool, str]], Optional[str]]:
    out, task_id = [], None
    for r in raw:
        try:
            f = parse_filter(r)
        except FilterSyntaxError as e:
            raise BadRequest(str(e)) from None
        if f.key == "task_id" and not f.negate:
            task_id = f.value
        else:
            out.append((f.key, f.negate, f.value))
    return out, task_id


@router.get("/logs/search", response_model=m.Page[m.LogSearchHit])
def log_search(
    store: StoreDep,
    q: Optional[str] = None,
    regex: Optional[str] = None,
    context: int = 0,
    filter: Annotated[list[str], Query()] = [],  # noqa: B006
    task_id: Optional[str] = None,
    limit: int = 100,
    cursor: Optional[str] = None,
):
    filters, ftask = _split_filters(filter)
    sq = SearchQuery(q=q, regex=regex, context=context, filters=filters, task_id=task_id or ftask,
                     limit=limit, cursor=cursor)
    return store.log_search(sq)
