"""Latency sampling and the side-by-side table every benchmark prints."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Latency:
    samples_s: list[float]

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.samples_s)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples_s)
        return 1000 * ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def sample(fn: Callable[[], object], repeat: int, warmup: int = 1) -> Latency:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return Latency(out)


def print_comparison(title: str, rows: list[tuple[str, Latency, Latency]]) -> None:
    """One line per operation: ours, Ray's, and how many times faster we are (Ray p50 / ours p50)."""
    print(f"\n== {title}")
    print(f"{'operation':<34} {'rayscope p50':>12} {'p95':>9} {'ray p50':>10} {'p95':>9} {'ratio':>8}")
    for name, ours, ray in rows:
        print(f"{name:<34} {ours.p50_ms:>10.1f}ms {ours.p95_ms:>7.1f}ms {ray.p50_ms:>8.1f}ms "
              f"{ray.p95_ms:>7.1f}ms {ray.p50_ms / ours.p50_ms:>7.1f}x")
