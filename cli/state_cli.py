"""`rayscope list|summary|get|logs`: the state CLI over the head's REST API.

Mirrors Ray's `ray list/summary/get/logs` (option names, upper-case field headers, the
`======== List: … ========` layout) but reads the head's store, so listings have no 10,000
row cap and logs are searchable cluster-wide. Every failure is one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence

from pydantic import BaseModel

from rayscope.cli import train_cli
from rayscope.cli.client import (
    MAX_PAGE,
    HeadBadRequest,
    HeadClient,
    HeadError,
    HeadNotFound,
    filter_params,
    resolve_target,
)
from rayscope.cli.data_cli import dataset_text
from rayscope.cli.format import (
    Column,
    banner,
    human_bytes,
    human_duration,
    human_percent,
    human_time,
    render_record,
    render_table,
    short_id,
    terminal_width,
)
from rayscope.cli.serve_cli import serve_app_text
from rayscope.dashboard.models import (
    Actor,
    ActorSummary,
    Dataset,
    DatasetDetail,
    Job,
    LogFile,
    LogLine,
    LogSearchHit,
    Node,
    ObjectRef,
    Page,
    Process,
    ServeApplication,
    ServeApplicationDetail,
    Task,
    TaskStuck,
    TaskSummary,
    Worker,
)
from rayscope.dashboard.train_models import TrainRun, TrainRunDetail

FOLLOW_INTERVAL_S = 0.5
DEFAULT_LIMIT = 100
DEFAULT_TAIL = 1000

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resource:
    """A listable kind: its API path, row model and table columns."""

    name: str
    path: str
    model: type[BaseModel]
    columns: tuple[Column, ...]


def _f(field: str) -> Callable[[Any], Any]:
    return lambda row: getattr(row, field)


def _col(field: str, priority: int, shrink: bool = False, right: bool = False) -> Column:
    """A column showing a model field as is, headed by the field name like Ray's tables."""
    return Column(field.upper(), _f(field), priority=priority, shrink=shrink, align_right=right)


def _human(header: str, fn: Callable[[Any], str], priority: int) -> Column:
    return Column(header, fn, priority=priority, align_right=False)


def _of(used: Optional[int], total: Optional[int]) -> str:
    if used is None and total is None:
        return ""
    return f"{human_bytes(used) or '?'} / {human_bytes(total) or '?'}"


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("nodes", "/nodes", Node, (
            _col("node_id", 0), _col("node_ip", 1), _col("is_head_node", 3), _col("state", 1),
            _col("node_name", 20, shrink=True),
            _human("CPU", lambda n: human_percent(n.cpu_percent), 5),
            _human("MEM", lambda n: _of(n.mem_used, n.mem_total), 6),
            _human("OBJECT_STORE", lambda n: _of(n.object_store_used, n.object_store_capacity), 7),
            _col("num_gpus", 15), _col("agent_connected", 8),
            _col("resources_total", 30, shrink=True),
        )),
        Resource("jobs", "/jobs", Job, (
            _col("job_id", 0), _col("state", 1), _col("driver_pid", 5), _col("driver_ip", 6),
            _human("START_TIME", lambda j: human_time(j.start_time), 3),
            _human("END_TIME", lambda j: human_time(j.end_time), 4),
            _col("entrypoint", 10, shrink=True), _col("ray_namespace", 20),
            _col("submission_id", 2), _col("submission_status", 2), _col("driver_exit_code", 7),
            _col("submission_message", 25, shrink=True), _col("runtime_env", 30, shrink=True),
        )),
        Resource("tasks", "/tasks", Task, (
            _col("task_id", 0), _col("attempt", 2), _col("name", 1, shrink=True), _col("state", 1),
            _col("job_id", 4), _col("actor_id", 30), _col("type", 20), _col("node_id", 10),
            _col("worker_pid", 12),
            _human("DURATION", lambda t: human_duration(t.duration), 8),
            _col("error_type", 9, shrink=True), _col("parent_task_id", 40), _col("worker_id", 45),
        )),
        # Tasks that look stuck now (dashboard/store/read_stuck.py), longest first; filters job_id=, kind=
        Resource("stuck-tasks", "/tasks/stuck", Task, (
            _col("task_id", 0), _col("attempt", 2), _col("name", 1, shrink=True), _col("state", 1),
            _human("STUCK", lambda t: t.stuck.kind if t.stuck else "", 1),
            _human("REASON", lambda t: t.stuck.reason if t.stuck else "", 3),
            _col("job_id", 4), _col("node_id", 10),
        )),
        Resource("actors", "/actors", Actor, (
            _col("actor_id", 0), _col("class_name", 1, shrink=True), _col("state", 1),
            _col("job_id", 4), _col("name", 5, shrink=True), _col("node_id", 10), _col("pid", 6),
            _col("ray_namespace", 30), _col("num_restarts", 20),
            _col("death_cause", 40, shrink=True),
        )),
        Resource("datasets", "/datasets", Dataset, (
            _col("dataset_id", 0), _col("state", 1), _col("job_id", 2),
            _human("START_TIME", lambda d: human_time(d.start_time), 3),
            _human("END_TIME", lambda d: human_time(d.execution_end_time), 4),
            _col("operator_count", 5), _col("rows_output", 6), _col("issue_count", 7),
        )),
        Resource("workers", "/workers", Worker, (
            _col("worker_id", 0), _col("is_alive", 1), _col("worker_type", 1), _col("pid", 1),
            _col("exit_type", 2), _col("exit_detail", 11, shrink=True),
            _col("node_id", 10), _col("job_id", 5), _col("task_name", 6, shrink=True),
            _human("CPU", lambda w: human_percent(w.cpu_percent), 7),
            _human("RSS", lambda w: human_bytes(w.rss), 8),
            _human("USS", lambda w: human_bytes(w.uss), 9),
            _col("task_id", 20), _col("actor_id", 25),
        )),
        Resource("objects", "/objects", ObjectRef, (
            _col("object_id", 0),
            _human("OBJECT_SIZE", lambda o: human_bytes(o.object_size) if (o.object_size or 0) >= 0 else "?", 1),
            _col("task_status", 2), _col("attempt", 8), _col("reference_type", 2),
            _col("call_site", 20, shrink=True), _col("worker_type", 5), _col("pid", 3),
            _col("node_ip", 6), _col("job_id", 10), _col("node_id", 30),
        )),
        Resource("processes", "/processes", Process, (
            _col("pid", 0), _col("role", 1), _col("title", 2, shrink=True),
            _human("CPU", lambda p: human_percent(p.cpu_percent), 3),
            _human("RSS", lambda p: human_bytes(p.rss), 4),
            _human("USS", lambda p: human_bytes(p.uss), 5),
            _col("task_name", 6, shrink=True), _col("job_id", 10), _col("node_id", 20),
            _col("num_fds", 25), _col("num_threads", 26), _col("worker_id", 30),
        )),
        Resource("serve-apps", "/serve/applications", ServeApplication, (
            _col("name", 0), _col("status", 1), _col("present", 2), _col("route_prefix", 3),
            _col("deployment_count", 4), _col("running_replicas", 2), _col("target_replicas", 2),
            _human("REQUESTS", lambda a: f"{a.requests.requests_total:.0f}" if a.requests else "", 5),
            _human("ERRORS", lambda a: f"{a.requests.errors_total:.0f}" if a.requests else "", 5),
            _human("LAST_DEPLOYED", lambda a: human_time(a.last_deployed_time), 6),
            _col("message", 20, shrink=True),
        )),
    )
}


RESOURCES["train-runs"] = Resource("train-runs", train_cli.TRAIN_RUNS_PATH, TrainRun, train_cli.COLUMNS)


# ---------------------------------------------------------------- plumbing


def _client(args: argparse.Namespace) -> HeadClient:
    return HeadClient(resolve_target(args.address, args.token, args.tls_ca), timeout=args.timeout)


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _warn(text: str) -> None:
    sys.stderr.write(text + "\n")


def _dump_json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list):
        return json.dumps([v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value])
    return json.dumps(value)


def _guard(handler: Handler) -> Handler:
    """Turn head errors into one stderr line and exit 1; Ctrl-C and closed pipes end quietly."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except HeadError as exc:
            _warn(f"error: {exc}")
            return 1
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            sys.stdout = open("/dev/null", "w")  # keep the interpreter's final flush quiet
            return 0

    run.__doc__ = handler.__doc__
    return run


def _whole_number_at_least(minimum: int):
    """An argparse type: a whole number >= minimum, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive = _whole_number_at_least(1)
_non_negative = _whole_number_at_least(0)


def _common_options() -> argparse.ArgumentParser:
    """--address/--token/--timeout/--tls-ca, shared by every state command (and ray-debug)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("head connection")
    group.add_argument("--address", help="head URL, e.g. http://127.0.0.1:8290 "
                       "(default: $RAYSCOPE_ADDRESS, else the head this host's `rayscope start` started)")
    group.add_argument("--token", help="API token (default: $RAYSCOPE_TOKEN, else the local token file)")
    group.add_argument("--timeout", type=float, default=30.0,
                       help="seconds to wait for each API request (default 30)")
    group.add_argument("--tls-ca", metavar="FILE",
                       help="CA file (PEM) to verify an https:// head against "
                            "(default: $RAYSCOPE_TLS_CA, else $RAY_TLS_CA_CERT)")
    return parent


# ---------------------------------------------------------------- list


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    """Fetch up to --limit rows (following cursors) and print a table or JSON."""
    resource = RESOURCES[args.resource]
    params = filter_params(args.filter or [])
    if args.sort:
        params.append(("sort", args.sort))
    rows: list[BaseModel] = []
    more = False
    with _client(args) as client:
        for page in client.iter_pages(resource.path, resource.model, params, args.limit, args.page_size):
            rows.extend(page.rows)
            more = page.next_cursor is not None
    if args.format == "json":
        _out(_dump_json(rows))
    elif not rows:
        _out(f"No {resource.name} found.")
    else:
        _out(_list_text(resource, rows))
    if more and len(rows) >= args.limit:
        _warn(f"Showing the first {len(rows)} {resource.name}; more match. Raise --limit to see them.")
    return 0


def _list_text(resource: Resource, rows: Sequence[BaseModel]) -> str:
    return "\n".join([
        banner("List"), "Stats:", "-" * 30, f"Total: {len(rows)}", "", "Table:", "-" * 30,
        render_table(resource.columns, rows, terminal_width()),
    ])


def _add_list(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "list", parents=[parent], help="list nodes, jobs, tasks, actors, workers, objects, train-runs",
        description="List the state of one resource kind, like `ray list`, without a row cap.",
    )
    p.add_argument("resource", choices=sorted(RESOURCES))
    p.add_argument("-f", "--filter", action="append", metavar="KEY=VALUE",
                   help="'key=value' or 'key!=value' on a field name (repeatable, ANDed)")
    p.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT,
                   help=f"maximum rows to print ({DEFAULT_LIMIT} by default; no upper cap)")
    p.add_argument("--sort", metavar="FIELD", help="sort by a field; --sort=-FIELD sorts descending")
    p.add_argument("--format", choices=["default", "table", "json"], default="default")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="print a JSON array")
    p.add_argument("--page-size", type=_positive, default=MAX_PAGE, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_list)


# ---------------------------------------------------------------- summary


@_guard
def cmd_summary(args: argparse.Namespace) -> int:
    """Per function/class counts by state, like `ray summary tasks|actors`."""
    with _client(args) as client:
        params = [("job_id", args.job)]
        if args.resource == "tasks":
            summary: TaskSummary | ActorSummary = client.get("/tasks/summary", TaskSummary, params)
        else:
            summary = client.get("/actors/summary", ActorSummary, params)
    if args.format == "json":
        _out(_dump_json(summary))
        return 0
    _out(_summary_text(args.resource, summary))
    return 0


def _state_counts(states: dict[str, int]) -> str:
    return ", ".join(f"{s}: {n}" for s, n in sorted(states.items(), key=lambda kv: (-kv[1], kv[0])))


def _summary_text(resource: str, summary: TaskSummary | ActorSummary) -> str:
    if isinstance(summary, TaskSummary):
        stats = f"total_tasks: {summary.total}"
        by = "func_name"
        columns: tuple[Column, ...] = (
            Column("FUNC_OR_CLASS_NAME", _f("name"), priority=0, shrink=True, min_width=12),
            Column("TYPE", _f("type"), priority=3),
            Column("TOTAL", _f("total"), priority=1, align_right=True),
            Column("STATE_COUNTS", lambda r: _state_counts(r.states), priority=2, shrink=True, min_width=20),
        )
    else:
        stats = f"total_actors: {summary.total}"
        by = "class"
        columns = (
            Column("CLASS_NAME", _f("class_name"), priority=0, shrink=True, min_width=12),
            Column("TOTAL", _f("total"), priority=1, align_right=True),
            Column("STATE_COUNTS", lambda r: _state_counts(r.states), priority=2, shrink=True, min_width=20),
        )
    table = render_table(columns, summary.rows, terminal_width()) if summary.rows else f"No {resource} found."
    return "\n".join([
        banner(f"{resource.capitalize()} Summary"), "Stats:", "-" * 36, stats, "",
        f"Table (group by {by}):", "-" * 36, table,
    ])


def _add_summary(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("summary", parents=[parent], help="per-function/class state counts",
                       description="Summarize tasks by function or actors by class, like `ray summary`.")
    p.add_argument("resource", choices=["tasks", "actors"])
    p.add_argument("--job", metavar="JOB_ID", help="only this job")
    p.add_argument("--format", choices=["default", "table", "json"], default="default")
    p.add_argument("--json", dest="format", action="store_const", const="json")
    p.set_defaults(func=cmd_summary)


# ---------------------------------------------------------------- get

GET_KINDS = {"task": "tasks", "actor": "actors", "node": "nodes", "job": "jobs", "train-run": "train-runs",
             "dataset": "datasets", "serve-app": "serve/applications"}
GET_PATHS = {"train-run": train_cli.TRAIN_RUNS_PATH}  # where the API path is not /<plural>


@_guard
def cmd_get(args: argparse.Namespace) -> int:
    """One task (every attempt), actor, node or job by id, with its full detail."""
    kind = args.kind.rstrip("s")
    # quoted: a Serve app's name may hold anything
    path = f"{GET_PATHS.get(kind, '/' + GET_KINDS[kind])}/{urllib.parse.quote(args.id, safe='')}"
    model: Any = {"task": list[Task], "actor": Actor, "node": Node, "job": Job, "train-run": TrainRunDetail,
                  "dataset": DatasetDetail, "serve-app": ServeApplicationDetail}[kind]
    with _client(args) as client:
        try:
            found = client.get(path, model)
        except HeadNotFound as exc:
            if args.id in str(exc):
                raise
            raise HeadNotFound(f"no {kind} with id {args.id} ({exc})") from None
    if kind == "task" and not found:
        raise HeadNotFound(f"no task with id {args.id}")
    if args.format == "json":
        _out(_dump_json(found))
        return 0
    if isinstance(found, TrainRunDetail):
        _out(train_cli.detail_text(found))
        return 0
    if kind == "dataset":
        _out(dataset_text(found))
        return 0
    if kind == "serve-app":
        _out(serve_app_text(found, terminal_width()))
        return 0
    records = found if isinstance(found, list) else [found]
    title = f"{kind.capitalize()} {args.id}"
    if kind == "task":
        title += f" ({len(records)} attempt{'s' if len(records) != 1 else ''})"
    _out(banner(title))
    for record in records:
        if kind == "task":
            _out(f"--- attempt {record.attempt} ---")
        _out(render_record(_detail_pairs(record)))
    return 0


def _detail_value(field: str, value: Any) -> Any:
    """Humanize times, durations and sizes; keep the raw number beside times for scripts."""
    if value is None:
        return None
    if field.endswith("_time") and isinstance(value, (int, float)):
        return f"{human_time(value)} ({value:.3f})"
    if field == "duration":
        return human_duration(value)
    if field == "state_times" and isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda kv: kv[1])
        return "\n".join(f"{state}: {human_time(ts)} ({ts:.3f})" for state, ts in ordered) + "\n"
    if field in ("mem_used", "mem_total", "object_store_used", "object_store_capacity"):
        return human_bytes(value)
    if field == "stuck" and isinstance(value, TaskStuck):
        dump = f" (last stack: {value.last_stack_dump_id})" if value.last_stack_dump_id else ""
        return f"{value.kind}: {value.reason}{dump}"
    return value


def _detail_pairs(record: BaseModel) -> list[tuple[str, Any]]:
    pairs = []
    for field in type(record).model_fields:
        value = _detail_value(field, getattr(record, field))
        if value is None or value == {} or value == "":
            continue
        pairs.append((field, value))
    return pairs


def _add_get(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("get", parents=[parent], help="one task (all attempts), actor, node, job, train run or dataset",
                       description="Show one resource by id with its detail, like `ray get`.")
    kinds = sorted(list(GET_KINDS) + list(GET_KINDS.values()))
    p.add_argument("kind", choices=kinds, metavar="{task,actor,node,job,train-run,dataset,serve-app}")
    p.add_argument("id", help="hex id, as `rayscope list` prints it")
    p.add_argument("--format", choices=["default", "yaml", "json"], default="default")
    p.add_argument("--json", dest="format", action="store_const", const="json")
    p.set_defaults(func=cmd_get)


# ---------------------------------------------------------------- logs

SELECTORS = (("task", "task_id"), ("actor", "actor_id"), ("worker", "worker_id"),
             ("job", "job_id"), ("file", "file_id"))


@_guard
def cmd_logs(args: argparse.Namespace) -> int:
    """List log files, print/follow one selection's lines, or search every node's logs."""
    selected = [flag for flag, _ in SELECTORS if getattr(args, flag)]
    if len(selected) > 1:
        raise HeadBadRequest("pass at most one of --task, --actor, --worker, --job, --file")
    if args.follow and args.grep is not None:
        raise HeadBadRequest("--follow cannot be combined with --grep")
    if args.actor and args.grep is not None:
        raise HeadBadRequest("--grep cannot be narrowed to an actor; use --worker WORKER_ID or --job JOB_ID")
    with _client(args) as client:
        if args.file:
            args.file = _resolve_file(client, args.file, args.node)
        if args.grep is not None:
            return _logs_grep(client, args, selected[0] if selected else None)
        if not selected:
            return _logs_list_files(client, args)
        return _logs_lines(client, args, LineSelection.of(args, selected[0]))


@dataclass(frozen=True)
class LineSelection:
    """What `/logs/lines` is asked for (exactly one selector) plus the node to keep client-side:
    the head takes one selector at a time, so `--node` narrows a task/actor/worker/job here."""

    param: str
    value: str
    node_id: Optional[str]
    prefixed: bool  # a job spans many files: say which one each line came from

    @staticmethod
    def of(args: argparse.Namespace, flag: str) -> "LineSelection":
        param = dict(SELECTORS)[flag]
        node = None if flag == "file" else args.node
        return LineSelection(param, getattr(args, flag), node, prefixed=flag == "job")

    def keep(self, line: LogLine) -> bool:
        return self.node_id is None or line.node_id == self.node_id


def _resolve_file(client: HeadClient, value: str, node: Optional[str]) -> str:
    """`--file` takes a file id or a path relative to the logs dir (with --node when ambiguous)."""
    node_filter = [f"node_id={node}"] if node else []
    for key in ("file_id", "path"):
        files = list(client.iter_rows("/logs/files", LogFile, filter_params([f"{key}={value}"] + node_filter)))
        if len(files) == 1:
            return files[0].file_id
        if len(files) > 1:
            nodes = ", ".join(sorted({short_id(f.node_id, 12) for f in files}))
            raise HeadBadRequest(f"{value} exists on several nodes ({nodes}): pass --node NODE_ID")
    raise HeadNotFound(f"no log file {value!r}{' on node ' + node if node else ''} "
                       "(`rayscope logs` lists them)")


def _logs_list_files(client: HeadClient, args: argparse.Namespace) -> int:
    """Every known log file, grouped by node, like `ray logs` with no file."""
    params = filter_params([f"node_id={args.node}"]) if args.node else []
    files = list(client.iter_rows("/logs/files", LogFile, params))
    if args.format == "json":
        _out(_dump_json(files))
        return 0
    if not files:
        _out("No log files found.")
        return 0
    by_node: dict[str, list[LogFile]] = {}
    for f in files:
        by_node.setdefault(f.node_id, []).append(f)
    columns = (
        Column("KIND", _f("kind"), priority=1), Column("PATH", _f("path"), priority=0),
        Column("SIZE", lambda f: human_bytes(f.size), priority=2, align_right=True),
        Column("LINES", _f("lines"), priority=3, align_right=True),
        Column("JOB_ID", _f("job_id"), priority=5), Column("PID", _f("pid"), priority=4),
        Column("LAST_LINE_AT", lambda f: human_time(f.last_line_at), priority=6),
        Column("WORKER_ID", _f("worker_id"), priority=9), Column("FILE_ID", _f("file_id"), priority=10),
    )
    for i, (node_id, node_files) in enumerate(sorted(by_node.items())):
        if i:
            _out()
        _out(f"Node ID: {node_id}")
        node_files.sort(key=lambda f: (f.kind, f.path))
        _out(render_table(columns, node_files, terminal_width(), index=False))
    return 0


def _line_prefix(line: LogLine) -> str:
    """`(node=abcd1234 task=f:<task id>)`: where a line came from, as short as still useful."""
    parts = [f"node={short_id(line.node_id)}"]
    if line.task_id:
        parts.append(f"task={line.task_name or '?'}:{line.task_id}")
    elif line.actor_id:
        parts.append(f"actor={line.actor_id}")
    else:
        parts.append(f"file={line.path}")
    return "(" + " ".join(parts) + ")"


def _line_key(line: LogLine) -> tuple[str, int, int]:
    return (line.file_id, line.generation, line.offset)


def _print_line(line: LogLine, args: argparse.Namespace, prefixed: bool) -> None:
    if args.format == "json":
        _out(line.model_dump_json())
    else:
        _out(f"{_line_prefix(line)} {line.text}" if prefixed else line.text)


class LineReader:
    """Reads a selection's lines and, for --follow, only what the head stores after that.

    `mark()` (before the first read) asks /logs/tail for a cursor alone: the point after which
    every stored line of the selection will be reported. `read_all()` reads the selection whole,
    in file order, as without --follow. `read_new()` then asks /logs/tail for what was stored
    after the cursor and moves it on, so a poll costs and returns only new lines. A line stored
    between the mark and the end of the first read comes back in both: the newest (generation,
    offset) printed per file keeps it to one print.
    """

    def __init__(self, client: HeadClient, sel: LineSelection) -> None:
        self.client = client
        self.sel = sel
        self.newest: dict[str, tuple[int, int]] = {}
        self._after: Optional[str] = None

    def _selector(self) -> list[tuple[str, Any]]:
        return [(self.sel.param, self.sel.value)]

    def mark(self) -> None:
        page = self.client.get("/logs/tail", Page[LogLine], self._selector() + [("lines", 0)])
        self._after = page.next_cursor

    def read_all(self) -> list[LogLine]:
        """Every selected line, in the head's file order."""
        rows = [ln for ln in self.client.iter_rows("/logs/lines", LogLine, self._selector()) if self.sel.keep(ln)]
        self._note(rows)
        return rows

    def read_new(self) -> tuple[list[LogLine], bool]:
        """One page of what was stored after the cursor; the flag says there was nothing (caught up)."""
        page = self.client.get("/logs/tail", Page[LogLine],
                               self._selector() + [("lines", MAX_PAGE), ("after", self._after)])
        self._after = page.next_cursor
        fresh = [ln for ln in page.rows if self._is_new(ln) and self.sel.keep(ln)]
        self._note(page.rows)
        return fresh, not page.rows

    def _is_new(self, line: LogLine) -> bool:
        return (line.generation, line.offset) > self.newest.get(line.file_id, (-1, -1))

    def _note(self, rows: Iterable[LogLine]) -> None:
        for line in rows:
            key = (line.generation, line.offset)
            if key > self.newest.get(line.file_id, (-1, -1)):
                self.newest[line.file_id] = key


def _logs_lines(client: HeadClient, args: argparse.Namespace, sel: LineSelection) -> int:
    """Print the last --tail lines of the selection; with --follow keep printing what the head
    stores next (asking every ~0.5 s while nothing new comes)."""
    reader = LineReader(client, sel)
    if args.follow:
        reader.mark()
    first = reader.read_all()
    if args.tail >= 0:
        first = first[-args.tail:] if args.tail else []
    for line in first:
        _print_line(line, args, sel.prefixed)
    sys.stdout.flush()
    try:
        while args.follow:
            fresh, caught_up = reader.read_new()
            for line in fresh:
                _print_line(line, args, sel.prefixed)
            sys.stdout.flush()
            if caught_up:
                time.sleep(FOLLOW_INTERVAL_S)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends
    return 0


def _search_params(args: argparse.Namespace, flag: Optional[str]) -> list[tuple[str, Any]]:
    """Search takes `task_id` as a parameter and everything else as `filter=KEY=VALUE`."""
    params: list[tuple[str, Any]] = []
    if flag == "task":
        params.append(("task_id", args.task))
    elif flag is not None:
        params += filter_params([f"{dict(SELECTORS)[flag]}={getattr(args, flag)}"])
    if args.node and flag != "file":
        params += filter_params([f"node_id={args.node}"])
    return params + [("regex" if args.regex else "q", args.grep), ("context", args.context)]


def _logs_grep(client: HeadClient, args: argparse.Namespace, flag: Optional[str]) -> int:
    """Cluster-wide search: each hit prefixed with where it came from; context lines marked `-`."""
    if not args.grep:
        raise HeadBadRequest("--grep needs a non-empty pattern")
    printed: set[tuple[str, int, int]] = set()
    hits = 0
    more = False
    for page in client.iter_pages("/logs/search", LogSearchHit, _search_params(args, flag), args.limit):
        if args.format == "json":
            for hit in page.rows:
                _out(hit.model_dump_json())
        else:
            _print_hits(page.rows, printed, args.context > 0)
        hits += len(page.rows)
        more = page.next_cursor is not None
    if hits == 0:
        _warn(f"no log line matches {args.grep!r}")
        return 1
    if more and hits >= args.limit:
        _warn(f"Showing the first {hits} hits; more match. Raise --limit to see them.")
    return 0


def _print_hits(hits: Sequence[LogSearchHit], printed: set[tuple[str, int, int]], grouped: bool) -> None:
    """grep's convention: `PREFIX: text` for a hit, `PREFIX- text` for context, `--` between
    groups; overlapping groups merge, and a line is printed once (as a hit if it is one)."""
    hit_keys = {_line_key(h.line) for h in hits}
    for hit in hits:
        group = [*hit.before, hit.line, *hit.after]
        fresh = [line for line in group if _line_key(line) not in printed]
        if not fresh:
            continue
        if grouped and printed and len(fresh) == len(group):
            _out("--")
        for line in fresh:
            mark = ":" if _line_key(line) in hit_keys else "-"
            _out(f"{_line_prefix(line)}{mark} {line.text}")
            printed.add(_line_key(line))


def _add_logs(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "logs", parents=[parent], help="list, print, follow or search log files",
        description="With no selector, list the log files per node (like `ray logs`). With a "
                    "selector, print its lines. With --grep, search every node's logs.",
    )
    p.add_argument("--node", "--node-id", dest="node", metavar="NODE_ID", help="only this node")
    p.add_argument("--task", metavar="TASK_ID", help="the lines a task printed (stdout and stderr)")
    p.add_argument("--actor", metavar="ACTOR_ID", help="the lines of an actor's worker")
    p.add_argument("--worker", metavar="WORKER_ID", help="the lines of a worker process")
    p.add_argument("--job", metavar="JOB_ID", help="every line of a job, each prefixed with where it came from")
    p.add_argument("--file", metavar="FILE", help="one file: its file id, or its path under the logs dir")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.add_argument("--tail", type=int, default=DEFAULT_TAIL,
                   help=f"print only the last N lines ({DEFAULT_TAIL} by default; -1 for all)")
    p.add_argument("--grep", metavar="PATTERN", help="search lines (substring, case-insensitive)")
    p.add_argument("-E", "--regex", action="store_true", help="treat --grep PATTERN as a regular expression")
    p.add_argument("-C", "--context", type=_non_negative, default=0, metavar="N",
                   help="with --grep, show N lines before and after each hit")
    p.add_argument("--limit", type=_positive, default=DEFAULT_LIMIT,
                   help=f"with --grep, maximum hits to print ({DEFAULT_LIMIT} by default)")
    p.add_argument("--json", dest="format", action="store_const", const="json", default="default",
                   help="print JSON lines (one LogLine, LogSearchHit or a LogFile array)")
    p.set_defaults(func=cmd_logs)


# ---------------------------------------------------------------- entry


def register(subparsers: Any) -> None:
    """Add list, summary, get and logs to the `rayscope` command line (called by cli/main.py)."""
    parent = _common_options()
    _add_list(subparsers, parent)
    _add_summary(subparsers, parent)
    _add_get(subparsers, parent)
    _add_logs(subparsers, parent)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the state commands (for tests and `python -m rayscope.cli.state_cli`)."""
    parser = argparse.ArgumentParser(prog="rayscope", description="Rayscope state CLI")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
