"""runtime/auth_token.py, ray_settings.py, ports.py and state.py without a Ray cluster."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from rayscope.runtime import ports
from rayscope.runtime.auth_token import TokenError, ray_auth_enabled, resolve_token, token_file_for
from rayscope.runtime.ports import INTERNAL_PORT_OPTIONS, with_free_ports
from rayscope.runtime.ray_settings import (
    RaySettingsError,
    option_value,
    ray_start_env,
    with_export_system_config,
)
from rayscope.runtime.state import NodeRecord, StateError, load_state, local_head, locked_state, state_path

# ------------------------------------------------------------------ token


def test_ray_token_precedence(tmp_path: Path) -> None:
    home = tmp_path / "user"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("from-home\n")
    path_token = tmp_path / "tok"
    path_token.write_text("from-path\n")
    env = {"HOME": str(home)}
    assert resolve_token(env, tmp_path / "rs").origin == "~/.ray/auth_token"
    env["RAY_AUTH_TOKEN_PATH"] = str(path_token)
    src = resolve_token(env, tmp_path / "rs")
    assert (src.token, src.origin, src.path) == ("from-path", "RAY_AUTH_TOKEN_PATH", path_token)
    env["RAY_AUTH_TOKEN"] = "from-env"
    assert resolve_token(env, tmp_path / "rs").token == "from-env"


def test_rayscope_token_when_ray_auth_is_off(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "nohome"), "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": "ignored"}
    assert not ray_auth_enabled(env)
    first = resolve_token(env, tmp_path / "rs")
    assert first.origin == "rayscope" and len(first.token) >= 32
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert resolve_token(env, tmp_path / "rs").token == first.token  # stable
    with pytest.raises(TokenError):
        resolve_token(env, tmp_path / "other", create=False)


def test_token_mode_without_a_token_is_an_error(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token"}
    with pytest.raises(TokenError, match="no Ray token"):
        resolve_token(env, tmp_path / "rs")
    with pytest.raises(TokenError, match="does not exist"):
        resolve_token({**env, "RAY_AUTH_TOKEN_PATH": str(tmp_path / "missing")}, tmp_path / "rs")


def test_env_token_gets_a_private_file(tmp_path: Path) -> None:
    src = resolve_token({"HOME": str(tmp_path), "RAY_AUTH_TOKEN": "abc"}, tmp_path / "rs")
    path = token_file_for(src, tmp_path / "rs")
    assert path.read_text().strip() == "abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ------------------------------------------------------------------ ray settings / ports


def test_system_config_is_merged_not_replaced() -> None:
    args = with_export_system_config(["--num-cpus", "2", "--system-config", '{"a": 1}'])
    assert args[:2] == ["--num-cpus", "2"]
    assert json.loads(option_value(args, "system-config")) == {"a": 1, "enable_export_api_write": True}
    assert sum(a.startswith("--system-config") for a in args) == 1


@pytest.mark.parametrize("bad", ["not json", "[1]", '{"enable_export_api_write": false}'])
def test_bad_system_config_is_rejected(bad: str) -> None:
    with pytest.raises(RaySettingsError):
        with_export_system_config([f"--system-config={bad}"])


def test_joining_env_sets_token_mode_only_when_a_token_exists(tmp_path: Path) -> None:
    base = {"HOME": str(tmp_path)}
    assert "RAY_AUTH_MODE" not in ray_start_env(base, joining=True)
    env = ray_start_env({**base, "RAY_AUTH_TOKEN": "t"}, joining=True)
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_enable_export_api_write"] == "1"
    assert "RAY_AUTH_MODE" not in ray_start_env({**base, "RAY_AUTH_TOKEN": "t"}, joining=False)


def test_free_ports_fill_only_missing_options() -> None:
    args = with_free_ports(["--node-manager-port=1234", "--num-cpus=1"])
    assert option_value(args, "node-manager-port") == "1234"
    ports = [int(option_value(args, name)) for name in INTERNAL_PORT_OPTIONS[1:]]
    assert len(set(ports)) == len(ports) and all(p > 0 for p in ports)


def test_free_ports_never_repeat_a_port_already_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port the caller drew earlier (socket since released) can come up again: it is skipped."""
    draws = iter([[4242, 5001, 5002, 5003, 5004, 5005], [6001, 6002, 6003, 6004, 6005, 6006]])
    monkeypatch.setattr(ports, "free_ports", lambda count, host="127.0.0.1": next(draws)[:count])
    args = ports.with_free_ports(["--port=4242", "--dashboard-port=8266"])
    assert [int(option_value(args, name)) for name in INTERNAL_PORT_OPTIONS] == [6001, 6002, 6003, 6004, 6005, 6006]


# ------------------------------------------------------------------ state


def _node(temp_dir: str, role: str = "worker") -> NodeRecord:
    return NodeRecord(
        role=role, gcs_address="127.0.0.1:1", temp_dir=temp_dir, session_dir=temp_dir + "/s",
        ray_pgid=1, token_file="/t", started_at=0.0,
    )


def _add(home: str, temp_dir: str) -> None:
    with locked_state(Path(home)) as state:
        state.nodes.append(_node(temp_dir))


def test_concurrent_writers_do_not_lose_records(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add, args=(str(tmp_path), f"/tmp/n{i}")) for i in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sorted(n.temp_dir for n in load_state(tmp_path).nodes) == [f"/tmp/n{i}" for i in range(6)]


def test_local_head_and_bad_state(tmp_path: Path) -> None:
    assert local_head(tmp_path) is None
    with locked_state(tmp_path) as state:
        state.nodes.append(_node("/tmp/h", role="head"))
    assert local_head(tmp_path) is None  # no head service recorded yet
    state_path(tmp_path).write_text('{"nodes": [{"role": "boss"}]}')
    with pytest.raises(StateError, match="not valid Rayscope state"):
        load_state(tmp_path)
