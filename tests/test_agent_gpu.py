"""GPU collector against a scenario-driven fake NVML (this machine has no GPU)."""
from __future__ import annotations

import pytest

from fake_nvml import FakeDevice, FakeProcess, NVMLError_LibraryNotFound, Scenario, make_fake_nvml
from rayscope.agent.collectors.gpu import GpuCollector, gpu_memory_by_pid


def test_no_library_means_zero_gpus_quietly(caplog: pytest.LogCaptureFixture) -> None:
    sc = Scenario(init_error=NVMLError_LibraryNotFound)
    c = GpuCollector(nvml=make_fake_nvml(sc))
    assert not c.available
    assert c.sample() == [] and c.sample() == []
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_real_pynvml_without_driver_is_quiet() -> None:
    assert GpuCollector().sample() == []  # this machine has no NVIDIA driver


def test_two_devices_with_processes() -> None:
    sc = Scenario(devices=[
        FakeDevice(uuid="GPU-a", util_percent=75, mem_used=3 << 30, temp_c=61, power_mw=250_500,
                   processes=[FakeProcess(101, 1 << 30), FakeProcess(102, None)]),
        FakeDevice(uuid="GPU-b", util_percent=0, mem_used=0, power_mw=None, processes=[FakeProcess(101, 2 << 30)]),
    ])
    c = GpuCollector(nvml=make_fake_nvml(sc))
    s = c.sample()
    assert [g.uuid for g in s] == ["GPU-a", "GPU-b"]
    a, b = s
    assert a.utilization_ratio == pytest.approx(0.75) and a.memory_used == 3 << 30 and a.memory_total == 80 << 30
    assert a.temperature_celsius == 61 and a.power_watts == pytest.approx(250.5)
    assert b.power_watts == 0.0  # not supported: default, device still reported
    assert [(p.pid, p.memory_used) for p in a.processes] == [(101, 1 << 30), (102, 0)]
    assert gpu_memory_by_pid(s) == {101: 3 << 30, 102: 0}


def test_scenario_changes_between_samples() -> None:
    dev = FakeDevice(util_percent=10)
    sc = Scenario(devices=[dev])
    c = GpuCollector(nvml=make_fake_nvml(sc))
    assert c.sample()[0].utilization_ratio == pytest.approx(0.10)
    dev.util_percent = 90
    dev.processes.append(FakeProcess(7, 5))
    s = c.sample()[0]
    assert s.utilization_ratio == pytest.approx(0.90) and [p.pid for p in s.processes] == [7]
    sc.devices.clear()
    assert c.sample() == []
    c.close()
    assert sc.calls[-1] == "shutdown"
