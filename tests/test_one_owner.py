"""Each fact of issue 12 §2 has one owner; these scans fail when a copy comes back elsewhere.

They look for the tell-tale of each copy that was removed (a literal, a call), in the product's and
the benchmarks' Python files; tests may spell Ray's values out on purpose (as independent oracles).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("agent", "dashboard", "runtime", "debugger", "wire", "cli", "grafana", "common", "alerts", "bench")


def _sources() -> dict[str, str]:
    files = {str(p.relative_to(ROOT)): p.read_text() for part in PARTS for p in (ROOT / part).rglob("*.py")
             if not p.name.endswith("_pb2.py")}
    assert "common/atomic_file.py" in files and len(files) > 100
    return files


def _string_constants(text: str) -> list[str]:
    return [n.value for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _where(pred, owners: set[str]) -> list[str]:
    return sorted(path for path, text in _sources().items() if path not in owners and pred(text))


def test_rays_enums_and_nil_job_id_only_in_ray_enums() -> None:
    names = {"ffffffff", "DEPENDENCIES_UNREADY", "PENDING_CREATION", "RESTARTING", "PENDING_ARGS_AVAIL",
             "PENDING_NODE_ASSIGNMENT", "GETTING_AND_PINNING_ARGS"}
    assert _where(lambda t: bool(names & set(_string_constants(t))), {"runtime/ray_enums.py"}) == []


def test_log_file_name_patterns_only_in_log_names() -> None:
    pattern = re.compile(r"worker-|python-core-")
    assert _where(lambda t: any(s.startswith("^") and pattern.search(s) for s in _string_constants(t)),
                  {"runtime/log_names.py"}) == []


def test_atomic_replace_only_in_write_atomic() -> None:
    # bench_multihost_logs renames an empty stamp file to signal a step: no content is written.
    assert _where(lambda t: "os.replace(" in t or ".replace(tmp" in t,
                  {"common/atomic_file.py", "bench/bench_multihost_logs.py"}) == []


def test_filter_syntax_only_in_common_filters() -> None:
    assert _where(lambda t: 'find("=")' in t or "KEY!=VALUE\"" in t and "raise" in t, {"common/filters.py"}) == []


def test_agent_liveness_rule_only_in_agent_liveness() -> None:
    assert _where(lambda t: "last_seen > ?" in t or "AGENT_LIVENESS_S =" in t,
                  {"dashboard/store/agent_liveness.py"}) == []


def test_token_files_read_only_by_read_token_file() -> None:
    line = re.compile(r"token\w*\)?\.read_text\(\)", re.IGNORECASE)  # token_file.read_text(), Path(x.token_file)...
    assert _where(lambda t: any(line.search(x) for x in t.splitlines()), {"runtime/auth_token.py"}) == []


def test_batch_items_counted_only_in_batch_items() -> None:
    total = re.compile(r"len\((batch|b)\.tasks\) \+")  # a sum over a Batch's kinds
    assert _where(lambda t: bool(total.search(t)), {"wire/batch_items.py"}) == []


def test_grpc_method_paths_only_in_grpc_service() -> None:
    assert _where(lambda t: "rayscope.wire.Ingest" in _string_constants(t)
                  or any(s.startswith("/rayscope.wire.Ingest/") for s in _string_constants(t)),
                  {"wire/grpc_service.py"}) == []
