"""API errors: every 4xx answer is `{"error": "<one line>"}` (api_model.ErrorBody), written by the
head's exception handler (dashboard/app.py) for the head's routes and the debugger's alike."""
from __future__ import annotations


class ApiError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


class Forbidden(ApiError):
    status = 403


class Conflict(ApiError):
    status = 409
