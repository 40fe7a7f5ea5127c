"""``rayscope demo --duration``: starts a 2-node cluster, the workload shows up in the
head's API while it runs (its Ray Core tasks, its Ray Data pipeline with live progress and its Serve
app), and everything is gone afterwards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from polling import read_line, wait_for
from rayscope.runtime.demo_libraries import DATASET_NAME, SERVE_APP
from rayscope.runtime.state import load_state


def _read_until(proc: subprocess.Popen, pattern: str, timeout_s: float) -> list[str]:
    lines: list[str] = []
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        line = read_line(proc.stdout, max(0.1, end - time.monotonic()), f"the demo to print {pattern!r}")
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"demo never printed {pattern!r}; got:\n{''.join(lines)}")


def _task_names(url: str, token: str) -> set[str]:
    res = httpx.get(f"{url}/api/v1/tasks/summary", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    res.raise_for_status()
    return {row["name"] for row in res.json()["rows"]}


def _libraries(url: str, token: str) -> dict[str, str]:
    """The demo's dataset (with progress samples) and Serve app as the head lists them."""
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, str] = {}
    for row in httpx.get(f"{url}/api/v1/datasets", headers=headers, timeout=10).json()["rows"]:
        if row["dataset_id"].startswith(DATASET_NAME) and row["rows_output"]:
            seen["dataset"] = row["state"]
    for row in httpx.get(f"{url}/api/v1/serve/applications", headers=headers, timeout=10).json()["rows"]:
        if row["name"] == SERVE_APP:
            seen["serve"] = row["status"]
    return seen


def test_demo_runs_the_workload_and_cleans_up() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYSCOPE_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayscope.cli.main", "demo", "--duration", "80"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        lines = _read_until(proc, r"press Ctrl-C", 240)
        text = "".join(lines)
        url = re.search(r"dashboard:\s+(\S+)", text).group(1)
        token_file = Path(re.search(r"cat (\S+)\)", text).group(1))
        home = token_file.parent
        token = token_file.read_text().strip()
        session_dirs = [Path(n.session_dir) for n in load_state(home).nodes]
        assert len(session_dirs) == 2
        wanted = {"square", "fan_out", "make_blob", "fail_on_purpose", "Counter.add"}
        wait_for(f"the head to see the demo's tasks {sorted(wanted)}", lambda: wanted <= _task_names(url, token), 50,
                 every=2, context=lambda: f"seen: {sorted(_task_names(url, token))}")
        wait_for("the demo's dataset (with progress) and Serve app at the head",
                 lambda: {"dataset", "serve"} <= set(_libraries(url, token)), 75, every=2,
                 context=lambda: f"seen: {_libraries(url, token)}")
        rest, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0, rest
        assert "demo stopped" in rest
        assert not home.exists()
        assert not any(d.exists() for d in session_dirs)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert str(home) not in ps and not any(str(d.parent) in ps for d in session_dirs)
    finally:
        if proc.poll() is None:
            proc.terminate()  # the demo cleans up on SIGTERM
            proc.wait(timeout=120)
