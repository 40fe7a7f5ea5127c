"""Figures Ray does not compute for a dataset: throughput per operator and a bottleneck hint.

Pure functions over progress samples (rayscope.runtime.data_progress writes them ~1/s; from Ray's
`ray_data_*` gauges ~1/10 s, without the cluster limits rule 2 needs), so the
rule is unit-tested with constructed samples (tests/test_data_insights.py). Documented in
docs/web-ui.md ("Datasets").

The bottleneck rule, first match wins, over the last WINDOW_S seconds of a RUNNING dataset:
1. **Queue growth**: the unfinished operator whose queued input grew most, by at least
   QUEUE_GROWTH blocks, while it was working at capacity (all its actors busy, or tasks running):
   "<op> limits throughput: its input queue grew from A to B blocks in the last N s while its K
   actors were all busy" (or "while it ran K tasks").
2. **Resources saturated**: the operators' CPU (or GPU) use reaches the executor's limit:
   "resources saturated: CPU U of L in use".
3. **Starved**: the output operator is unfinished with no queued input and nothing running while
   an upstream operator still runs: "<op> is starved: waiting for input from <upstream>".
Otherwise None: nothing to act on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

WINDOW_S = 30.0
CURRENT_S = 5.0  # current throughput: over the samples of about the last 5 s
QUEUE_GROWTH = 3


@dataclass(frozen=True)
class Sample:
    """One operator's figures at one time (a row of dataset_progress)."""

    t: float
    rows_output: int = 0
    queued_blocks: int = 0
    tasks_running: int = 0
    actors_alive: int = 0
    cpu: float = 0.0
    gpu: float = 0.0
    cluster_cpu_limit: Optional[float] = None
    cluster_gpu_limit: Optional[float] = None
    finished: bool = False


@dataclass(frozen=True)
class OperatorSamples:
    operator_id: str
    name: str
    samples: Sequence[Sample]  # oldest first
    upstream: Sequence[str] = ()  # names of its input operators


def throughput_current(samples: Sequence[Sample]) -> Optional[float]:
    """Rows/s between the newest sample and the oldest one of about the last CURRENT_S seconds;
    None for fewer than two samples or a finished operator."""
    if len(samples) < 2 or samples[-1].finished:
        return None
    last = samples[-1]
    base = next((s for s in samples if last.t - s.t <= CURRENT_S and s.t < last.t), None)
    if base is None:
        base = samples[-2]
    dt = last.t - base.t
    return (last.rows_output - base.rows_output) / dt if dt > 0 else None


def throughput_avg(rows_output: Optional[int], start: Optional[float], end: Optional[float]) -> Optional[float]:
    """Rows output over the operator's time so far (start..end: its first sample, or Ray's execution
    start, to its end or its newest sample)."""
    if rows_output is None or start is None or end is None or end <= start:
        return None
    return rows_output / (end - start)


def _busy(s: Sample) -> Optional[str]:
    if s.actors_alive > 0 and s.tasks_running >= s.actors_alive:
        return f"while its {s.actors_alive} actor{'s were' if s.actors_alive != 1 else ' was'} all busy"
    if s.actors_alive == 0 and s.tasks_running > 0:
        return f"while it ran {s.tasks_running} task{'s' if s.tasks_running != 1 else ''}"
    return None


def _queue_growth(ops: Sequence[OperatorSamples]) -> Optional[str]:
    best: Optional[tuple[int, str]] = None
    for op in ops:
        if not op.samples or op.samples[-1].finished:
            continue
        last = op.samples[-1]
        window = [s for s in op.samples if last.t - s.t <= WINDOW_S]
        first = min(window, key=lambda s: s.t)
        growth = last.queued_blocks - first.queued_blocks
        busy = _busy(last)
        if growth >= QUEUE_GROWTH and busy and (best is None or growth > best[0]):
            secs = round(last.t - first.t)
            best = (growth, f"{op.name} limits throughput: its input queue grew from {first.queued_blocks} to "
                            f"{last.queued_blocks} blocks in the last {secs} s {busy}")
    return best[1] if best else None


def _saturated(ops: Sequence[OperatorSamples]) -> Optional[str]:
    latest = [op.samples[-1] for op in ops if op.samples]
    if not latest:
        return None
    for kind in ("cpu", "gpu"):
        limit = next((getattr(s, f"cluster_{kind}_limit") for s in latest
                      if getattr(s, f"cluster_{kind}_limit")), None)
        used = sum(getattr(s, kind) for s in latest)
        if limit and used >= limit:
            return f"resources saturated: {kind.upper()} {used:g} of {limit:g} in use"
    return None


def _starved(ops: Sequence[OperatorSamples]) -> Optional[str]:
    if not ops or not ops[-1].samples:
        return None
    out, last = ops[-1], ops[-1].samples[-1]
    if last.finished or last.queued_blocks or last.tasks_running:
        return None
    running_up = [op.name for op in ops[:-1] if op.name in out.upstream and op.samples
                  and not op.samples[-1].finished]
    if not running_up:
        return None
    return f"{out.name} is starved: waiting for input from {', '.join(running_up)}"


def bottleneck(state: str, ops: Sequence[OperatorSamples]) -> Optional[str]:
    """The hint for a dataset (ops in topology order, the output operator last); None when the
    dataset is not running or no rule matches."""
    if state != "RUNNING":
        return None
    return _queue_growth(ops) or _saturated(ops) or _starved(ops)
