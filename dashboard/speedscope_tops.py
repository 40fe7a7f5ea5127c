"""A CPU profile's top functions, read from its speedscope document (the one format py-spy and memray
both write, and the one the web UI's viewer reads): the table beside the flame graph, and the figure
tests and the CLI check ("weave_the_pattern: 92 % of samples").

Speedscope's sampled profile: `shared.frames[i] = {name, file, line}`, each profile (py-spy writes one
per thread) has `samples` (a stack of frame indices, outermost first) and `weights` (one per sample).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Optional

from rayscope.dashboard import profiling_models as pm
from rayscope.dashboard.stack_summary import MAIN_THREAD

TOP_N = 25


class BadDocument(ValueError):
    """Not a speedscope document we can read (said in one line)."""


def task_profile(profiles: list[Any]) -> Optional[Any]:
    """The profile of the thread that runs the task: py-spy names one per thread, `Thread 123 "MainThread"`;
    Ray runs tasks and sync actor methods on the main thread. Else the one with the most samples."""
    sampled = [p for p in profiles if isinstance(p, dict) and p.get("type") == "sampled"]
    main = [p for p in sampled if f'"{MAIN_THREAD}"' in str(p.get("name", ""))]
    if main:
        return main[0]
    return max(sampled, key=lambda p: len(p.get("samples") or []), default=None)


def top_functions(document: bytes, n: int = TOP_N) -> tuple[list[pm.TopFunction], int, Optional[str]]:
    """The n functions with the most samples innermost (self) in the task's thread (task_profile), with
    their share of that thread's samples anywhere on the stack (total); the samples of all threads; and
    the thread's name. One thread, because with idle frames kept every waiting helper thread would add
    its `Condition.wait` to the shares."""
    try:
        doc: Any = json.loads(document)
        frames = doc["shared"]["frames"]
        profiles = doc["profiles"]
    except (ValueError, KeyError, TypeError) as err:
        raise BadDocument(f"not a speedscope document: {err}") from None
    chosen = task_profile(profiles)
    samples = sum(len(p.get("samples", [])) for p in profiles if isinstance(p, dict) and p.get("type") == "sampled")
    if chosen is None:
        return [], samples, None
    self_w: Counter[int] = Counter()
    total_w: Counter[int] = Counter()
    all_w = 0.0
    weights = chosen.get("weights") or [1] * len(chosen.get("samples", []))
    for stack, w in zip(chosen.get("samples", []), weights):
        all_w += w
        if stack:
            self_w[stack[-1]] += w
        for idx in set(stack):
            total_w[idx] += w
    if not all_w:
        return [], samples, chosen.get("name")
    out = []
    for idx, w in self_w.most_common(n):
        f = frames[idx] if 0 <= idx < len(frames) else {}
        out.append(pm.TopFunction(function=str(f.get("name", "?")), file=str(f.get("file") or ""),
                                  line=int(f.get("line") or 0), self_share=w / all_w, total_share=total_w[idx] / all_w))
    return out, samples, chosen.get("name")
