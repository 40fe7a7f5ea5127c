"""Token auth on by default for a head, the agent's link file, and the reachability check,
without a Ray cluster (the multi-host tests run them for real across network namespaces)."""

from __future__ import annotations

import re
import socket
import stat
from pathlib import Path

import pytest

from rayscope.runtime.agent_link import AgentLink, describe_link, read_link, write_link
from rayscope.runtime.auth_token import (
    TokenError,
    TokenFileMissing,
    TokenSource,
    find_ray_token,
    read_or_create_token,
    read_token_file,
    token_file_for,
)
from rayscope.runtime.node import NodeError, head_auth_env
from rayscope.runtime.reach import unreachable_reason


def test_head_turns_ray_token_auth_on_and_makes_rays_token(tmp_path: Path) -> None:
    env, token, created = head_auth_env({"HOME": str(tmp_path)}, token_auth=True)
    path = tmp_path / ".ray" / "auth_token"
    assert created and token is not None and token.path == path
    assert env["RAY_AUTH_MODE"] == "token"
    # Ray's format (`ray get-auth-token --generate`: 64 hex characters), private to the user.
    assert re.fullmatch(r"[0-9a-f]{64}", path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Ray's own lookup finds it where Ray looks.
    found = find_ray_token({"HOME": str(tmp_path)})
    assert found is not None and found.token == path.read_text()
    # A second start reuses it.
    _, again, created_again = head_auth_env({"HOME": str(tmp_path)}, token_auth=True)
    assert not created_again and again is not None and again.token == token.token


def test_an_existing_ray_token_is_used_not_replaced(tmp_path: Path) -> None:
    given = tmp_path / "cluster_token"
    given.write_text("given-token")
    env, token, created = head_auth_env({"HOME": str(tmp_path), "RAY_AUTH_TOKEN_PATH": str(given)}, True)
    assert not created and token is not None and token.token == "given-token"
    assert env["RAY_AUTH_MODE"] == "token"
    assert not (tmp_path / ".ray").exists()


@pytest.mark.parametrize("env_extra,flag", [({}, False), ({"RAY_AUTH_MODE": "disabled"}, True)])
def test_opting_out_leaves_auth_off_and_makes_no_token(tmp_path: Path, env_extra: dict, flag: bool) -> None:
    env, token, created = head_auth_env({"HOME": str(tmp_path), **env_extra}, token_auth=flag)
    assert env["RAY_AUTH_MODE"] == "disabled" and token is None and not created
    assert not (tmp_path / ".ray").exists()


def test_token_mode_with_a_missing_token_path_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="does not exist"):
        head_auth_env({"HOME": str(tmp_path), "RAY_AUTH_TOKEN_PATH": str(tmp_path / "nope")}, True)


def _link(**kw) -> AgentLink:
    base = dict(head="10.0.0.1:8291", connected=True, last_ack_at=100.0, last_error="", rejected_token=False,
                updated_at=100.0, pid=42)
    return AgentLink(**{**base, **kw})


def test_the_one_token_reader(tmp_path: Path) -> None:
    """Agent, head, CLIs and `rayscope start` read token files with read_token_file: the token
    stripped; a missing, empty or unreadable file is one line naming it, never an empty token."""
    path = tmp_path / "token"
    with pytest.raises(TokenFileMissing, match=f"token file {path} does not exist"):
        read_token_file(path)
    path.write_text("  s3cret\n")
    assert read_token_file(str(path)) == "s3cret"
    path.write_text("\n")
    with pytest.raises(TokenError, match=f"token file {path} is empty"):
        read_token_file(path)
    with pytest.raises(TokenError, match=f"cannot read token file {tmp_path}"):
        read_token_file(tmp_path)  # a directory: read fails with IsADirectoryError


def test_the_heads_token_is_created_private_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "token"
    first = read_or_create_token(path)
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_token(path) == first  # an existing token is kept
    assert sorted(p.name for p in path.parent.iterdir()) == ["token"]  # no temporary file left


def test_a_token_given_by_variable_is_copied_private_even_over_a_looser_file(tmp_path: Path) -> None:
    """RAY_AUTH_TOKEN has no file; the head and agents take one, $RAYSCOPE_HOME/ray_token, which must be
    0600 even when an older copy was left readable by others (opening it with O_TRUNC kept its mode)."""
    old = tmp_path / "ray_token"
    old.write_text("old\n")
    old.chmod(0o644)
    path = token_file_for(TokenSource("fresh", None, "RAY_AUTH_TOKEN"), tmp_path)
    assert path == old and read_token_file(path) == "fresh"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ray_token"]


def test_link_file_round_trip_and_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "link.json"
    assert read_link(path) is None
    write_link(path, _link())
    assert read_link(path) == _link()
    path.write_text("{not json")
    assert read_link(path) is None


def test_link_descriptions() -> None:
    assert describe_link(None) == "agent has not reported its link to the head yet"
    assert describe_link(_link(), now=101.5) == "agent connected to 10.0.0.1:8291 (last ack 1.5 s ago)"
    assert "no ack for 30 s" in describe_link(_link(), now=130.0)
    down = describe_link(_link(connected=False, last_error="connection refused"), now=160.0)
    assert down == "agent NOT connected to 10.0.0.1:8291: connection refused; last ack 60 s ago"


def test_unreachable_reason_refused_and_open() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert unreachable_reason(f"127.0.0.1:{port}") is None
    reason = unreachable_reason(f"127.0.0.1:{port}")  # closed now
    assert reason is not None and "refused" in reason
    assert "HOST:PORT" in (unreachable_reason("no-port-here") or "")

