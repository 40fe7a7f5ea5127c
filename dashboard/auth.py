"""Bearer-token auth for everything the head serves over HTTP: API, OpenAPI, docs and WebSocket.

An ASGI middleware (not a per-route dependency) so routes FastAPI adds itself (/openapi.json,
/docs) are covered too. Browsers cannot set headers on a WebSocket, so WS also accepts ?token=.
"""
from __future__ import annotations

import hmac
import json
from typing import Callable, Optional
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

UNAUTHORIZED = "missing or wrong token: send 'Authorization: Bearer <token>'"


def token_matches(expected: str, presented: str | None) -> bool:
    """Constant-time compare, so response timing does not leak the token."""
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())


def bearer(header_value: str | None) -> str | None:
    if not header_value:
        return None
    scheme, _, value = header_value.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


class TokenMiddleware:
    def __init__(self, app: ASGIApp, token: str, public: Optional[Callable[[Scope], bool]] = None) -> None:
        self.app = app
        self.token = token
        self.public = public  # requests that need no token (the web UI's static shell)

    def _presented(self, scope: Scope) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        tok = bearer(headers.get("authorization"))
        if tok is None and scope["type"] == "websocket":
            tok = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
        return tok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or (self.public is not None and self.public(scope))
                or token_matches(self.token, self._presented(scope))):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": UNAUTHORIZED})
            return
        body = json.dumps({"error": UNAUTHORIZED}).encode()
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})
