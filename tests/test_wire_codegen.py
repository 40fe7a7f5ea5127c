"""The committed generated module must match the proto, or agent and head disagree on the wire."""
from __future__ import annotations

from pathlib import Path

from rayscope.wire import codegen


def test_generated_module_matches_proto(tmp_path: Path) -> None:
    fresh = codegen.generate(tmp_path).read_text()
    committed = (Path(codegen.__file__).parent / "rayscope_ingest_pb2.py").read_text()
    assert fresh == committed, "wire/rayscope_ingest_pb2.py is stale: run python -m rayscope.wire.codegen"


def test_batch_roundtrip_keeps_optional_presence() -> None:
    from rayscope.wire import rayscope_ingest_pb2 as wire

    event = wire.TaskEvent(task_id="ab", attempt=1, job_id="01000000", name="f")
    decoded = wire.TaskEvent.FromString(event.SerializeToString())
    assert decoded.HasField("name") and not decoded.HasField("error_type")
