"""API errors: defined in common/api_errors.py (the debugger raises them too); re-exported here for
the head's modules."""
from __future__ import annotations

from rayscope.common.api_errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized

__all__ = ["ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "Unauthorized"]
