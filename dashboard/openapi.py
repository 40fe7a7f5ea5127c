"""The head's OpenAPI schema and the TypeScript types generated from it (api-types/).

`python -m rayscope.dashboard.openapi` rewrites the two committed files from dashboard/models.py:

- api-types/openapi.json: the schema the head serves at /openapi.json, built without a server
  or a store (routes only describe their models), with `info.version` set to the API's version
  so that it does not change with the package version;
- api-types/openapi.d.ts: its TypeScript types, by `openapi-typescript` (pinned in
  api-types/package.json), which the web UI and the VS Code extension import as
  `@rayscope/api-types`.

Both are committed so that building either TypeScript project needs no Python; a test
(tests/test_ts_codegen.py) regenerates them and fails when they differ.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rayscope.dashboard import models as m

SCHEMA_NAME = "openapi.json"
TYPES_NAME = "openapi.d.ts"
# ./api-types of the source tree; rayscope.dashboard is a symlink or a copy of ./dashboard.
REPO = Path(__file__).resolve().parents[1]
API_TYPES = REPO / "api-types"
GENERATOR = "openapi-typescript"
GENERATOR_ARGS = ["--root-types", "--root-types-no-schema-prefix"]
API_MODEL_MODULES = (m.__name__, "rayscope.common.api_model", "rayscope.debugger.models")


def api_models() -> list[type[BaseModel]]:
    """Every model of dashboard/models.py, with those it re-exports from the modules it shares with
    the debugger (the generic Page appears as Page_X_ per route)."""
    return [
        v for v in vars(m).values()
        if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ in API_MODEL_MODULES
        and v is not m.ApiModel and not v.__pydantic_generic_metadata__["parameters"]
    ]


def with_all_models(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the models no route returns (the WebSocket's WsDelta, ...) to components/schemas.

    Clients read those too, so they belong to the one generated definition. Also drops the 422
    answers FastAPI documents for every route with parameters: app.py turns a request that fails
    validation into a 400 with ErrorBody, which the schema already lists.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if "HTTPValidationError" not in json.dumps(schema["paths"]):
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
    missing = [model for model in api_models() if model.__name__ not in schemas]
    if missing:
        _, defs = models_json_schema([(model, "serialization") for model in missing],
                                     ref_template="#/components/schemas/{model}")
        for name, body in defs.get("$defs", {}).items():
            schemas.setdefault(name, body)
        schema["components"]["schemas"] = dict(sorted(schemas.items()))
    return schema


def install(app: FastAPI) -> None:
    """Makes the app serve the schema with every API model (FastAPI caches it on first use)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_all_models(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def schema() -> dict[str, Any]:
    """The schema as the head serves it, built from the routes without a store or a server."""
    from rayscope.dashboard.app import create_app
    from rayscope.dashboard.ws import Hub

    version = m.API_PREFIX.rsplit("/", 1)[1]
    info = m.ClusterInfo(rayscope_version=version, db_path=":memory:", live=True, started_at=0.0)
    doc = create_app(None, "", Hub(), info).openapi()  # type: ignore[arg-type]  # no request reaches the store
    doc["info"]["version"] = version
    return doc


def generator(api_types: Path = API_TYPES) -> Path:
    """openapi-typescript as npm installed it for the api-types workspace (./run setup)."""
    for root in (api_types, api_types.parent):
        exe = root / "node_modules" / ".bin" / GENERATOR
        if exe.exists():
            return exe
    raise RuntimeError(f"{GENERATOR} is not installed: run `npm install` at the repository root (./run setup)")


def generate(out_dir: Path, api_types: Path = API_TYPES) -> tuple[Path, Path]:
    """Writes openapi.json and openapi.d.ts into out_dir; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    schema_path = out_dir / SCHEMA_NAME
    schema_path.write_text(json.dumps(schema(), indent=2) + "\n")
    types_path = out_dir / TYPES_NAME
    if not shutil.which("node"):
        raise RuntimeError("node is required to generate the TypeScript types (./run setup installs it with npm)")
    proc = subprocess.run([str(generator(api_types)), str(schema_path), "-o", str(types_path), *GENERATOR_ARGS],
                          cwd=out_dir, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{GENERATOR} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return schema_path, types_path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            (API_TYPES / path.name).write_bytes(path.read_bytes())
            print(f"wrote {API_TYPES / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
