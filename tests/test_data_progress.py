"""Rayscope's Ray Data progress callback (runtime/data_progress.py) without a cluster: what a sample
holds, that a failure never reaches the pipeline (it is written once as an `error` line the decoder
reads), and that its file stays bounded. Its run against real Ray is in tests/test_data_e2e.py."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rayscope.runtime import data_progress, export_events
from rayscope.wire import rayscope_ingest_pb2 as pb


@pytest.fixture
def writer(tmp_path, monkeypatch):
    w = data_progress._Writer()
    path = tmp_path / "event_RAYSCOPE_DATA_PROGRESS_1.log"
    w._path, w._file = str(path), open(path, "a", encoding="utf-8")
    monkeypatch.setattr(data_progress, "_WRITER", w)
    yield path
    w._file.close()


def _lines(path) -> list:
    return [export_events.decode(ln) for ln in path.read_bytes().splitlines()]


class _Resources:
    def get_op_usage(self, op):
        if op.name == "Input":
            raise KeyError(op)  # Ray's ResourceManager before its first update
        return SimpleNamespace(cpu=2.0, gpu=0.0)

    def get_budget(self, op):
        return SimpleNamespace(cpu=4.0, gpu=float("inf"), object_store_memory=1 << 30)

    def get_global_limits(self):
        return SimpleNamespace(cpu=4.0, gpu=0.0)


class _Op(SimpleNamespace):
    __hash__ = object.__hash__  # a topology is keyed by its operators


def _op(name: str, rows: int) -> _Op:
    metrics = SimpleNamespace(row_outputs_taken=rows, num_outputs_taken=rows // 10, bytes_outputs_taken=rows * 8,
                              num_tasks_running=2, num_tasks_finished=3, num_tasks_failed=0, obj_store_mem_used=960)
    return _Op(name=name, id=f"uuid-{name}", metrics=metrics, num_output_rows_total=lambda: 400,
                           num_outputs_total=lambda: 40, has_execution_finished=lambda: False,
                           get_actor_info=lambda: SimpleNamespace(running=2, pending=1))


def test_samples_every_operator_with_its_figures(writer) -> None:
    state = SimpleNamespace(total_enqueued_input_blocks=lambda: 7)
    ex = SimpleNamespace(_dataset_id="ds_0", _topology={_op("Input", 20): state, _op("Map(f)", 120): state},
                         _resource_manager=_Resources())
    cb = data_progress.ProgressCallback()
    cb.before_execution_starts(ex)
    cb.on_execution_step(ex)  # within a second of the last sample: skipped
    evs = _lines(writer)
    assert [e.operator_id for e in evs] == ["Input_0", "Map(f)_1"]
    m = evs[1]
    assert isinstance(m, pb.DatasetProgress)
    assert (m.rows_output, m.blocks_output, m.estimated_rows, m.queued_blocks, m.actors_alive, m.actors_pending,
            m.cpu, m.cpu_budget, m.cluster_cpu_limit) == (120, 12, 400, 7, 2, 1, 2.0, 4.0, 4.0)
    assert not m.HasField("gpu_budget")  # unlimited: absent, not inf
    assert evs[0].cpu == 0.0  # a figure Ray cannot give yet is absent, not a failure


def test_a_failure_is_written_once_and_never_raised(writer) -> None:
    class Broken:
        _dataset_id = "ds_1"

        @property
        def _topology(self):
            raise RuntimeError("Ray moved things")

    cb = data_progress.ProgressCallback()
    cb.before_execution_starts(Broken())
    cb.after_execution_succeeds(Broken())
    (ev,) = _lines(writer)
    assert ev.dataset_id == "ds_1" and "RuntimeError: Ray moved things" in ev.error


def test_the_file_is_bounded(writer, monkeypatch) -> None:
    monkeypatch.setattr(data_progress, "MAX_FILE_BYTES", 2000)
    for i in range(50):
        data_progress._WRITER.write([{"dataset_id": "d", "operator_id": "x_0", "rows_output": i}])
    assert writer.stat().st_size < 2000 + 400
    backup = writer.with_name(writer.name + ".1")
    assert backup.stat().st_size < 2000 + 400
    assert json.loads(writer.read_text().splitlines()[-1])["event_data"]["rows_output"] == 49


def test_the_setting_names_this_callback_class() -> None:
    """The one owner of the opt-in (runtime/ray_settings.DATA_PROGRESS_ENV) names a class Ray can load:
    an ExecutionCallback at exactly that import path."""
    import importlib

    from ray.data._internal.execution.execution_callback import ExecutionCallback

    from rayscope.runtime.ray_settings import DATA_PROGRESS_ENV

    module, name = DATA_PROGRESS_ENV["RAY_DATA_EXECUTION_CALLBACKS"].rsplit(".", 1)
    assert issubclass(getattr(importlib.import_module(module), name), ExecutionCallback)
