"""Who may import whom (docs/architecture.md, Packaging): each check fails as soon as a forbidden
import comes back.

- The agent runs on every node: it must not load the head (`rayscope.dashboard`), pydantic or Ray's
  Python package (RSS and start-up time on each node; the head's API models are the head's).
- `rayscope.common` is shared by all of them, so it may import only the standard library.
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

import pytest

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
    forbidden = sorted(m for m in loaded if m.startswith("rayscope.dashboard") or _top(m) in {"pydantic", "fastapi", "ray"})
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
    assert files
    bad = {f"{p.name}: {name}" for p in files for name in _imports_of(p)
           if _top(name) not in sys.stdlib_module_names and not name.startswith("rayscope.common")}
    assert sorted(bad) == []
