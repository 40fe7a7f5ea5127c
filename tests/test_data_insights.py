"""The Data view's derived figures (dashboard/data_insights.py) on constructed samples: throughput
current and average, and each branch of the bottleneck rule."""
from __future__ import annotations

import pytest

from rayscope.dashboard.data_insights import OperatorSamples, Sample, bottleneck, throughput_avg, throughput_current


def test_current_throughput_is_rows_over_the_last_seconds() -> None:
    s = [Sample(t=float(t), rows_output=r) for t, r in ((0, 0), (1, 10), (2, 20), (3, 60), (4, 100), (5, 140),
                                                         (6, 180))]
    assert throughput_current(s) == pytest.approx((180 - 10) / (6 - 1))  # from the oldest sample within 5 s (t=1)
    assert throughput_current(s[:1]) is None
    assert throughput_current([Sample(t=0, rows_output=0), Sample(t=1, rows_output=5, finished=True)]) is None


def test_average_throughput() -> None:
    assert throughput_avg(400, 100.0, 120.0) == 20.0
    assert throughput_avg(None, 100.0, 120.0) is None and throughput_avg(10, 100.0, 100.0) is None


def _op(name: str, samples: list[Sample], upstream: tuple[str, ...] = ()) -> OperatorSamples:
    return OperatorSamples(f"{name}_x", name, samples, upstream)


def test_queue_growth_names_the_operator_whose_input_piles_up_while_busy() -> None:
    embed = _op("Map(embed)", [Sample(t=0, queued_blocks=3, tasks_running=2, actors_alive=2),
                               Sample(t=15, queued_blocks=20, tasks_running=2, actors_alive=2),
                               Sample(t=30, queued_blocks=40, tasks_running=2, actors_alive=2)], ("Input",))
    parse = _op("Map(parse)", [Sample(t=0, queued_blocks=1, tasks_running=1),
                               Sample(t=30, queued_blocks=5, tasks_running=1)])
    assert bottleneck("RUNNING", [parse, embed]) == (
        "Map(embed) limits throughput: its input queue grew from 3 to 40 blocks in the last 30 s "
        "while its 2 actors were all busy")
    assert bottleneck("FINISHED", [parse, embed]) is None
    # idle actors: the queue grows for another reason (e.g. backpressure downstream), not this rule
    idle = _op("Map(embed)", [Sample(t=0, queued_blocks=3, tasks_running=1, actors_alive=2),
                              Sample(t=30, queued_blocks=40, tasks_running=1, actors_alive=2)])
    assert bottleneck("RUNNING", [idle]) is None
    # a task-pool operator
    pool = _op("Filter(f)", [Sample(t=0, queued_blocks=0, tasks_running=4), Sample(t=10, queued_blocks=9, tasks_running=4)])
    assert bottleneck("RUNNING", [pool]) == (
        "Filter(f) limits throughput: its input queue grew from 0 to 9 blocks in the last 10 s while it ran 4 tasks")


def test_saturated_resources() -> None:
    ops = [_op("Map(a)", [Sample(t=0, cpu=3, cluster_cpu_limit=4.0)]),
           _op("Map(b)", [Sample(t=0, cpu=1, cluster_cpu_limit=4.0)])]
    assert bottleneck("RUNNING", ops) == "resources saturated: CPU 4 of 4 in use"
    ops[1] = _op("Map(b)", [Sample(t=0, cpu=0.5, cluster_cpu_limit=4.0)])
    assert bottleneck("RUNNING", ops) is None


def test_starved_output_operator() -> None:
    up = _op("Read", [Sample(t=0, tasks_running=1)])
    out = _op("Write", [Sample(t=0)], ("Read",))
    assert bottleneck("RUNNING", [up, out]) == "Write is starved: waiting for input from Read"
    done = _op("Read", [Sample(t=0, finished=True)])
    assert bottleneck("RUNNING", [done, out]) is None
