"""``$RAYSCOPE_HOME/state.json``: what this host's ``rayscope start`` started.

``rayscope stop`` stops exactly these processes (never a bare ``ray stop``), and the
CLI finds the local head here. Writes are atomic (temp file + rename) and every
read-modify-write holds an exclusive lock on ``state.lock``, so concurrent starts on
one host do not lose each other's records.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Optional

from pydantic import BaseModel, ValidationError

from rayscope.common.atomic_file import write_atomic
from rayscope.runtime.auth_token import rayscope_home

__all__ = [
    "ProcessRecord",
    "HeadServiceRecord",
    "AgentRecord",
    "NodeRecord",
    "State",
    "StateError",
    "HeadInfo",
    "state_path",
    "load_state",
    "locked_state",
    "local_head",
]


class StateError(RuntimeError):
    """state.json exists but cannot be read as Rayscope state."""


class ProcessRecord(BaseModel):
    """One process we started; create_time guards against pid reuse."""

    pid: int
    create_time: float
    name: str = ""


class HeadServiceRecord(BaseModel):
    pid: int
    create_time: float
    http_url: str
    grpc_address: str
    db_path: str
    log_path: str
    tls_ca: str = ""  # the CA this host's clients verify an https head with ('' = plain HTTP)


class AgentRecord(BaseModel):
    pid: int
    create_time: float
    metrics_url: str = ""
    node_id: str = ""
    log_path: str = ""


class NodeRecord(BaseModel):
    """One Ray node started by ``rayscope start`` on this host, and its companions."""

    role: Literal["head", "worker"]
    gcs_address: str
    temp_dir: str
    session_dir: str
    node_id: str = ""
    ray_pgid: int  # the process group of `ray start`; every Ray daemon it spawned is in it
    ray_processes: list[ProcessRecord] = []
    head_service: Optional[HeadServiceRecord] = None
    agent: Optional[AgentRecord] = None
    token_file: str
    ray_token_auth: bool = False  # Ray's token auth is on: token_file is Ray's token, needed on every host
    started_at: float


class State(BaseModel):
    version: int = 1
    nodes: list[NodeRecord] = []


@dataclass(frozen=True)
class HeadInfo:
    """Where the CLI talks to the local head."""

    http_url: str
    grpc_address: str
    token_file: Path
    session_dir: Path
    tls_ca: Path | None = None


def state_path(home: Path | None = None) -> Path:
    return (home or rayscope_home()) / "state.json"


def load_state(home: Path | None = None) -> State:
    """The recorded state; empty when nothing was started."""
    path = state_path(home)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return State()
    try:
        return State.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise StateError(f"{path} is not valid Rayscope state ({where}: {first.get('msg')})") from None


def _save_state(state: State, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    write_atomic(state_path(home), state.model_dump_json(indent=2), durable=True, mode=0o600)


@contextmanager
def locked_state(home: Path | None = None) -> Iterator[State]:
    """Read-modify-write under the host-wide lock; the yielded State is saved on exit."""
    home = home or rayscope_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "state.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = load_state(home)
            yield state
            _save_state(state, home)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def local_head(home: Path | None = None) -> HeadInfo | None:
    """The head service this host started, if any (what the state CLI talks to)."""
    for node in load_state(home).nodes:
        if node.role == "head" and node.head_service is not None:
            svc = node.head_service
            return HeadInfo(svc.http_url, svc.grpc_address, Path(node.token_file), Path(node.session_dir),
                            Path(svc.tls_ca) if svc.tls_ca else None)
    return None
