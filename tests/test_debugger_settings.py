"""How the debugger gets into Ray workers: the shipped .pth, the env `rayscope start` sets, the
post-mortem switch, and where the agent's socket lives."""
from __future__ import annotations

import os
import subprocess
import sys

from rayscope.cli.main import build_parser
from rayscope.debugger import relay_protocol as rp
from rayscope.runtime import node
from rayscope.runtime.ray_settings import ray_start_env

PROBE = "import sys, ray; print(ray.util.rpdb.set_trace.__module__, 'pydantic' in sys.modules)"


def _probe(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "RAYSCOPE_DEBUGGER"}
    if env_value is not None:
        env["RAYSCOPE_DEBUGGER"] = env_value
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          timeout=120, check=True).stdout.strip()


def test_pth_hooks_workers_only_when_the_env_says_so():
    # the hook replaces Ray's worker breakpoint hook without loading anything heavy at startup
    assert _probe("1") == "rayscope.debugger.worker_hook False"
    assert _probe(None) == "ray.util.rpdb False"
    assert _probe("0") == "ray.util.rpdb False"  # a job's opt-out


def test_rayscope_start_env_and_post_mortem_flag():
    env = ray_start_env({}, joining=False)
    assert env["RAYSCOPE_DEBUGGER"] == "1" and env["PYDEVD_DISABLE_FILE_VALIDATION"] == "1"
    assert "RAY_DEBUG_POST_MORTEM" not in env
    args, _ = build_parser().parse_known_args(["start", "--head", "--debug-post-mortem"])
    assert args.debug_post_mortem is True
    opts = node.StartOptions(home=None, debug_post_mortem=True)  # type: ignore[arg-type]
    assert node._with_post_mortem(env, opts)["RAY_DEBUG_POST_MORTEM"] == "1"


def test_agent_socket_path_is_short_enough_for_unix_sockets(tmp_path):
    short = tmp_path / "s"
    short.mkdir()
    assert rp.socket_path(str(short)) == os.path.join(os.path.realpath(short), "rayscope", "debug.sock")
    deep = tmp_path / ("x" * 120)
    deep.mkdir()
    path = rp.socket_path(str(deep))
    assert len(path) <= rp.MAX_UNIX_PATH and path == rp.socket_path(str(deep))  # stable per session dir
