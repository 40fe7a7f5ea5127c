"""Imported by `rayscope_debugger.pth` at every interpreter start where RAYSCOPE_DEBUGGER=1.

Kept to the modules Python has loaded anyway (every Ray node process pays for it): it only
arranges for `ray.util.rpdb` to be patched by `worker_hook` when something imports it.
"""
import os
import sys
from importlib.machinery import PathFinder


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


def install():
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if "ray.util.rpdb" in sys.modules:
        from rayscope.debugger.worker_hook import patch_rpdb

        patch_rpdb(sys.modules["ray.util.rpdb"])
    elif not any(isinstance(f, PatchRpdbOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchRpdbOnImport())
