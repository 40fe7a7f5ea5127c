"""Ray's generated protobuf modules, loaded without importing the `ray` package.

Why: importing the ray package costs ~20 MB and a second of start-up in an agent that must stay
under 50 MB. Ray's generated modules only import each other relatively, so `ray/core/generated`
is loaded as a private package without running `ray/__init__.py`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any

_ALIAS = "_rayscope_ray_generated"


def ray_generated(module: str) -> Any:
    """`ray.core.generated.<module>` (e.g. "gcs_service_pb2_grpc"); ImportError without Ray."""
    if "ray" in sys.modules:
        return importlib.import_module(f"ray.core.generated.{module}")
    if _ALIAS not in sys.modules:
        spec = importlib.util.find_spec("ray")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the ray package is not installed")
        pkg = types.ModuleType(_ALIAS)
        pkg.__path__ = [os.path.join(next(iter(spec.submodule_search_locations)), "core", "generated")]
        sys.modules[_ALIAS] = pkg
    return importlib.import_module(f"{_ALIAS}.{module}")
