"""A CPU profile's top functions, read from its speedscope document (the one format py-spy and memray
both write, and the one the web UI's viewer reads): the table beside the flame graph, and the figure
tests and the CLI check ("weave_the_pattern: 92 % of samples").

Speedscope's sampled profile: `shared.frames[i] = {name, file, line}`, each profile (py-spy writes one
per thread) has `samples` (a stack of frame indices, outermost first) and `weights` (one per sample).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from rayscope.dashboard import profiling_models as pm

TOP_N = 25


class BadDocument(ValueError):
    """Not a speedscope document we can read (said in one line)."""


def top_functions(document: bytes, n: int = TOP_N) -> tuple[list[pm.TopFunction], int]:
    """The n functions with the most samples innermost (self), with their share of all samples anywhere
    on the stack (total); and the number of samples. Shares are over all threads' samples."""
    try:
        doc: Any = json.loads(document)
        frames = doc["shared"]["frames"]
        profiles = doc["profiles"]
    except (ValueError, KeyError, TypeError) as err:
        raise BadDocument(f"not a speedscope document: {err}") from None
    self_w: Counter[int] = Counter()
    total_w: Counter[int] = Counter()
    all_w = 0.0
    for prof in profiles:
        if prof.get("type") != "sampled":
            continue
        weights = prof.get("weights") or [1] * len(prof.get("samples", []))
        for stack, w in zip(prof.get("samples", []), weights):
            all_w += w
            if stack:
                self_w[stack[-1]] += w
            for idx in set(stack):
                total_w[idx] += w
    if not all_w:
        return [], 0
    out = []
    for idx, w in self_w.most_common(n):
        f = frames[idx] if 0 <= idx < len(frames) else {}
        out.append(pm.TopFunction(function=str(f.get("name", "?")), file=str(f.get("file") or ""),
                                  line=int(f.get("line") or 0), self_share=w / all_w, total_share=total_w[idx] / all_w))
    samples = sum(len(p.get("samples", [])) for p in profiles if p.get("type") == "sampled")
    return out, samples
