"""A small typed HTTP client for the head's REST API, shared by the Rayscope CLIs.

One place for: finding the head (flag, env, local state file), the bearer token, the CA that
an https head's certificate is verified against, following listing cursors, parsing answers
into `rayscope.dashboard.models`, and turning every failure into a `HeadError` whose message is
one line a CLI can print as is.
"""
from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from rayscope.common.filters import FilterSyntaxError, parse_filter
from rayscope.dashboard.models import API_PREFIX, ErrorBody, Page
from rayscope.runtime.auth_token import TokenError, TokenFileMissing, rayscope_home, read_token_file
from rayscope.runtime.state import HeadInfo as LocalHead
from rayscope.runtime.state import StateError, local_head

T = TypeVar("T")

ENV_ADDRESS = "RAYSCOPE_ADDRESS"
ENV_TOKEN = "RAYSCOPE_TOKEN"
ENV_TLS_CA = "RAYSCOPE_TLS_CA"
# Ray's own CA variable (for Ray's gRPC TLS) is a fallback for the CA only: a cluster whose CA
# signed the head's certificate too needs no second setting. It never turns TLS on: the
# https:// scheme of the head's URL does.
RAY_ENV_TLS_CA = "RAY_TLS_CA_CERT"
MAX_PAGE = 10_000  # the head's per-page cap
DEFAULT_TIMEOUT_S = 30.0

Params = Sequence[tuple[str, Any]]


class HeadError(Exception):
    """A failure talking to the head; `str(err)` is one line for stderr."""


class HeadUnreachable(HeadError):
    """Nothing answers at the head's URL (refused, timed out, bad host)."""


class HeadAuthError(HeadError):
    """401: the token is missing or wrong."""


class HeadNotFound(HeadError):
    """404: an unknown id."""


class HeadConflict(HeadError):
    """409: the request clashes with the current state (e.g. a debug session already attached)."""


class HeadBadRequest(HeadError):
    """400: bad filter, sort key or cursor; the head's message lists what is valid."""


class HeadProtocolError(HeadError):
    """The head answered something we cannot understand (5xx, not JSON, wrong shape)."""


class NoHeadConfigured(HeadError):
    """Neither a flag, the environment nor the local state file says where the head is."""


@dataclass(frozen=True)
class HeadTarget:
    """Where the head is and how to authenticate; `url` has no trailing slash nor API prefix."""

    url: str
    token: Optional[str]
    tls_ca: Optional[str] = None  # PEM CA file for an https head; None: the system's trust store


def _local_head() -> Optional[LocalHead]:
    """The head this host's `rayscope start` recorded in $RAYSCOPE_HOME/state.json, if any."""
    try:
        return local_head()
    except StateError as exc:
        raise NoHeadConfigured(str(exc)) from None
    except OSError as exc:
        raise NoHeadConfigured(f"cannot read the local Rayscope state: {exc}") from None


def normalize_url(address: str) -> str:
    """`127.0.0.1:8290`, `http://h:8290/`, `http://h:8290/api/v1` -> `http://h:8290`."""
    url = address.strip()
    if not url:
        raise NoHeadConfigured("the head address is empty")
    if "://" not in url:
        url = "http://" + url
    url = url.rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


def _read_token_file(path: Path) -> Optional[str]:
    """A candidate token file's token; None when it does not exist (the next candidate is tried)."""
    try:
        return read_token_file(path)
    except TokenFileMissing:
        return None
    except TokenError as exc:
        raise HeadAuthError(str(exc)) from None


def resolve_tls_ca(flag: Optional[str] = None) -> Optional[str]:
    """The CA for https heads: `--tls-ca`, else $RAYSCOPE_TLS_CA, else Ray's $RAY_TLS_CA_CERT."""
    for value in (flag, os.environ.get(ENV_TLS_CA), os.environ.get(RAY_ENV_TLS_CA)):
        if value:
            return os.path.expanduser(value)
    return None


def tls_context(target: HeadTarget) -> Optional[ssl.SSLContext]:
    """The context that verifies an https head against `target.tls_ca` (also used by ray-debug's
    wss:// tunnel). None for http:// heads, or when no CA is set (the default trust store)."""
    if not target.url.startswith("https://") or not target.tls_ca:
        return None
    try:
        return ssl.create_default_context(cafile=target.tls_ca)
    except FileNotFoundError:
        raise HeadError(f"cannot read the TLS CA file {target.tls_ca}: no such file "
                        f"(from --tls-ca, ${ENV_TLS_CA} or ${RAY_ENV_TLS_CA})") from None
    except (OSError, ssl.SSLError) as exc:
        raise HeadError(f"cannot use the TLS CA file {target.tls_ca}: {exc}") from None


def resolve_target(address: Optional[str] = None, token: Optional[str] = None,
                   tls_ca: Optional[str] = None) -> HeadTarget:
    """Find the head: `--address`/`--token`, else $RAYSCOPE_ADDRESS/$RAYSCOPE_TOKEN, else the
    local state file (and `$RAYSCOPE_HOME/token`); the CA as `resolve_tls_ca` says."""
    address = address or os.environ.get(ENV_ADDRESS)
    token = token or os.environ.get(ENV_TOKEN)
    local: Optional[LocalHead] = None
    if not address:
        local = _local_head()
    elif not token:
        try:  # only a token is missing: a broken state file must not stop an explicit --address
            local = _local_head()
        except NoHeadConfigured:
            local = None
    if not address:
        if local is None or not local.http_url:
            raise NoHeadConfigured(
                "no Rayscope head known: pass --address URL, set RAYSCOPE_ADDRESS, "
                "or run `rayscope start` on this host"
            )
        address = local.http_url
    if not token:
        candidates = [local.token_file] if local else []
        candidates.append(rayscope_home() / "token")
        for path in candidates:
            token = _read_token_file(path)
            if token:
                break
    ca = resolve_tls_ca(tls_ca) or (str(local.tls_ca) if local is not None and local.tls_ca else None)
    return HeadTarget(url=normalize_url(address), token=token, tls_ca=ca)


TLS_HINT = f"pass --tls-ca FILE (or set ${ENV_TLS_CA}) with the CA that signed the head's certificate"


def _tls_reason(exc: BaseException, url: str) -> Optional[str]:
    """A TLS failure in words, with what to do about it; None if `exc` is not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({exc.verify_message}): {TLS_HINT}"
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"TLS certificate verification failed: {TLS_HINT}"
    if isinstance(exc, ssl.SSLError) or "SSL" in text:
        if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
            return "TLS handshake failed: the head does not speak TLS (use an http:// address)"
        return f"TLS handshake failed ({text.splitlines()[0] if text else type(exc).__name__})"
    if url.startswith("http://") and "disconnected without sending a response" in text:
        return "the head closed the connection without answering (if it serves HTTPS, use an https:// address)"
    return None


def _connect_reason(exc: Exception, url: str = "") -> str:
    """The root cause of a connection failure in a few words."""
    cause: Optional[BaseException] = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        tls = _tls_reason(cause, url)
        if tls is not None:
            return tls
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip()
    if "refused" in text.lower():
        return "connection refused"
    return text.splitlines()[0] if text else type(exc).__name__


def _error_text(response: httpx.Response) -> str:
    """The head's `{"error": ...}` line, or FastAPI's `{"detail": ...}`, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            return ErrorBody.model_validate(body).error
        if "detail" in body:
            detail = body["detail"]
            return detail if isinstance(detail, str) else json.dumps(detail)
    return json.dumps(body)


class HeadClient:
    """Synchronous client for /api/v1. Use as a context manager."""

    def __init__(self, target: HeadTarget, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.target = target
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self.ssl_context = tls_context(target)  # https with a CA; None: httpx's default verification
        self._http = httpx.Client(base_url=target.url + API_PREFIX, headers=headers, timeout=timeout,
                                  verify=self.ssl_context or True)

    def __enter__(self) -> "HeadClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get_json(self, path: str, params: Params = ()) -> Any:
        """GET `path` (relative to /api/v1) and return the decoded JSON, mapping errors."""
        return self._call("GET", path, params=[(k, v) for k, v in params if v is not None])

    def post_json(self, path: str, body: Any = None, headers: Optional[dict[str, str]] = None) -> Any:
        """POST `path` (relative to /api/v1); the decoded JSON answer, or None for 204."""
        return self._call("POST", path, json=body, headers=headers)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise HeadUnreachable(
                f"cannot reach the Rayscope head at {self.target.url}: timed out"
            ) from None
        except httpx.TransportError as exc:
            raise HeadUnreachable(
                f"cannot reach the Rayscope head at {self.target.url}: {_connect_reason(exc, self.target.url)}"
            ) from None
        self._raise_for_status(response)
        if response.status_code == 204 or (method != "GET" and not response.content):
            return None
        try:
            return response.json()
        except ValueError:
            raise HeadProtocolError(
                f"the answer from {self.target.url}{API_PREFIX}{path} is not JSON "
                "(is this a Rayscope head?)"
            ) from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        text = _error_text(response)
        if status == 401:
            raise HeadAuthError(f"the head rejected the token (401): {text}")
        if status == 404:
            raise HeadNotFound(text)
        if status == 409:
            raise HeadConflict(text)
        if status in (400, 422):
            raise HeadBadRequest(text)
        raise HeadProtocolError(f"the head answered {status}: {text}")

    def get(self, path: str, model: type[T], params: Params = ()) -> T:
        """GET and parse into `model` (a pydantic model or a type like `list[Task]`)."""
        return self.parse(path, model, self.get_json(path, params))

    def parse(self, path: str, model: type[T], data: Any) -> T:
        """Validate an answer from `path` into `model`, as a one-line HeadProtocolError if it is not."""
        try:
            return TypeAdapter(model).validate_python(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise HeadProtocolError(
                f"unexpected answer from {path}: {where}: {first.get('msg')}"
            ) from None

    def page(
        self, path: str, row_model: type[T], params: Params = (), limit: int = 100,
        cursor: Optional[str] = None,
    ) -> Page[T]:
        """One page of a listing."""
        query = list(params) + [("limit", min(limit, MAX_PAGE)), ("cursor", cursor)]
        return self.get(path, Page[row_model], query)  # type: ignore[valid-type]  # pydantic: a class at run time

    def iter_rows(
        self, path: str, row_model: type[T], params: Params = (), limit: Optional[int] = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[T]:
        """Rows of a listing across pages, following `next_cursor`, until `limit` rows (None: all)."""
        for page in self.iter_pages(path, row_model, params, limit, page_size):
            yield from page.rows

    def iter_pages(
        self, path: str, row_model: type[T], params: Params = (), limit: Optional[int] = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[Page[T]]:
        """Pages of a listing; the last one yielded keeps its `next_cursor` (more rows exist)."""
        cursor: Optional[str] = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = page_size if remaining is None else min(page_size, remaining)
            page = self.page(path, row_model, params, limit=size, cursor=cursor)
            if remaining is not None and len(page.rows) > remaining:
                page = Page[row_model](rows=page.rows[:remaining], next_cursor=page.next_cursor)  # type: ignore[valid-type]
            yield page
            if remaining is not None:
                remaining -= len(page.rows)
            if not page.next_cursor or not page.rows:
                return
            cursor = page.next_cursor


def filter_params(filters: Sequence[str]) -> list[tuple[str, str]]:
    """Check `KEY=VALUE` / `KEY!=VALUE` syntax (the head checks the keys) and build query params."""
    params = []
    for expr in filters:
        try:
            parse_filter(expr)
        except FilterSyntaxError as e:
            raise HeadBadRequest(f"{e}, e.g. --filter state=FAILED") from None
        params.append(("filter", expr))
    return params
