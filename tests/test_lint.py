"""scripts/lint (the first step of `./run test`) fails on a finding and names the file as it is in the tree.

The linters run over the real tree in `./run test` itself; this checks the step can fail at all: a copy
of pyproject.toml with one planted module of known faults must fail, and pass once they are fixed. A
broken folder mapping (mypy checking nothing) or a lost exit status would pass the real tree silently.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Known faults, one per checker: an unused import (ruff F401) and an int returned as a str (mypy).
FAULTY = "import os\n\n\ndef name(x: int) -> str:\n    return x\n"
FIXED = "def name(x: int) -> str:\n    return str(x)\n"
UNANNOTATED = "def name(x):\n    return str(x)\n"  # passes the base level, not the strict one


def _tree(tmp_path: Path) -> Path:
    """A repository with the real lint settings and an empty package for each folder the wheel maps."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    sources = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["sources"]
    for folder in sources:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    return tmp_path


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "lint"), "--root", str(root)],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.timeout(600)
def test_lint_fails_on_findings_and_passes_once_fixed(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "agent" / "names.py").write_text(FAULTY)
    bad = _lint(root)
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1, out
    assert "agent/names.py:1:8" in out and "F401" in out, out  # ruff, with the tree's path
    assert "\nagent/names.py:5: error: Incompatible return value type" in "\n" + out, out  # mypy, not rayscope/agent/
    assert "lint: ruff check FAILED" in out and "lint: mypy FAILED" in out, out

    (root / "agent" / "names.py").write_text(FIXED)
    good = _lint(root)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "lint: ruff check passed" in good.stdout and "lint: mypy passed" in good.stdout, good.stdout


@pytest.mark.timeout(600)
def test_agent_is_checked_strictly_and_the_head_is_not(tmp_path: Path) -> None:
    """pyproject.toml's strict override covers rayscope.agent; rayscope.dashboard has the base level."""
    root = _tree(tmp_path)
    (root / "dashboard" / "names.py").write_text(UNANNOTATED)
    assert _lint(root).returncode == 0
    (root / "agent" / "names.py").write_text(UNANNOTATED)
    strict = _lint(root)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "agent/names.py:1: error: Function is missing a type annotation" in strict.stdout, strict.stdout
    assert "dashboard/names.py" not in strict.stdout, strict.stdout
