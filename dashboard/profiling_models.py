"""The API models of profiling (issue 14): stack dumps, the cluster-wide stack summary, CPU and
memory profiles, and what each node can profile.

A dump or profile is taken by the target's node agent (profiling/node_link.py) and returned through
the head (profiling/head_link.py); the head stores every dump and profile (dashboard/store/
schema_profiling.py), so a stopped cluster's store lists them in history mode. Times are unix seconds.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from rayscope.common.api_model import ApiModel

ProfileKind = Literal["cpu", "memory"]
ProfileStatus = Literal["running", "done", "failed"]
StackMethod = Literal["py-spy", "faulthandler"]
ProfileMethod = Literal["py-spy", "memray"]

CPU_DEFAULT_S = 5.0
MEMORY_DEFAULT_S = 10.0
MAX_DURATION_S = 60.0
DEFAULT_RATE_HZ = 100


class Target(ApiModel):
    """What to look at: a task (its latest attempt unless `attempt` is given; it must be running), an
    actor (alive), a worker (by id), or a process (`pid` on `node_id`). Exactly one of task_id,
    actor_id, worker_id, pid."""

    task_id: Optional[str] = None
    attempt: Optional[int] = None
    actor_id: Optional[str] = None
    worker_id: Optional[str] = None
    pid: Optional[int] = None
    node_id: Optional[str] = Field(default=None, description="with pid: the node (id or unique id prefix, or the node's IP)")

    @model_validator(mode="after")
    def _one_target(self) -> "Target":
        given = [n for n in ("task_id", "actor_id", "worker_id", "pid") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of task_id, actor_id, worker_id, pid")
        if self.pid is not None and not self.node_id:
            raise ValueError("pid needs node_id")
        return self


class ResolvedTarget(ApiModel):
    """The process a request resolved to, with what the head knows about it."""

    node_id: str
    node_ip: Optional[str] = None
    pid: int
    worker_id: Optional[str] = None
    job_id: Optional[str] = None
    task_id: Optional[str] = None
    attempt: Optional[int] = None
    actor_id: Optional[str] = None
    name: Optional[str] = Field(default=None, description="the task's function or the actor's class, else the process title")


class StackFrame(ApiModel):
    function: str
    file: str
    short_file: str = Field(description="the file's last two path parts, for display")
    line: int
    module: Optional[str] = None
    native: bool = False
    locals: Optional[dict[str, str]] = Field(default=None, description="repr of each argument and local (with locals only)")


class ThreadStack(ApiModel):
    thread_id: int
    name: Optional[str] = None
    os_thread_id: Optional[int] = None
    active: bool = Field(description="running rather than idle/blocked (py-spy's heuristic; the fallback says true)")
    owns_gil: bool = False
    frames: list[StackFrame] = Field(description="innermost first")


class StackRequest(Target):
    locals: bool = False
    native: bool = False


class StackDump(ApiModel):
    """Every thread of one process at one instant."""

    dump_id: str
    target: ResolvedTarget
    method: StackMethod
    taken_at: float
    took_ms: float = Field(description="time the tool took on the node")
    round_trip_ms: float = Field(description="time from the head's request to the node's answer")
    warning: Optional[str] = Field(default=None, description="why the fallback was used: one line with the remedy")
    threads: list[ThreadStack]


class StackDumpRow(ApiModel):
    """One stored dump, for listings (its threads via GET /profiling/stacks/{dump_id})."""

    dump_id: str
    target: ResolvedTarget
    method: StackMethod
    taken_at: float
    headline: Optional[str] = Field(default=None, description="where the task's thread is, e.g. 'ray.get at retriever.py:88'")


class SummaryRequest(ApiModel):
    job_id: Optional[str] = Field(default=None, description="only this job's workers; the whole cluster when absent")
    include_idle: bool = Field(False, description="also workers with no running task or live actor")


class StackGroup(ApiModel):
    """Workers whose task thread has the identical stack."""

    count: int
    headline: str = Field(description="e.g. 'ray.get at retriever.py:88'")
    frames: list[StackFrame] = Field(description="the shared stack, innermost first")
    targets: list[ResolvedTarget]


class SummaryFailure(ApiModel):
    target: ResolvedTarget
    error: str


class StackSummary(ApiModel):
    job_id: Optional[str] = None
    taken_at: float
    took_ms: float
    workers: int = Field(description="processes asked")
    dumped: int
    groups: list[StackGroup] = Field(description="largest group first")
    failures: list[SummaryFailure]


class StuckStacks(ApiModel):
    """The dumps just taken of the tasks stuck RUNNING (each then carries it as `stuck.last_stack_dump_id`)."""

    taken_at: float
    dumps: list[StackDumpRow]
    failures: list[SummaryFailure]


class ProfileRequest(Target):
    kind: ProfileKind = "cpu"
    duration_s: Optional[float] = Field(default=None, gt=0, le=MAX_DURATION_S,
                                        description=f"cpu default {CPU_DEFAULT_S:g}, memory {MEMORY_DEFAULT_S:g}; max {MAX_DURATION_S:g}")
    rate_hz: int = Field(DEFAULT_RATE_HZ, ge=1, le=1000, description="cpu: samples per second")
    idle: bool = Field(True, description="cpu: keep idle frames, so a blocked worker is not an empty graph")
    native: bool = False


class Allocation(ApiModel):
    function: str
    file: str
    line: int
    size: int = Field(description="bytes allocated at this line over the window")
    count: int


class TopFunction(ApiModel):
    """A function's share of a CPU profile's samples."""

    function: str
    file: str
    line: int
    self_share: float = Field(description="fraction of samples with this frame innermost")
    total_share: float = Field(description="fraction of samples with this frame anywhere on the stack")


class Profile(ApiModel):
    """A CPU or memory profile (GET /profiling/profiles/{id}/speedscope.json for the document)."""

    profile_id: str
    kind: ProfileKind
    status: ProfileStatus
    target: ResolvedTarget
    method: Optional[ProfileMethod] = None
    requested_at: float
    duration_s: float
    rate_hz: Optional[int] = None
    finished_at: Optional[float] = None
    samples: Optional[int] = None
    total_bytes: Optional[int] = Field(default=None, description="memory: bytes allocated over the window")
    error: Optional[str] = None
    warning: Optional[str] = None
    size_bytes: Optional[int] = Field(default=None, description="the speedscope document's size")


class ProfileDetail(Profile):
    top_functions: list[TopFunction] = Field(default_factory=list)
    top_functions_thread: Optional[str] = Field(default=None, description="the thread top_functions are of: the one running the task")
    top_allocations: list[Allocation] = Field(default_factory=list)


class NodeProfilingCapabilities(ApiModel):
    node_id: str
    node_ip: Optional[str] = None
    connected: bool = Field(description="the node's agent holds its profiling link to the head")
    py_spy: Optional[str] = None
    py_spy_version: Optional[str] = None
    memray: Optional[str] = None
    gdb: Optional[str] = None
    ptrace: Optional[str] = Field(default=None, description="root | cap_sys_ptrace | yama_0 | same_uid | denied")
    remedy: Optional[str] = None
    fallback_signal: bool = False
    notes: list[str] = Field(default_factory=list)
