"""The paused worker's debugpy port takes only the node agent's relay: a per-process access token.

Why: debugpy (pydevd, in-process adapter) listens on 127.0.0.1 in a paused worker, and the DAP it
speaks can evaluate any expression. Without a token any local user of the node could connect to
that port and run code as the Ray user while a task is paused. pydevd has the guard built in: given
an access token, it answers every request with "Client not authenticated." until a
``pydevdAuthorize`` request carries the token (debugpy's own adapter uses it the same way).

The hops:
  worker  ``listen_with_token``: a random token per process; pydevd listens with it; every new
          connection starts unauthenticated (``logout`` before pydevd takes the socket).
  worker → agent: the token goes with the session's ``up`` message over the agent's Unix socket
          (0600 in a 0700 dir: only the Ray user's processes can read it; see relay_protocol).
  agent   ``authorize``: the relay sends ``pydevdAuthorize`` first on each connection to the
          worker, checks the answer, then carries the client's bytes. The token never leaves the
          node and never reaches the head or the client.
"""
from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

AUTHORIZE_TIMEOUT_S = 10.0
_HEADER_END = b"\r\n\r\n"


class AuthorizeFailed(Exception):
    """The worker's debugger did not accept the token (or did not answer like pydevd)."""


def new_token() -> str:
    return secrets.token_hex(32)


def listen_with_token(token: str) -> int:
    """Start debugpy's in-process listener on 127.0.0.1 with ``token`` required; returns its port.

    debugpy.listen() has no access-token argument, but passes its settings to the module-level
    ``debugpy.server.api._settrace``, whose ``access_token`` pydevd enforces: we add it for this one
    call. If a debugpy release drops that name we refuse to listen (fail closed), never open the
    port unguarded.
    """
    import debugpy
    import pydevd
    from debugpy.server import api

    real = getattr(api, "_settrace", None)
    if real is None:
        raise RuntimeError(f"debugpy {debugpy.__version__}: no debugpy.server.api._settrace to pass an "
                           "access token through; refusing to listen without one")

    def settrace_with_token(*args: Any, **kwargs: Any) -> Any:
        kwargs["access_token"] = token
        return real(*args, **kwargs)

    api._settrace = settrace_with_token
    try:
        _, port = debugpy.listen(("127.0.0.1", 0), in_process_debug_adapter=True)
    finally:
        api._settrace = real
    py_db = pydevd.get_global_debugger()
    if py_db is None or py_db.authentication.access_token != token:
        raise RuntimeError("debugpy listened without the access token; refusing to go on")
    _logout_on_each_connection(py_db)
    return int(port)


def _logout_on_each_connection(py_db: Any) -> None:
    """pydevd keeps "authenticated" on the debugger, not on the connection. Its accept loop logs out
    before taking a new connection only as a side effect of disconnecting the previous reader (1.8.x);
    logging out here says it outright, so each connection must present the token whatever a
    later pydevd does there (tests/test_debugger_service.py checks a second connection)."""
    take_socket = py_db.initialize_network

    def initialize_network(sock: Any, *args: Any, **kwargs: Any) -> Any:
        py_db.authentication.logout()
        return take_socket(sock, *args, **kwargs)

    py_db.initialize_network = initialize_network


def frame(message: dict[str, Any]) -> bytes:
    """One DAP message on the wire: a Content-Length header, then the JSON body."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One DAP message, header included, as received."""
    header = await reader.readuntil(_HEADER_END)
    length = None
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise AuthorizeFailed(f"the worker's debugger sent a message without Content-Length: {header[:200]!r}")
    return header + await reader.readexactly(length)


async def authorize(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str,
                    timeout: float = AUTHORIZE_TIMEOUT_S) -> list[bytes]:
    """Present the token on a fresh connection to the worker's debugger.

    Returns the messages the debugger sent before its answer (events, if any), for the caller to
    pass on to the client, so nothing it said is lost. Raises AuthorizeFailed with the reason.
    """
    writer.write(frame({"seq": 1, "type": "request", "command": "pydevdAuthorize",
                        "arguments": {"debugServerAccessToken": token}}))
    await writer.drain()
    before: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await read_frame(reader)
                msg = json.loads(raw[raw.index(_HEADER_END) + len(_HEADER_END):])
                if msg.get("type") == "response" and msg.get("command") == "pydevdAuthorize":
                    if not msg.get("success"):
                        raise AuthorizeFailed(f"the worker's debugger refused the token: {msg.get('message')}")
                    return before
                before.append(raw)
    except TimeoutError:
        raise AuthorizeFailed(f"the worker's debugger did not answer the token within {timeout:g} s") from None
    except (asyncio.IncompleteReadError, ConnectionError) as err:
        raise AuthorizeFailed(f"the worker's debugger closed the connection during the token check: {err}") from None
    except (ValueError, asyncio.LimitOverrunError) as err:
        raise AuthorizeFailed(f"the worker's debugger answered the token check with something else: {err}") from None
