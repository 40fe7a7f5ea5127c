"""Imported by `rayscope_debugger.pth` at every interpreter start where RAYSCOPE_DEBUGGER=1.

Kept to the modules Python has loaded anyway (every Ray node process pays for it): it only
arranges for `ray.util.rpdb` to be patched by `worker_hook` when something imports it, and, in a
Ray worker, registers the profiler's no-ptrace stack dump (profiling/fallback.py).
"""
import os
import sys
from importlib.machinery import PathFinder
from typing import Optional

WORKER_SCRIPT = os.path.join("workers", "default_worker.py")


class PatchRpdbOnImport:
    """A meta path finder: lets `ray.util.rpdb` load normally, then swaps in our two hooks."""

    def find_spec(self, name, path, target=None):
        if name != "ray.util.rpdb":
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            from rayscope.debugger.worker_hook import patch_rpdb

            patch_rpdb(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # wrapped on purpose
        return spec


def ray_worker_session_dir(argv: list[str]) -> Optional[str]:
    """The session dir of a Ray worker from its command line, None for any other process.

    The raylet starts Python workers as `python .../ray/_private/workers/default_worker.py ...
    --session-name=session_X --temp-dir=/tmp/ray ...` (ray/_private/services.py), and Ray's node
    puts the session dir at temp_dir/session_name (ray/_private/node.py). Drivers, the raylet's
    Python helpers and setup_worker.py (which execs default_worker.py) are not matched.
    """
    if not argv or not argv[0].endswith(WORKER_SCRIPT):
        return None
    opts: dict[str, str] = {}
    for i, arg in enumerate(argv[1:], 1):
        name, eq, value = arg.partition("=")
        if name in ("--temp-dir", "--session-name"):
            opts[name] = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
    temp, session = opts.get("--temp-dir"), opts.get("--session-name")
    return os.path.join(temp, session) if temp and session else None


def _profiling_fallback() -> None:
    """In a Ray worker: the faulthandler stack dump on a signal, and Yama scope 1's ptrace opt-in."""
    session_dir = ray_worker_session_dir(sys.argv)
    if session_dir is None:
        return
    from rayscope.profiling import fallback

    try:
        fallback.allow_same_uid_ptrace()
        fallback.register(session_dir)
    except OSError as e:  # an unwritable session dir must not stop the worker
        print(f"rayscope: no stack-dump fallback in this worker: {e}", file=sys.stderr)


def install():
    _profiling_fallback()
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if "ray.util.rpdb" in sys.modules:
        from rayscope.debugger.worker_hook import patch_rpdb

        patch_rpdb(sys.modules["ray.util.rpdb"])
    elif not any(isinstance(f, PatchRpdbOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchRpdbOnImport())
