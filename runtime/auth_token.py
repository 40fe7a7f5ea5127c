"""The one bearer token of a Rayscope cluster.

When Ray's token auth is on, Rayscope reuses Ray's token (one secret to manage), found
the way Ray finds it: ``RAY_AUTH_TOKEN``, then ``RAY_AUTH_TOKEN_PATH``, then
``~/.ray/auth_token``. Ray 2.60 turns token auth on when ``RAY_AUTH_MODE=token``, or
when the mode is unset and one of those tokens exists (``ray start --head``). Otherwise
Rayscope keeps its own token in ``$RAYSCOPE_HOME/token`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from rayscope.common.atomic_file import write_atomic

__all__ = [
    "TokenSource",
    "TokenError",
    "TokenFileMissing",
    "read_token_file",
    "read_or_create_token",
    "write_token_file",
    "rayscope_home",
    "find_ray_token",
    "ray_auth_enabled",
    "resolve_token",
    "token_file_for",
    "ensure_ray_token",
]


class TokenError(RuntimeError):
    """A token was required but none could be found or read."""


class TokenFileMissing(TokenError):
    """The token file does not exist (callers that have a fallback catch this one)."""


@dataclass(frozen=True)
class TokenSource:
    """A token and where it came from (for messages like 'token in ~/.ray/auth_token')."""

    token: str
    path: Path | None  # None when it came from the RAY_AUTH_TOKEN variable
    origin: str  # RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token, rayscope


def rayscope_home(env: Mapping[str, str] | None = None) -> Path:
    """$RAYSCOPE_HOME, default ~/.rayscope."""
    env = os.environ if env is None else env
    return Path(env.get("RAYSCOPE_HOME") or Path.home() / ".rayscope").expanduser()


def read_token_file(path: str | Path) -> str:
    """The token in a token file (surrounding blanks and the newline stripped).

    The one reader of token files, for the agent, the head, the CLIs and `rayscope start`: a
    missing file is TokenFileMissing, an unreadable or empty one TokenError, each one line that
    names the file (an empty token must never be sent as if it were one).
    """
    try:
        token = Path(path).read_text().strip()
    except FileNotFoundError:
        raise TokenFileMissing(f"token file {path} does not exist") from None
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc}") from None
    if not token:
        raise TokenError(f"token file {path} is empty")
    return token


def write_token_file(path: Path, token: str) -> None:
    """Replace `path` with `token` (and a newline), mode 0600 even when the file existed with a
    looser one; a reader sees the old token or the new, never an empty file."""
    write_atomic(path, token + "\n", durable=True, mode=0o600)


def read_or_create_token(path: Path) -> str:
    """The head's token file, created (mode 0600, a fresh random token) when it does not exist;
    when two starts race, both read the one that was linked into place first."""
    try:
        return read_token_file(path)
    except TokenFileMissing:
        _create_private(path, secrets.token_urlsafe(32) + "\n")
        return read_token_file(path)


def _read(path: Path, origin: str) -> TokenSource | None:
    try:
        return TokenSource(token=read_token_file(path), path=path, origin=origin)
    except TokenFileMissing:
        return None


def find_ray_token(env: Mapping[str, str] | None = None) -> TokenSource | None:
    """Ray's token in Ray's order of precedence, or None when Ray has none."""
    env = os.environ if env is None else env
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return TokenSource(env["RAY_AUTH_TOKEN"].strip(), None, "RAY_AUTH_TOKEN")
    if env.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(env["RAY_AUTH_TOKEN_PATH"]).expanduser()
        found = _read(path, "RAY_AUTH_TOKEN_PATH")
        if found is None:
            raise TokenError(f"RAY_AUTH_TOKEN_PATH={path} does not exist")
        return found
    home = Path(env.get("HOME") or Path.home())
    return _read(home / ".ray" / "auth_token", "~/.ray/auth_token")


def ray_auth_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether a Ray node started with this environment runs with token auth."""
    env = os.environ if env is None else env
    mode = env.get("RAY_AUTH_MODE")
    if mode:
        return mode.lower() == "token"
    return find_ray_token(env) is not None


def _rayscope_token(home: Path, create: bool) -> TokenSource:
    path = home / "token"
    found = _read(path, "rayscope")
    if found is not None:
        return found
    if not create:
        raise TokenError(f"no Rayscope token in {path}")
    return TokenSource(token=read_or_create_token(path), path=path, origin="rayscope")


def _create_private(path: Path, text: str) -> bool:
    """Write ``text`` to a new 0600 file at ``path``; the first writer wins when two starts race.
    Returns whether this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def resolve_token(
    env: Mapping[str, str] | None = None, home: Path | None = None, create: bool = True
) -> TokenSource:
    """Ray's token when Ray's token auth is on, else Rayscope's own (created if asked)."""
    env = os.environ if env is None else env
    if ray_auth_enabled(env):
        found = find_ray_token(env)
        if found is None:
            raise TokenError(
                "RAY_AUTH_MODE=token but no Ray token found "
                "(set RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or create ~/.ray/auth_token)"
            )
        return found
    return _rayscope_token(home or rayscope_home(env), create)


def token_file_for(source: TokenSource, home: Path) -> Path:
    """A file holding the token (the head and agents take --token-file).

    A token given only by RAY_AUTH_TOKEN is copied to $RAYSCOPE_HOME/ray_token (0600).
    """
    if source.path is not None:
        return source.path
    home.mkdir(parents=True, exist_ok=True)
    path = home / "ray_token"
    write_token_file(path, source.token)
    return path


def ensure_ray_token(env: Mapping[str, str]) -> tuple[TokenSource, bool]:
    """Ray's token, generated the way ``ray get-auth-token --generate`` does when there is none.

    Returns the token and whether it was created now. Ray writes 64 hex characters to
    ``~/.ray/auth_token``; we do the same (mode 0600, which Ray does not set), so Ray's own
    tools, drivers and ``ray start`` on other hosts find it where Ray looks.
    """
    found = find_ray_token(env)
    if found is not None:
        return found, False
    home = Path(env.get("HOME") or Path.home())
    path = home / ".ray" / "auth_token"
    created = _create_private(path, secrets.token_hex(32))
    found = _read(path, "~/.ray/auth_token")
    assert found is not None
    return found, created
