"""Regenerate `rayscope_ingest_pb2.py` from the proto with grpcio-tools.

The generated module is committed so that installing Rayscope needs no protoc; a test
checks that it matches the proto.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "rayscope_ingest.proto"
MODULE = "rayscope.wire.rayscope_ingest_pb2"


def generate(out_dir: Path) -> Path:
    from grpc_tools import protoc

    code = protoc.main(["protoc", f"-I{HERE}", f"--python_out={out_dir}", f"--pyi_out={out_dir}", str(HERE / PROTO)])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    out = out_dir / "rayscope_ingest_pb2.py"
    # The classes' __module__ must be the importable name, or pickle (the head hands batches to
    # its writer process) cannot find them.
    text = out.read_text().replace(f"'{MODULE.rsplit('.', 1)[1]}', _globals)", f"'{MODULE}', _globals)")
    out.write_text(text)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        for name in ("rayscope_ingest_pb2.py", "rayscope_ingest_pb2.pyi"):
            (HERE / name).write_bytes((Path(tmp) / name).read_bytes())
    print(f"wrote {HERE / 'rayscope_ingest_pb2.py'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
