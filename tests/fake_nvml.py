"""A small scenario-driven stand-in for `pynvml` (no maintained NVML mock exists).

Build one with `make_fake_nvml(scenario)` and pass it as `GpuCollector(nvml=...)`.
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Optional


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


@dataclass
class FakeProcess:
    pid: int
    usedGpuMemory: Optional[int]


@dataclass
class FakeDevice:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    util_percent: int = 0
    mem_used: int = 0
    mem_total: int = 80 * 1024**3
    temp_c: int = 40
    power_mw: Optional[int] = 100_000  # None -> NotSupported
    processes: list[FakeProcess] = field(default_factory=list)


@dataclass
class Scenario:
    devices: list[FakeDevice] = field(default_factory=list)
    init_error: Optional[type[NVMLError]] = None
    calls: list[str] = field(default_factory=list)


def make_fake_nvml(sc: Scenario) -> types.ModuleType:
    """A module with the handful of pynvml functions the collector uses."""
    m = types.ModuleType("fake_pynvml")
    m.NVML_TEMPERATURE_GPU = 0
    m.NVMLError = NVMLError

    def nvmlInit() -> None:
        sc.calls.append("init")
        if sc.init_error is not None:
            raise sc.init_error("fake: " + sc.init_error.__name__)

    def handle(i: int) -> FakeDevice:
        return sc.devices[i]

    def power(h: FakeDevice) -> int:
        if h.power_mw is None:
            raise NVMLError_NotSupported("power not supported")
        return h.power_mw

    m.nvmlInit = nvmlInit
    m.nvmlShutdown = lambda: sc.calls.append("shutdown")
    m.nvmlDeviceGetCount = lambda: len(sc.devices)
    m.nvmlDeviceGetHandleByIndex = handle
    m.nvmlDeviceGetName = lambda h: h.name
    m.nvmlDeviceGetUUID = lambda h: h.uuid.encode()  # old bindings return bytes
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=h.mem_used, total=h.mem_total, free=h.mem_total - h.mem_used)
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=h.util_percent, memory=0)
    m.nvmlDeviceGetTemperature = lambda h, kind: h.temp_c
    m.nvmlDeviceGetPowerUsage = power
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: list(h.processes)
    return m
