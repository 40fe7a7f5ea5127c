"""Every alert rule, defined once: Prometheus evaluates the `expr`s, the head evaluates the same rules from its store.

Why one table: the exported Prometheus rule file (`rayscope metrics alert-rules`), the Grafana
alerting provisioning and the head's own evaluator (dashboard/alerting/) all read these rows, so a
threshold, a `for` duration, a severity or a summary is changed in one place and every consumer
follows. Each rule's PromQL is built from its own fields (threshold, window_s, min_count), and the
head's conditions read the same fields.

The exprs read the series that the generated prometheus.yml scrapes (docs/metrics.md):
- agents' /metrics: node figures labelled node_id, plus the `node_ip` target label that discovery adds;
- the head's /metrics: per-node and per-job series it derives from its store (node liveness, agent
  connection, ingest lag, worker exits, GPUs reserved, pending and infeasible tasks), labelled
  node_id + node_ip or job_id.
So every node-scoped alert carries `node_id` and `node_ip`, every job-scoped one `job_id`.

Summaries are Prometheus templates restricted to `{{ $labels.NAME }}`, `{{ $value }}`,
`{{ $value | humanize }}` and `{{ $value | humanizePercentage }}`; render_summary() renders them the
way Prometheus does, for the head (tests/test_alert_rules.py checks both against the same strings).

Standard library only (and Ray's enum names from runtime/ray_enums.py, itself standard library only):
the CLI and the head import it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Mapping, get_args

from rayscope.runtime.ray_enums import AWAITING_NODE, WORKER_EXIT_TYPES

__all__ = ["Severity", "Scope", "AlertRule", "RULES", "rule", "render_summary", "duration", "SEVERITIES",
           "GROUP_NAME", "RUNBOOK"]

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)
Scope = Literal["node", "job", "cluster"]  # what an alert concerns: its node_id/node_ip or job_id labels

GROUP_NAME = "rayscope"  # the Prometheus rule group (and Grafana's alert rule group)
RUNBOOK = "docs/metrics.md#alert-rules"  # where the rules and their choices are explained


@dataclass(frozen=True)
class AlertRule:
    """One alert. `threshold`, `window_s` and `min_count` are what the expr compares with; the head's
    condition for the rule reads the same fields (never a copy of the numbers)."""

    name: str  # "RayNodeDown" (Prometheus alert names: CamelCase, Ray*/Rayscope*)
    severity: Severity
    for_s: int  # the condition must hold this long before the alert fires (Prometheus `for`)
    scope: Scope
    summary: str  # a Prometheus template (see the module docstring)
    description: str  # why it matters and where to look next
    expr: str  # PromQL over the series the generated prometheus.yml scrapes
    threshold: float = 0.0  # the value the condition compares with (ratio, seconds, count: see each rule)
    window_s: int = 0  # the range of rate()/increase() in the expr; 0: an instant comparison
    min_count: int = 0  # RayTaskFailureRate: ended attempts in the window below which no rate is judged


def duration(seconds: int) -> str:
    """Prometheus duration text: 0 -> "0s", 600 -> "10m", 5400 -> "1h30m", 90 -> "1m30s"."""
    if seconds < 0:
        raise ValueError(f"negative duration {seconds}")
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out


def _num(x: float) -> str:
    """A threshold as PromQL and prose write it: 0.9, 30, 600 (no trailing .0)."""
    return f"{x:g}"


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


NODE = "{{ $labels.node_ip }} ({{ $labels.node_id }})"
JOB = "job {{ $labels.job_id }}"


def _node_down() -> AlertRule:
    return AlertRule(
        name="RayNodeDown", severity="critical", for_s=0, scope="node",
        summary=f"Ray node {NODE} is down",
        description=(
            "Ray marked this node DEAD without being asked to stop it (its raylet died, the host went down or "
            "stopped answering GCS health checks), and no live node has joined from its host since. Ray already "
            "waited out its health checks before calling it dead, so the alert fires at once. Its tasks and actors "
            "were lost or retried elsewhere: open the Nodes page for the death reason and the node's last logs. "
            "It resolves when a node on the same host joins again."),
        expr="rayscope_node_up == 0")


def _agent_down() -> AlertRule:
    return AlertRule(
        name="RayscopeAgentDown", severity="warning", for_s=120, scope="node",
        summary=f"Rayscope agent of node {NODE} is not connected to the head",
        description=(
            "The node is alive in Ray but its Rayscope agent has not streamed to the head for 2 minutes: the "
            "node's samples, logs and events are missing from the dashboard meanwhile (the agent spools to disk "
            "and resends when it reconnects). Check the agent process on the host (`rayscope status`) and its "
            "log, rayscope-agent.log in the session's logs directory."),
        expr="rayscope_node_agent_connected == 0")


# Counts of events in a window are `round(increase(...))`: increase() extrapolates to the window's edges
# (1 exit can read 1.08), and a count in a summary should be a whole number. Rounding never hides an event:
# an increment seen inside the window makes increase() at least 1.
def _worker_exits(name: str, exit_type: str, who: str, description: str) -> AlertRule:
    assert exit_type in WORKER_EXIT_TYPES, exit_type
    window = 600
    return AlertRule(
        name=name, severity="warning", for_s=0, scope="node", threshold=0, window_s=window,
        summary=f"{{{{ $value | humanize }}}} {who} on node {NODE} in the last {duration(window)}",
        description=description,
        expr=(f'round(increase(rayscope_worker_exits_total{{exit_type="{exit_type}"}}[{duration(window)}])) > 0'))


def _oom_kills() -> AlertRule:
    return _worker_exits(
        "RayOOMKills", "NODE_OUT_OF_MEMORY", "Ray workers killed by Ray's memory monitor",
        "Ray's memory monitor killed workers because the node ran out of memory (exit type NODE_OUT_OF_MEMORY); "
        "their tasks are retried, and a task that keeps being killed fails with OutOfMemoryError. Look at the "
        "node's processes by memory (Nodes page) and the memory profile of the biggest worker; reduce "
        "parallelism or ask for more memory per task (`memory=` in the resources).")


def _worker_failures() -> AlertRule:
    return _worker_exits(
        "RayWorkerFailures", "SYSTEM_ERROR", "Ray workers died unexpectedly",
        "Workers on this node exited with SYSTEM_ERROR: killed by a signal (often the kernel's OOM killer), a "
        "segfault in native code, or a lost connection to the raylet. Their tasks are retried or fail. The "
        "worker's exit detail is on its task's page; the kernel log on the host says whether it was the OOM "
        "killer.")


def _memory_pressure() -> AlertRule:
    t = 0.9
    return AlertRule(
        name="RayNodeMemoryPressure", severity="warning", for_s=300, scope="node", threshold=t,
        summary=f"Memory of node {NODE} is {{{{ $value | humanizePercentage }}}} used",
        description=(
            f"The node has used more than {_pct(t)} of its memory for 5 minutes. Ray's memory monitor starts "
            "killing workers at 95% (RAY_memory_usage_threshold), so OOM kills are next. The Nodes page lists "
            "the node's processes by memory; the object store's share is on its Object store tab."),
        expr=f"rayscope_node_memory_used_bytes / rayscope_node_memory_total_bytes > {_num(t)}")


def _object_store_full() -> AlertRule:
    t = 0.9
    return AlertRule(
        name="RayObjectStoreNearlyFull", severity="warning", for_s=300, scope="node", threshold=t,
        summary=f"Object store of node {NODE} is {{{{ $value | humanizePercentage }}}} full",
        description=(
            f"The node's object store has been more than {_pct(t)} full for 5 minutes: new objects will be "
            "spilled to disk (slow) or, with spilling off, creating them blocks. `ray-memory --group-by "
            "STACK_TRACE` shows which call sites hold the memory (often references kept alive by a driver)."),
        expr=(f"rayscope_object_store_used_bytes / (rayscope_object_store_capacity_bytes > 0) > {_num(t)}"))


def _spilling() -> AlertRule:
    window = 300
    return AlertRule(
        name="RayObjectSpilling", severity="info", for_s=600, scope="node", threshold=0, window_s=window,
        summary=f"Node {NODE} is spilling objects to disk at {{{{ $value | humanize }}}}B/s",
        description=(
            "The node has been spilling objects from its object store to disk for 10 minutes. Spilling keeps "
            "work going but every spilled object is read back from disk; a job that spills all the time wants "
            "a bigger object store or smaller partitions. Watch the disk too (RayNodeDiskFull)."),
        expr=f"rate(rayscope_object_store_spilled_bytes_total[{duration(window)}]) > 0")


def _disk_full() -> AlertRule:
    t = 0.9
    return AlertRule(
        name="RayNodeDiskFull", severity="warning", for_s=300, scope="node", threshold=t,
        summary=f"Disk of the Ray session on node {NODE} is {{{{ $value | humanizePercentage }}}} full",
        description=(
            f"The filesystem holding the node's Ray session (logs and spilled objects) has been more than "
            f"{_pct(t)} full for 5 minutes. When it fills, spilling fails and Ray kills tasks that cannot "
            "store their results; logs stop being written. Clear old sessions under the temp dir or move "
            "spilling elsewhere (object_spilling_config)."),
        expr=("rayscope_node_session_disk_used_bytes / (rayscope_node_session_disk_total_bytes > 0) "
              f"> {_num(t)}"))


def _pending_too_long() -> AlertRule:
    t = 600
    return AlertRule(
        name="RayTasksPendingTooLong", severity="warning", for_s=0, scope="job", threshold=t,
        summary=f"A task of {JOB} has waited {{{{ $value | humanize }}}}s for a node",
        description=(
            f"A task of this job has waited more than {duration(t)} for a node with its resources "
            f"({AWAITING_NODE}) although some node could run it: the resources are held by other "
            "tasks or actors, or the autoscaler does not add nodes. The Tasks page's Stuck filter lists them, "
            "longest first, with what each asks for."),
        expr=f"rayscope_job_oldest_pending_task_seconds > {_num(t)}")


def _infeasible() -> AlertRule:
    return AlertRule(
        name="RayTasksInfeasible", severity="warning", for_s=300, scope="job", threshold=0,
        summary=f"{{{{ $value }}}} tasks of {JOB} ask for resources no node has",
        description=(
            "Tasks of this job ask for resources that no alive node has in total (e.g. a GPU on a CPU-only "
            "cluster), so Ray can never schedule them unless a bigger node joins; Ray only logs a warning. "
            "The Tasks page's Stuck filter shows what each asks for. Fix the request or add such a node."),
        expr="rayscope_job_infeasible_tasks > 0")


def _failure_rate() -> AlertRule:
    t, window, floor = 0.05, 600, 20
    w = duration(window)
    ended = f"sum by (job_id) (increase(rayscope_job_tasks_ended_total[{w}]))"
    return AlertRule(
        name="RayTaskFailureRate", severity="warning", for_s=300, scope="job", threshold=t, window_s=window,
        min_count=floor,
        summary=f"{{{{ $value | humanizePercentage }}}} of the task attempts of {JOB} failed in the last {w}",
        description=(
            f"More than {_pct(t)} of this job's task attempts that ended in the last {w} failed (counted "
            f"once at least {floor} ended), for 5 minutes. The Tasks page filtered to FAILED groups the errors; "
            "a task's page shows its traceback and logs."),
        expr=(f'sum by (job_id) (increase(rayscope_job_tasks_ended_total{{state="FAILED"}}[{w}]))\n'
              f"  / {ended} > {_num(t)}\n"
              f"and on (job_id) {ended} >= {floor}"))


def _gpu_idle() -> AlertRule:
    t = 0.05
    return AlertRule(
        name="RayGPUReservedButIdle", severity="warning", for_s=900, scope="node", threshold=t,
        summary=f"{{{{ $value }}}} GPUs are reserved on node {NODE} but its GPUs are under {_pct(t)} busy",
        description=(
            f"Tasks or actors on this node hold GPUs (num_gpus) while every GPU of the node has been under "
            f"{_pct(t)} busy for 15 minutes: an idle actor keeping a GPU, or work waiting on CPU or input. "
            "The Nodes page lists the node's processes with their GPU memory; the actor's page shows what it "
            "is doing (stack dump)."),
        expr=("rayscope_node_gpus_reserved > 0\n"
              f"and on (node_id) max by (node_id) (rayscope_gpu_util_ratio) < {_num(t)}"))


def _ingest_lag() -> AlertRule:
    t = 30
    return AlertRule(
        name="RayscopeIngestLag", severity="warning", for_s=300, scope="node", threshold=t,
        summary=f"Rayscope's data from node {NODE} is {{{{ $value | humanize }}}}s behind",
        description=(
            f"The newest batch the head stored from this node's agent was created more than {t} s ago, for 5 "
            "minutes, while the agent is connected: the head does not keep up (CPU, disk) or the agent is "
            "replaying a backlog from its spool. The dashboard shows this node's recent state late meanwhile. "
            "The head's CPU and writer (rayscope_head_* series) and the agent's spool "
            "(rayscope_agent_spool_pending_batches) say which."),
        expr=f"rayscope_node_ingest_lag_seconds > {_num(t)}")


def _data_dropped() -> AlertRule:
    window = 600
    return AlertRule(
        name="RayscopeDataDropped", severity="warning", for_s=0, scope="node", threshold=0, window_s=window,
        summary=f"Rayscope dropped {{{{ $value | humanize }}}} items from node {NODE} in the last "
                f"{duration(window)}",
        description=(
            "Events, log lines or samples from this node were dropped before storage: the agent's spool or "
            "buffers went over their budget, input was unreadable, or the head got malformed items. What was "
            "dropped, and why, is on the Nodes page's Dropped card (GET /api/v1/ingest/health)."),
        expr=f"round(increase(rayscope_node_dropped_items_total[{duration(window)}])) > 0")


RULES: tuple[AlertRule, ...] = (
    _node_down(), _agent_down(), _oom_kills(), _worker_failures(), _memory_pressure(), _object_store_full(),
    _spilling(), _disk_full(), _pending_too_long(), _infeasible(), _failure_rate(), _gpu_idle(), _ingest_lag(),
    _data_dropped(),
)

_BY_NAME = {r.name: r for r in RULES}


def rule(name: str) -> AlertRule:
    """The rule called `name`; KeyError naming the known rules otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no alert rule {name!r} (known: {', '.join(_BY_NAME)})") from None


# --- render_summary: Prometheus' template functions, as prometheus/template/template.go defines them ---

_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.([A-Za-z_][A-Za-z0-9_]*)|\$value(?:\s*\|\s*(humanize|humanizePercentage))?)"
                       r"\s*\}\}")


def _go_float(v: float) -> str:
    """Go's `%v` of a float64 (what `{{ $value }}` prints): strconv.FormatFloat(v, 'g', -1, 64), the
    shortest digits that read back as v, in `%e` form when the decimal exponent is < -4 or >= 6
    (2 -> "2", 0.95 -> "0.95", 123456 -> "123456", 1e6 -> "1e+06")."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign, digits, exp = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    x = len(ds) + exp - 1  # decimal exponent of the first digit
    eprec = 6  # strconv's 'g' with the shortest precision decides the form as %g with precision 6 does
    head = "-" if sign else ""
    if x < -4 or x >= eprec:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{head}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if x < 0:
        return f"{head}0.{'0' * (-x - 1)}{ds}"
    if x + 1 >= len(ds):
        return f"{head}{ds}{'0' * (x + 1 - len(ds))}"
    return f"{head}{ds[:x + 1]}.{ds[x + 1:]}"


def _humanize(v: float) -> str:
    """Prometheus' `humanize`: SI prefixes (k, M, ... ; m, u, ...) and 4 significant digits."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _go_g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return _go_g4(v) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return _go_g4(v) + prefix


def _go_g4(v: float) -> str:
    """Go's `%.4g` (Python's matches it for finite values; Go spells the infinities +Inf/-Inf)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def render_summary(rule: AlertRule, labels: Mapping[str, str], value: float) -> str:
    """The rule's summary as Prometheus renders it for an alert with these labels and value (a label
    the alert lacks renders empty, as with Prometheus' missingkey=zero)."""

    def one(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            return labels.get(m.group(2), "")
        if m.group(3) == "humanize":
            return _humanize(value)
        if m.group(3) == "humanizePercentage":
            return _go_g4(value * 100) + "%"
        return _go_float(value)

    return _TEMPLATE.sub(one, rule.summary)
