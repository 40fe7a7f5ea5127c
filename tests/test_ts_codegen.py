"""The TypeScript API types are generated from dashboard/models.py, and both TypeScript projects use them.

api-types/openapi.json and api-types/openapi.d.ts are committed (building the web UI or the VS Code
extension needs no Python); they must be what `python -m rayscope.dashboard.openapi` makes of the
current models, as wire/rayscope_ingest_pb2.py must be what the proto makes. `tsc --noEmit` on both
projects then fails when client code assumes a field the API can leave null.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from rayscope.dashboard import models as m
from rayscope.dashboard import openapi

ROOT = Path(__file__).resolve().parents[1]
STALE = "is stale: run .venv/bin/python -m rayscope.dashboard.openapi and commit api-types/"


@pytest.mark.timeout(180)
def test_generated_api_types_match_the_models(tmp_path: Path) -> None:
    schema, types = openapi.generate(tmp_path, ROOT / "api-types")
    committed = ROOT / "api-types"
    assert schema.read_text() == (committed / schema.name).read_text(), f"api-types/{schema.name} {STALE}"
    assert types.read_text() == (committed / types.name).read_text(), f"api-types/{types.name} {STALE}"


def _defined_models() -> list[type[BaseModel]]:
    # Independent of openapi.api_models(): every model models.py defines, or re-exports from the
    # modules the head shares with the debugger (its base and page, the debugger's own models).
    modules = {m.__name__, "rayscope.common.api_model", "rayscope.debugger.models"}
    return [v for k, v in vars(m).items() if isinstance(v, type) and issubclass(v, BaseModel)
            and v.__module__ in modules and k not in ("ApiModel", "Page")]


def test_served_schema_has_every_model_with_every_field_required() -> None:
    """Also the models no route returns (WsDelta); a field with a default is still always sent."""
    from rayscope.dashboard.app import create_app
    from rayscope.dashboard.ws import Hub

    info = m.ClusterInfo(rayscope_version="0", db_path=":memory:", live=True, started_at=0.0)
    schemas = create_app(None, "", Hub(), info).openapi()["components"]["schemas"]  # type: ignore[arg-type]
    models = _defined_models()
    assert {"WsDelta", "DebugSession", "Node"} <= {x.__name__ for x in models}
    for model in models:
        assert model.__name__ in schemas, f"{model.__name__} is missing from /openapi.json"
        body = schemas[model.__name__]
        assert sorted(body.get("required", [])) == sorted(model.model_fields), model.__name__
    # A field the API can leave null is nullable in the schema, and so in TypeScript.
    assert {"type": "null"} in schemas["DebugSession"]["properties"]["task_id"]["anyOf"]
    committed = json.loads((ROOT / "api-types" / openapi.SCHEMA_NAME).read_text())
    assert committed["components"]["schemas"] == schemas


def test_schema_documents_the_400_the_head_sends_for_a_bad_request() -> None:
    """app.py answers a request that fails validation with 400 + ErrorBody, never FastAPI's 422."""
    doc = openapi.schema()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (method, path)
            assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("project", ["frontend", "vscode-extension"])
def test_typescript_project_typechecks(project: str) -> None:
    npm = shutil.which("npm")
    assert npm, "npm is required to type-check the TypeScript projects (./run setup installs their packages)"
    proc = subprocess.run([npm, "run", "--silent", "check"], cwd=ROOT / project, capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, f"tsc --noEmit failed in {project}/:\n{(proc.stdout + proc.stderr)[-6000:]}"
