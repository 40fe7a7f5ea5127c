"""Per-GPU usage through NVML (nvidia-ml-py, imported as `pynvml`).

The NVML module is injectable so tests can drive a fake one. No library or driver means
zero GPUs, quietly: most nodes have none and that is not an error.
"""
from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, Optional

from rayscope.wire.rayscope_ingest_pb2 import GpuProcess, GpuSample

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class GpuCollector:
    """Samples every NVML device; `pid_filter` limits per-process rows to Ray's pids."""

    def __init__(self, nvml: Optional[ModuleType] = None) -> None:
        self.nvml: Any = nvml  # pynvml has no types (and a test passes a fake)
        self.available = False
        self.errors = 0
        self._init()

    def _init(self) -> None:
        if self.nvml is None:
            try:
                import pynvml  # nvidia-ml-py

                self.nvml = pynvml
            except ImportError:
                log.debug("pynvml not installed: no GPU metrics")
                return
        try:
            self.nvml.nvmlInit()
            self.available = True
        except Exception as e:  # NVMLError_LibraryNotFound / DriverNotLoaded / anything the library raises
            log.debug("NVML unavailable (%s): reporting zero GPUs", e)

    def sample(self) -> list[GpuSample]:
        if not self.available:
            return []
        n = self.nvml
        try:
            count = n.nvmlDeviceGetCount()
        except Exception as e:
            self._error("nvmlDeviceGetCount", e)
            return []
        out: list[GpuSample] = []
        for i in range(count):
            try:
                out.append(self._device(i))
            except Exception as e:
                self._error(f"device {i}", e)
        return out

    def _device(self, index: int) -> GpuSample:
        n = self.nvml
        h = n.nvmlDeviceGetHandleByIndex(index)
        mem = n.nvmlDeviceGetMemoryInfo(h)
        s = GpuSample(
            index=index, uuid=_text(n.nvmlDeviceGetUUID(h)), name=_text(n.nvmlDeviceGetName(h)),
            memory_used=int(mem.used), memory_total=int(mem.total),
        )
        s.utilization_ratio = self._optional(lambda: n.nvmlDeviceGetUtilizationRates(h).gpu / 100.0, 0.0)
        s.temperature_celsius = self._optional(lambda: float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU)), 0.0)
        s.power_watts = self._optional(lambda: n.nvmlDeviceGetPowerUsage(h) / 1000.0, 0.0)
        for p in self._optional(lambda: n.nvmlDeviceGetComputeRunningProcesses(h), []):
            used = getattr(p, "usedGpuMemory", None)
            s.processes.append(GpuProcess(pid=int(p.pid), memory_used=int(used or 0)))
        return s

    def _optional(self, read: Any, default: Any) -> Any:
        """Some GPUs do not support a query (NVML_ERROR_NOT_SUPPORTED): use the default."""
        try:
            return read()
        except Exception as e:
            log.debug("NVML query unsupported: %s", e)
            return default

    def _error(self, what: str, e: Exception) -> None:
        self.errors += 1
        if self.errors == 1 or self.errors % 100 == 0:
            log.warning("NVML %s failed (%d errors so far): %s", what, self.errors, e)

    def close(self) -> None:
        if self.available:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass
            self.available = False


def gpu_memory_by_pid(samples: list[GpuSample]) -> dict[int, int]:
    """Join key for RayProcess.gpu_memory_used: bytes per pid over all devices."""
    out: dict[int, int] = {}
    for s in samples:
        for p in s.processes:
            out[p.pid] = out.get(p.pid, 0) + p.memory_used
    return out
