"""The base of every REST API model, the page shape and the URL prefix: shared by the head's models
(dashboard/models.py) and the debugger's (debugger/models.py), which the head mounts.

Why not in dashboard/: the debugger plugs into the head and must not import it (the head imports
the debugger); both build their API models on this one base. Needs pydantic: the agent never
imports this module (tests/test_import_boundaries.py).
"""
from __future__ import annotations

from typing import Generic, Optional, TypeVar

from pydantic import BaseModel, ConfigDict

__all__ = ["API_PREFIX", "ApiModel", "Page", "ErrorBody"]

API_PREFIX = "/api/v1"

RowT = TypeVar("RowT")


class ApiModel(BaseModel):
    """Base of every API model.

    Every field of a response is always sent (no route excludes unset or None fields), so the
    response schema lists fields with defaults as required: the generated TypeScript types
    (api-types/, `python -m rayscope.dashboard.openapi`) then read `x: T | null`, not `x?: T | null`.
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class Page(ApiModel, Generic[RowT]):
    """One page of a listing. Follow `next_cursor` until it is None; there is no row cap."""

    rows: list[RowT]
    next_cursor: Optional[str] = None


class ErrorBody(ApiModel):
    """Every 4xx/5xx answer: one line a CLI can print as is."""

    error: str
