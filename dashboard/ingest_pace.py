"""How often the head asks each agent to ship a batch, from how many agents are connected.

Every batch costs the head about the same fixed work whatever it holds: a gRPC message in, an ack
out, its share of a commit (bench/bench_scale.py: ~0.5 ms of the service process per batch at
1,000 nodes, most of it grpc.aio). Agents sample every `--interval` (1 s) and ship each tick; past
`agents_per_ship_second` agents the head asks them, in every Ack, to ship every N seconds instead,
N = ceil(agents / agents_per_ship_second), so the batches the head takes stay near
`agents_per_ship_second` a second however large the cluster. Nothing is sampled less: an agent
shipping every 2 s sends two 1 s samples in each batch. What grows is the wait before a sample is
queryable (up to N s more), which is why small clusters keep the 1 s pace.

Measured (docs/scale.md): at 1,000 nodes shipping every second the head took ~970 of 1,000 batches
a second on this 2-core machine, with ingest lag p95 2.2-2.6 s and page calls up to ~0.5 s; with
500 batches a second every target was met.
"""
from __future__ import annotations

import math

DEFAULT_AGENTS_PER_SHIP_SECOND = 500


NOT_PACED = 0.0  # wire Ack.ship_every_s: ship every tick of the agent's own --interval


def ship_every_s(connected_agents: int, agents_per_ship_second: int) -> float:
    """Seconds between an agent's batches: NOT_PACED (every tick, whatever the agent's --interval) up
    to `agents_per_ship_second` agents, or always when that is 0; past it ceil(agents / N)."""
    if agents_per_ship_second <= 0 or connected_agents <= agents_per_ship_second:
        return NOT_PACED
    return float(math.ceil(connected_agents / agents_per_ship_second))
