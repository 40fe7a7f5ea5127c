"""The web UI: the built single-page app (frontend/ -> dist/), served by the head at `/`.

Where the assets are: `rayscope/dashboard/static/` in an installed wheel (hatchling force-include
of frontend/dist), else `<repo>/frontend/dist` for a dev-linked venv (dashboard/ is a symlink to
the repo, so resolving this file finds the repo), else $RAYSCOPE_UI_DIR. Nothing is written at run
time. The app shell is public (it holds no data); every /api call still needs the token, which
the browser keeps in sessionStorage (see docs/web-ui.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from rayscope.dashboard.models import API_PREFIX

UI_DIR_ENV = "RAYSCOPE_UI_DIR"
# FastAPI's own pages describe the API: they stay behind the token like the API itself.
_PROTECTED = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics"}  # /metrics: Prometheus, token
_SHELL_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The vendored speedscope viewer (frontend/build.mjs copies it into <ui>/speedscope/): framed by the
# app's profile page only (same origin), and it reads the profile from a blob: URL the app made
# with its token (a fetch of a blob: URL is a connect-src). It compiles a WebAssembly module at start
# (its JFR importer): 'wasm-unsafe-eval' allows that, and no JavaScript eval.
SPEEDSCOPE = "/speedscope/"
_SPEEDSCOPE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self' blob:; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_NOT_BUILT = """<!doctype html><title>Rayscope</title><body style="font:14px system-ui;margin:40px">
<h1>Rayscope</h1><p>The web UI is not built in this install. Run <code>./run setup</code> in the repository
(it builds <code>frontend/</code> with npm), or use the API under <code>/api/v1</code> and the
<code>rayscope</code> CLI.</p></body>"""


def ui_dir() -> Optional[Path]:
    """The folder holding index.html and assets/, or None when the UI was not built."""
    here = Path(__file__)
    candidates = [Path(os.environ[UI_DIR_ENV])] if os.environ.get(UI_DIR_ENV) else []
    candidates += [here.parent / "static", here.resolve().parent.parent / "frontend" / "dist"]
    return next((c for c in candidates if (c / "index.html").is_file()), None)


def is_public(scope: Scope) -> bool:
    """GETs of the app shell and its assets need no token; the API, WS and API docs do."""
    if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
        return False
    path: str = scope.get("path", "")
    return not (path == API_PREFIX or path.startswith(API_PREFIX + "/") or path in _PROTECTED)


class UiMiddleware:
    """Serves the app shell before routing: /assets/* from the build, and index.html for every other
    public path (the app routes in the browser: /tasks?state=FAILED is a real, shareable URL).
    A middleware rather than a catch-all route, so API routers mounted later are never shadowed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.root = ui_dir()

    def _speedscope(self, path: str) -> Response:
        """A file of the vendored speedscope build; its index.html is not content-hashed, the rest is."""
        name = path[len(SPEEDSCOPE):] or "index.html"
        f = self.root / "speedscope" / name if self.root else None
        if f is None or "/" in name or name.startswith(".") or not f.is_file():
            return JSONResponse({"error": f"no speedscope file {name}"}, status_code=404)
        cache = "no-cache" if name == "index.html" else "public, max-age=31536000, immutable"
        return FileResponse(f, headers={**_SPEEDSCOPE_HEADERS, "Cache-Control": cache})

    def _response(self, path: str) -> Response:
        if path.startswith(SPEEDSCOPE):
            return self._speedscope(path)
        if path.startswith("/assets/"):
            name = path[len("/assets/"):]
            f = self.root / "assets" / name if self.root else None
            if f is None or "/" in name or name.startswith(".") or not f.is_file():
                return JSONResponse({"error": f"no asset {name}"}, status_code=404)
            # Names carry a content hash: cache them for good.
            return FileResponse(f, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                            "X-Content-Type-Options": "nosniff"})
        if self.root is None:
            return HTMLResponse(_NOT_BUILT, headers=_SHELL_HEADERS)
        return FileResponse(self.root / "index.html", media_type="text/html", headers=_SHELL_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_public(scope):
            await self._response(scope["path"])(scope, receive, send)
        else:
            await self.app(scope, receive, send)
