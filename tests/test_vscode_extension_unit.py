"""The VS Code extension's unit tests (tree, client, configuration, DAP tunnel) run by node's test runner.

They live in vscode-extension/test (TypeScript, a mocked `vscode` module); this test makes `./run test`
run them and fail when they fail.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[1] / "vscode-extension"


@pytest.mark.timeout(300)
def test_extension_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is required for the VS Code extension's tests (./run setup installs its packages)"
    proc = subprocess.run([npm, "test", "--silent"], cwd=EXT, capture_output=True, text=True, timeout=280)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"npm test failed in {EXT}:\n{out[-6000:]}"
    assert "# fail 0" in out and "# pass " in out, out[-3000:]
