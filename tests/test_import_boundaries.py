"""Who may import whom (docs/architecture.md, Packaging): each check fails as soon as a forbidden
import comes back.

- The agent runs on every node: it must not load the head (`rayscope.dashboard`), pydantic or Ray's
  Python package (RSS and start-up time on each node; the head's API models are the head's).
- `rayscope.common` is shared by all of them, so it may import only the standard library (and
  pydantic in `api_model.py`, the API models' base, which the agent never loads).
- The debugger plugs into the head through `debugger.api.mount` / `debugger.head_service`: the head
  imports the debugger, never the other way round.

Imports are checked in a fresh interpreter, so what this test process already loaded cannot hide
one.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_agent_loads_neither_the_head_nor_pydantic_nor_ray() -> None:
    loaded = _modules_after_import("rayscope.agent.main")
    assert "rayscope.agent.debug_relay" in loaded  # the module that used to pull in the head's models
    forbidden = sorted(m for m in loaded
                       if m.startswith("rayscope.dashboard") or _top(m) in {"pydantic", "fastapi", "ray"})
    assert forbidden == []


def _imports_of(path: Path) -> list[str]:
    """Every module a file imports, at any depth of the file (function-level imports count too)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_common_imports_only_the_standard_library() -> None:
    files = sorted((ROOT / "common").glob("*.py"))
    assert {p.name for p in files} >= {"atomic_file.py", "filters.py", "api_errors.py", "api_model.py"}
    allowed = {"api_model.py": {"pydantic"}}
    bad = {f"{p.name}: {name}" for p in files for name in _imports_of(p)
           if _top(name) not in sys.stdlib_module_names | allowed.get(p.name, set())
           and not name.startswith("rayscope.common")}
    assert sorted(bad) == []


def test_alerts_import_only_the_standard_library() -> None:
    """The rule table (alerts/rules.py) is read by the CLI (which must not load the head) and by the head;
    Ray's enum names come from runtime/ray_enums.py, itself standard library only."""
    files = sorted((ROOT / "alerts").glob("*.py"))
    assert {p.name for p in files} >= {"rules.py"}
    bad = {f"{p.name}: {name}" for p in files for name in _imports_of(p)
           if _top(name) not in sys.stdlib_module_names
           and not name.startswith("rayscope.alerts") and name != "rayscope.runtime.ray_enums"}
    assert sorted(bad) == []


def test_the_debugger_imports_nothing_of_the_head() -> None:
    """The head imports the debugger to mount it (dashboard/app.py, dashboard/server.py); the
    debugger gets what it needs from the head as arguments (debugger/api.py: mount)."""
    files = sorted((ROOT / "debugger").rglob("*.py"))
    assert len(files) >= 8
    bad = {f"{p.relative_to(ROOT)}: {name}" for p in files for name in _imports_of(p)
           if name.startswith("rayscope.dashboard")}
    assert sorted(bad) == []
    # Also what the import statements load in turn, in a fresh interpreter.
    loaded = _modules_after_import("rayscope.debugger.api, rayscope.debugger.head_service, rayscope.debugger.models")
    assert "rayscope.debugger.registry" in loaded
    assert sorted(m for m in loaded if m.startswith("rayscope.dashboard")) == []


def test_the_head_serves_the_debuggers_models_as_its_own() -> None:
    """One definition: dashboard.models re-exports the debugger's API models, it does not copy them."""
    from rayscope.dashboard import models as m
    from rayscope.debugger import models as dm

    assert (m.DebugSession, m.DebugTicket, m.DebugResumed) == (dm.DebugSession, dm.DebugTicket, dm.DebugResumed)


PROFILING_NODE_MODULES = ("errors", "pyspy", "fallback", "memory", "capabilities")


def test_the_profilers_node_side_imports_only_the_standard_library_and_the_wire() -> None:
    """The agent loads profiling/'s node modules, and every Ray worker loads fallback.py at start:
    the standard library, protobuf (through the wire's messages) and each other, nothing else."""
    files = [ROOT / "profiling" / f"{m}.py" for m in PROFILING_NODE_MODULES]
    bad = {f"{p.name}: {name}" for p in files for name in _imports_of(p)
           if _top(name) not in sys.stdlib_module_names and not name.startswith(("rayscope.wire", "rayscope.profiling"))}
    assert sorted(bad) == []
    loaded = _modules_after_import(", ".join(f"rayscope.profiling.{m}" for m in PROFILING_NODE_MODULES))
    assert sorted(m for m in loaded if _top(m) in {"pydantic", "fastapi", "ray"} or m.startswith("rayscope.dashboard")) == []
    # the worker's start-up import stays light: not even the wire's messages
    worker = _modules_after_import("rayscope.profiling.fallback")
    assert "rayscope.wire.rayscope_ingest_pb2" not in worker and "ctypes" not in worker
