"""The Ray settings Rayscope needs, and how they reach every Ray process.

Verified on Ray 2.60 (see docs/ray-integration.md):
- ``RAY_enable_export_api_write=1`` in the environment of ``ray start`` reaches GCS, the
  raylet and the workers the raylet spawns, but NOT a driver started as a plain
  ``python script.py`` without that variable: the driver creates an empty
  ``event_EXPORT_TASK_<pid>.log`` and the tasks it owns never get their task_info or
  PENDING states written.
- ``ray start --head --system-config='{"enable_export_api_write": true}'`` stores the
  flag in the cluster's system config in GCS; raylets, workers and drivers (``ray.init
  (address=...)``) read it from there, so the driver writes its events too.
So the head gets both; joining nodes get the variable only (a joining node may pass
no --system-config that is not a subset of the head's, and it inherits the head's).
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from rayscope.runtime.auth_token import find_ray_token

__all__ = [
    "EXPORT_ENV",
    "EXPORT_SYSTEM_CONFIG",
    "TRAIN_STATE_ENV",
    "DATA_PROGRESS_ENV",
    "RaySettingsError",
    "ray_start_env",
    "with_export_system_config",
    "option_value",
]

EXPORT_ENV: dict[str, str] = {"RAY_enable_export_api_write": "1"}
EXPORT_SYSTEM_CONFIG: dict[str, object] = {"enable_export_api_write": True}
# Workers inherit the raylet's environment: this turns on Rayscope's breakpoint hook in every
# worker of every job (debugger/worker_hook.py, via the wheel's rayscope_debugger.pth).
DEBUGGER_ENV: dict[str, str] = {"RAYSCOPE_DEBUGGER": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
POST_MORTEM_ENV: dict[str, str] = {"RAY_DEBUG_POST_MORTEM": "1"}
# Ray Train 2.60 writes its run/attempt export events only when the process that builds the
# trainer has this (ray/train/v2/api/data_parallel_trainer.py l. 238). Through the raylet it reaches
# every process Ray starts: submitted jobs' drivers (their supervisor inherits the raylet's
# environment), tasks and actors that call `.fit()`. An interactive driver needs it in its own
# shell (docs/ray-integration.md). It only adds a detached state actor when a trainer runs.
TRAIN_STATE_ENV: dict[str, str] = {"RAY_TRAIN_ENABLE_STATE_TRACKING": "1"}
# Rayscope's Ray Data progress callback (runtime/data_progress.py), opt-in per driver and NOT in
# ray_start_env: Ray raises on every dataset when the module named there cannot be imported, as in
# a driver or job whose Python environment lacks Rayscope (a conda runtime_env). Set by `rayscope
# demo` for its own driver, by the tests, and by users in their drivers' shells.
DATA_PROGRESS_ENV: dict[str, str] = {"RAY_DATA_EXECUTION_CALLBACKS": "rayscope.runtime.data_progress.ProgressCallback"}


class RaySettingsError(ValueError):
    """User-supplied Ray options Rayscope cannot combine with its own."""


def ray_start_env(base: Mapping[str, str], joining: bool) -> dict[str, str]:
    """Environment for ``ray start`` (and drivers/agents talking to the cluster).

    A joining node or driver must say RAY_AUTH_MODE=token explicitly when the cluster
    uses token auth (Ray does not infer it there); we infer it from an available token.
    """
    env = dict(base)
    env.update(EXPORT_ENV)
    env.update(DEBUGGER_ENV)
    env.setdefault("RAY_TRAIN_ENABLE_STATE_TRACKING", TRAIN_STATE_ENV["RAY_TRAIN_ENABLE_STATE_TRACKING"])
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if joining and "RAY_AUTH_MODE" not in env and find_ray_token(env) is not None:
        env["RAY_AUTH_MODE"] = "token"
    return env


def option_value(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name X`` or ``--name=X`` in a ``ray start`` argument list."""
    flag = f"--{name}"
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


def _without_option(args: Sequence[str], name: str) -> list[str]:
    flag = f"--{name}"
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def with_export_system_config(args: Sequence[str]) -> list[str]:
    """``ray start --head`` args with enable_export_api_write merged into --system-config."""
    raw = option_value(args, "system-config")
    config: dict[str, object] = {}
    if raw is not None:
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RaySettingsError(f"--system-config is not JSON: {exc}") from None
        if not isinstance(config, dict):
            raise RaySettingsError("--system-config must be a JSON object")
    if config.get("enable_export_api_write") is False:
        raise RaySettingsError("--system-config disables enable_export_api_write, which Rayscope needs")
    config.update(EXPORT_SYSTEM_CONFIG)
    return _without_option(args, "system-config") + [f"--system-config={json.dumps(config)}"]
