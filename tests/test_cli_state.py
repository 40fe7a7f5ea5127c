"""The state CLI (`rayscope list|summary|get|logs`) against a real head process.

The head (`python -m rayscope.dashboard`) is fed over its real gRPC ingest stream with
wire-protocol batches (what an agent sends); the CLI runs as a subprocess, exactly as a user
runs it. Formatting helpers get plain unit tests at the end.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from head_process import PYTHON, HeadProcess, IngestClient, log_file, log_lines, running_head, task_event
from polling import read_line, wait_for
from rayscope.cli.format import Column, human_bytes, human_duration, render_table, truncate
from rayscope.dashboard.models import Actor, Job, Task, TaskSummary
from rayscope.runtime.state import HeadServiceRecord, NodeRecord, State
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE_ID = "ab" * 28
WORKER_ID = "cd" * 28
JOB_ID = "01000000"
AGENT_ID = "agent-cli-test"
SESSION_LOGS = "/tmp/ray/session_test/logs"
WORKER_LOG = f"worker-{WORKER_ID}-{JOB_ID}-4242.out"
FILE_ID = f"{NODE_ID}/{WORKER_LOG}"
FOLLOW_LOG = f"worker-{'ef' * 28}-{JOB_ID}-4343.out"
N_SQUARE = 250  # more than two pages when the CLI is told to use pages of 100
T0 = time.time() - 3600


def task_id(i: int) -> str:
    return f"{i:040x}" + JOB_ID


BOOM_ID = task_id(999_999)
RETRY_ID = task_id(888_888)
ACTOR_IDS = ["a1" * 16, "a2" * 16, "a3" * 16]
TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "job.py", line 7, in boom',
    "    raise ValueError('boom went the task')",
    "ValueError: boom went the task",
]
LOG_LINES = ["starting worker", "square says hi", "boom: about to fail", *TRACEBACK, "worker idle"]
BOOM_LINES = LOG_LINES[2:-1]  # the boom task's byte range ends where "worker idle" starts
NO_DRIVER_SUB = "rs_failed_before_its_driver"  # its entrypoint never called ray.init
NO_DRIVER_MESSAGE = "Job entrypoint command failed with exit code 2, last available logs: (none)"


# ---------------------------------------------------------------- the fed head


def _lifecycle_batch() -> pb.Batch:
    batch = pb.Batch()
    batch.nodes.append(pb.NodeEvent(node_id=NODE_ID, state="ALIVE", node_ip="127.0.0.1", is_head_node=True,
                                    node_name="127.0.0.1", resources_total={"CPU": 2.0},
                                    start_time_ms=int(T0 * 1000), event_time=T0))
    batch.jobs.append(pb.JobEvent(job_id=JOB_ID, is_dead=False, driver_pid=4000, driver_ip="127.0.0.1",
                                  start_time_ms=int(T0 * 1000), entrypoint="python job.py", event_time=T0))
    batch.submission_jobs.append(pb.SubmissionJobEvent(
        submission_id=NO_DRIVER_SUB, status="FAILED", entrypoint="python -c 'import sys; sys.exit(2)'",
        message=NO_DRIVER_MESSAGE, driver_exit_code=2, start_time_ms=int(T0 * 1000),
        end_time_ms=int((T0 + 1) * 1000), event_time=T0 + 1))
    for i, aid in enumerate(ACTOR_IDS):
        batch.actors.append(pb.ActorEvent(actor_id=aid, job_id=JOB_ID, state="DEAD" if i == 2 else "ALIVE",
                                          class_name="Counter", pid=5000 + i, node_id=NODE_ID,
                                          event_time=T0 + i))
    for i in range(N_SQUARE):
        batch.tasks.append(task_event(task_id(i), name="square", type="NORMAL_TASK", node_id=NODE_ID,
                                      worker_id=WORKER_ID, worker_pid=4242,
                                      states={"PENDING_ARGS_AVAIL": T0 + i, "RUNNING": T0 + i + 0.5,
                                              "FINISHED": T0 + i + 1.5}))
    batch.tasks.append(task_event(RETRY_ID, attempt=0, name="flaky", type="NORMAL_TASK", node_id=NODE_ID,
                                  error_type="WORKER_DIED", error_message="the worker died",
                                  states={"PENDING_ARGS_AVAIL": T0, "RUNNING": T0 + 1, "FAILED": T0 + 2}))
    batch.tasks.append(task_event(RETRY_ID, attempt=1, name="flaky", type="NORMAL_TASK", node_id=NODE_ID,
                                  states={"PENDING_ARGS_AVAIL": T0 + 3, "RUNNING": T0 + 4, "FINISHED": T0 + 5}))
    return batch


def _log_batch() -> pb.Batch:
    """One worker stdout file; the `boom` task owns the lines from 'boom: about…' to before 'worker idle'."""
    lines = log_lines(FILE_ID, LOG_LINES)
    boom = task_event(BOOM_ID, name="boom", type="NORMAL_TASK", node_id=NODE_ID, worker_id=WORKER_ID,
                      worker_pid=4242, error_type="TASK_EXECUTION_EXCEPTION", error_message="\n".join(TRACEBACK),
                      stdout_file=f"{SESSION_LOGS}/{WORKER_LOG}", stdout_start=lines[2].offset,
                      stdout_end=lines[-1].offset,
                      states={"PENDING_ARGS_AVAIL": T0, "RUNNING": T0 + 1, "FAILED": T0 + 2})
    return pb.Batch(
        log_files=[log_file(FILE_ID, NODE_ID, WORKER_LOG, worker_id=WORKER_ID, job_id=JOB_ID, pid=4242),
                   log_file(f"{NODE_ID}/{FOLLOW_LOG}", NODE_ID, FOLLOW_LOG, job_id=JOB_ID, pid=4343)],
        log_lines=lines + log_lines(f"{NODE_ID}/{FOLLOW_LOG}", ["follow line 0"]),
        tasks=[boom],
    )


def feed(head: HeadProcess, *batches: pb.Batch) -> None:
    """Ship batches as an agent would: hello, then the next seqs, each acked once committed."""
    with IngestClient(head.grpc_address, head.token) as ingest:
        seq = ingest.hello(AGENT_ID, NODE_ID, node_ip="127.0.0.1", session_name="session_test")
        for batch in batches:
            seq += 1
            batch.seq = seq
            batch.created_at = time.time()
            assert ingest.send(batch) == seq


@pytest.fixture(scope="module")
def head() -> Iterator[HeadProcess]:
    with running_head() as h:
        feed(h, _lifecycle_batch(), _log_batch())
        yield h


def cli(head: HeadProcess | None, *args: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """`rayscope ARGS` as a subprocess, pointed at `head` by --address/--token."""
    conn = ["--address", head.http_url, "--token", head.token] if head else []
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("RAYSCOPE_")}
    run_env["RAYSCOPE_HOME"] = "/nonexistent-rayscope-home"
    run_env.pop("COLUMNS", None)
    run_env.update(env or {})
    proc = subprocess.run([PYTHON, "-m", "rayscope.cli.main", *args, *conn], env=run_env,
                          capture_output=True, text=True, timeout=60)
    if check:
        assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---------------------------------------------------------------- list


def test_list_follows_cursors_past_one_page_up_to_limit(head: HeadProcess) -> None:
    out = cli(head, "list", "tasks", "--filter", "name=square", "--limit", "230", "--page-size", "100", "--json")
    rows = [Task.model_validate(r) for r in json.loads(out.stdout)]
    assert len(rows) == 230 and len({r.task_id for r in rows}) == 230
    assert {r.name for r in rows} == {"square"} and {r.state for r in rows} == {"FINISHED"}
    assert "more match" in out.stderr
    everything = cli(head, "list", "tasks", "--filter", "name=square", "--limit", "5000", "--page-size", "100",
                     "--json")
    assert len({r["task_id"] for r in json.loads(everything.stdout)}) == N_SQUARE
    assert "more match" not in everything.stderr


def test_list_table_with_filters_and_sort(head: HeadProcess) -> None:
    failed = cli(head, "list", "tasks", "--filter", "state=FAILED").stdout
    assert "Total: 2" in failed and "TASK_ID" in failed and "STATE" in failed
    assert BOOM_ID in failed and RETRY_ID in failed and task_id(0) not in failed
    not_square = json.loads(cli(head, "list", "tasks", "-f", "name!=square", "-f", "job_id=" + JOB_ID,
                                "--json").stdout)
    assert sorted((r["name"], r["attempt"]) for r in not_square) == [("boom", 0), ("flaky", 0), ("flaky", 1)]
    newest = json.loads(cli(head, "list", "tasks", "--filter", "name=square", "--sort=-start_time", "--limit", "1",
                            "--json").stdout)
    assert [r["task_id"] for r in newest] == [task_id(N_SQUARE - 1)]
    actors = [Actor.model_validate(a) for a in json.loads(cli(head, "list", "actors", "--filter", "state=ALIVE",
                                                               "--json").stdout)]
    assert sorted(a.actor_id for a in actors) == ACTOR_IDS[:2]
    nodes = cli(head, "list", "nodes").stdout
    assert NODE_ID in nodes and "NODE_IP" in nodes and "127.0.0.1" in nodes
    assert JOB_ID in cli(head, "list", "jobs").stdout


def test_a_submission_without_a_driver_is_listed_and_got_by_its_submission_id(head: HeadProcess) -> None:
    rows = json.loads(cli(head, "list", "jobs", "--filter", "submission_status=FAILED", "--json").stdout)
    assert [(r["job_id"], r["submission_id"], r["state"], r["driver_exit_code"], r["submission_message"])
            for r in rows] == [(None, NO_DRIVER_SUB, "FINISHED", 2, NO_DRIVER_MESSAGE)]
    assert Job.model_validate(rows[0]).entrypoint == "python -c 'import sys; sys.exit(2)'"
    table = cli(head, "list", "jobs").stdout
    assert JOB_ID in table and "Total: 2" in table
    line = next(ln for ln in table.splitlines() if NO_DRIVER_SUB in ln)
    assert "FAILED" in line and "FINISHED" in line
    shown = cli(head, "get", "job", NO_DRIVER_SUB).stdout
    assert NO_DRIVER_SUB in shown and "exit code 2" in shown and "driver_exit_code" in shown
    got = Job.model_validate_json(cli(head, "get", "job", NO_DRIVER_SUB, "--json").stdout)
    assert (got.job_id, got.submission_id, got.submission_status) == (None, NO_DRIVER_SUB, "FAILED")


def test_list_bad_filters_are_one_line_errors(head: HeadProcess) -> None:
    assert_one_line_error(cli(head, "list", "tasks", "--filter", "colour=red", check=False), "colour", "state")
    assert_one_line_error(cli(head, "list", "tasks", "--filter", "no-operator", check=False), "KEY=VALUE")
    assert_one_line_error(cli(head, "list", "tasks", "--sort", "colour", check=False), "colour")


# ---------------------------------------------------------------- summary and get


def test_summary_tasks_and_actors(head: HeadProcess) -> None:
    table = cli(head, "summary", "tasks").stdout
    assert "Tasks Summary" in table and "FUNC_OR_CLASS_NAME" in table
    square_row = next(line for line in table.splitlines() if " square " in line)
    assert "FINISHED: 250" in square_row
    summary = TaskSummary.model_validate_json(cli(head, "summary", "tasks", "--json").stdout)
    by_name = {r.name: r.states for r in summary.rows}
    assert by_name["square"] == {"FINISHED": N_SQUARE} and by_name["boom"] == {"FAILED": 1}
    actors = cli(head, "summary", "actors").stdout
    counter_row = next(line for line in actors.splitlines() if "Counter" in line)
    assert "ALIVE: 2" in counter_row and "DEAD: 1" in counter_row


def test_get_task_shows_every_attempt_and_the_traceback(head: HeadProcess) -> None:
    boom = cli(head, "get", "task", BOOM_ID).stdout
    assert "error_message: |" in boom and "  ValueError: boom went the task" in boom
    assert "error_type:" in boom and "TASK_EXECUTION_EXCEPTION" in boom
    retry = cli(head, "get", "task", RETRY_ID).stdout
    assert "(2 attempts)" in retry and "--- attempt 0 ---" in retry and "--- attempt 1 ---" in retry
    attempts = [Task.model_validate(t) for t in json.loads(cli(head, "get", "tasks", RETRY_ID, "--json").stdout)]
    assert [(t.attempt, t.state) for t in attempts] == [(0, "FAILED"), (1, "FINISHED")]
    assert "Counter" in cli(head, "get", "actor", ACTOR_IDS[0]).stdout


def test_get_unknown_id_is_a_clear_error(head: HeadProcess) -> None:
    unknown = "ff" * 24
    assert_one_line_error(cli(head, "get", "task", unknown, check=False), unknown)
    assert_one_line_error(cli(head, "get", "actor", unknown, check=False), unknown)


# ---------------------------------------------------------------- logs


def test_logs_by_task_file_and_listing(head: HeadProcess) -> None:
    assert cli(head, "logs", "--task", BOOM_ID).stdout.splitlines() == BOOM_LINES
    assert cli(head, "logs", "--file", WORKER_LOG).stdout.splitlines() == LOG_LINES
    assert cli(head, "logs", "--file", WORKER_LOG, "--tail", "2").stdout.splitlines() == LOG_LINES[-2:]
    listing = cli(head, "logs").stdout
    assert f"Node ID: {NODE_ID}" in listing and WORKER_LOG in listing and "worker_stdout" in listing
    assert_one_line_error(cli(head, "logs", "--file", "nope.out", check=False), "nope.out")
    assert_one_line_error(cli(head, "logs", "--task", "ff" * 24, check=False), "ff" * 24)


def test_logs_grep_with_context(head: HeadProcess) -> None:
    out = cli(head, "logs", "--grep", "valueerror: BOOM", "--context", "1").stdout.splitlines()
    prefix = f"(node={NODE_ID[:8]} task=boom:{BOOM_ID})"
    assert out == [
        f"{prefix}-     raise ValueError('boom went the task')",
        f"{prefix}: ValueError: boom went the task",
        f"(node={NODE_ID[:8]} file={WORKER_LOG})- worker idle",
    ]
    merged = cli(head, "logs", "--grep", "boom", "-C", "1").stdout.splitlines()  # overlapping groups merge
    assert [line.split(" ", 2)[1][-1] for line in merged] == ["-", ":", "-", ":", ":", ":", "-"]
    assert [line.split(" ", 2)[2] for line in merged] == LOG_LINES[1:]
    regex = cli(head, "logs", "--grep", "^(starting|worker) ", "--regex").stdout.splitlines()
    assert [line.split(": ", 1)[1] for line in regex] == ["starting worker", "worker idle"]
    nothing = cli(head, "logs", "--grep", "no such text anywhere", check=False)
    assert nothing.returncode == 1 and nothing.stdout == ""


class RecordingProxy:
    """An HTTP proxy between the CLI and the head that records what each request asked for (path and
    query) and what the head answered (its rows): what a follow costs, seen from outside the CLI."""

    def __init__(self, target: str) -> None:
        self.calls: list[tuple[str, dict[str, list[str]], dict]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                r = httpx.get(target + self.path, headers={"Authorization": self.headers.get("Authorization", "")},
                              timeout=30)
                url = urlsplit(self.path)
                proxy.calls.append((url.path.removeprefix("/api/v1"), parse_qs(url.query), r.json()))
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def polls(self) -> list[tuple[dict[str, list[str]], dict]]:
        return [(q, body) for path, q, body in self.calls if path == "/logs/tail" and "after" in q]


def _follow(head: HeadProcess, proxy: RecordingProxy, *selector: str) -> subprocess.Popen:
    cmd = [PYTHON, "-m", "rayscope.cli.main", "logs", *selector, "--follow", "--address", proxy.url,
           "--token", head.token]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop_after_more_polls(proc: subprocess.Popen, proxy: RecordingProxy) -> str:
    """Let the follow ask twice more (a line printed twice would show by then), Ctrl-C it, and
    return what it printed after the lines already read."""
    seen = len(proxy.calls)
    wait_for("two more requests of the follow", lambda: len(proxy.calls) >= seen + 2, timeout=30)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return rest


def _assert_polls_ask_only_for_new_lines(proxy: RecordingProxy, new_lines: list[str]) -> None:
    """After the first read, only /logs/tail polls, each from the cursor the answer before it gave,
    and all the rows the head returned to them are the new lines, once each."""
    paths = [path for path, _, _ in proxy.calls]
    seen = [(path, q, [r.get("text", r.get("path")) for r in body.get("rows", [])]) for path, q, body in proxy.calls]
    first_poll = next((i for i, (path, q, _) in enumerate(proxy.calls) if path == "/logs/tail" and "after" in q), None)
    assert first_poll is not None, f"no request asked for what came after a cursor: {seen}"
    assert "/logs/lines" in paths[:first_poll] and "/logs/lines" not in paths[first_poll:], seen
    polls = proxy.polls()
    assert all(path == "/logs/tail" for path in paths[first_poll:]), paths
    for (_, before), (q, _) in zip(polls, polls[1:]):
        assert q["after"] == [before["next_cursor"]]
    assert [row["text"] for _, body in polls for row in body["rows"]] == new_lines


def test_logs_follow_prints_each_new_line_once_and_asks_only_for_new_ones(head: HeadProcess) -> None:
    with RecordingProxy(head.http_url) as proxy:
        proc = _follow(head, proxy, "--file", FOLLOW_LOG)
        try:
            assert read_line(proc.stdout, 60, "a line of `logs --follow`").rstrip("\n") == "follow line 0"
            offset = len("follow line 0") + 1
            for text in ("follow line 1", "follow line 2"):  # one batch each: two polls with news
                feed(head, pb.Batch(log_lines=log_lines(f"{NODE_ID}/{FOLLOW_LOG}", [text], start_offset=offset)))
                offset += len(text) + 1
                assert read_line(proc.stdout, 60, "a line of `logs --follow`").rstrip("\n") == text
            assert _stop_after_more_polls(proc, proxy) == ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _assert_polls_ask_only_for_new_lines(proxy, ["follow line 1", "follow line 2"])


def test_logs_follow_of_a_job_prints_lines_of_every_file_once(head: HeadProcess) -> None:
    job = "03000000"
    out_id, err_id = f"{NODE_ID}/worker-job3.out", f"{NODE_ID}/worker-job3.err"
    other_id = f"{NODE_ID}/worker-job4.out"
    feed(head, pb.Batch(log_files=[log_file(out_id, NODE_ID, "worker-job3.out", job_id=job, pid=4545),
                                   log_file(err_id, NODE_ID, "worker-job3.err", job_id=job, pid=4545),
                                   log_file(other_id, NODE_ID, "worker-job4.out", job_id="04000000", pid=4646)],
                        log_lines=log_lines(out_id, ["out 0"]) + log_lines(err_id, ["err 0"])))
    prefix = f"(node={NODE_ID[:8]} file="
    with RecordingProxy(head.http_url) as proxy:
        proc = _follow(head, proxy, "--job", job)
        try:
            first = [read_line(proc.stdout, 60, "a line of `logs --follow`").rstrip("\n") for _ in range(2)]
            assert first == [f"{prefix}worker-job3.err) err 0", f"{prefix}worker-job3.out) out 0"]  # file order
            feed(head, pb.Batch(log_lines=log_lines(out_id, ["out 1"], start_offset=6) +
                                log_lines(err_id, ["err 1"], start_offset=6) +
                                log_lines(other_id, ["another job's line"])))
            feed(head, pb.Batch(log_lines=log_lines(out_id, ["out 2"], start_offset=12)))
            new = [read_line(proc.stdout, 60, "a line of `logs --follow`").rstrip("\n") for _ in range(3)]
            assert _stop_after_more_polls(proc, proxy) == ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _assert_polls_ask_only_for_new_lines(proxy, ["out 1", "err 1", "out 2"])
    assert new == [f"{prefix}worker-job3.out) out 1", f"{prefix}worker-job3.err) err 1",
                   f"{prefix}worker-job3.out) out 2"]  # in the order the head stored them


# ---------------------------------------------------------------- finding the head, errors


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_head_and_bad_token(head: HeadProcess) -> None:
    port = _closed_port()
    down = cli(None, "list", "tasks", "--address", f"http://127.0.0.1:{port}", "--token", "x", check=False)
    assert_one_line_error(down, f"cannot reach the Rayscope head at http://127.0.0.1:{port}: connection refused")
    bad = cli(None, "summary", "tasks", "--address", head.http_url, "--token", "wrong", check=False)
    assert_one_line_error(bad, "the head rejected the token (401)")
    nowhere = cli(None, "list", "nodes", check=False)
    assert_one_line_error(nowhere, "--address", "RAYSCOPE_ADDRESS")


def test_head_found_through_env_and_local_state_file(head: HeadProcess, tmp_path: Path) -> None:
    env = {"RAYSCOPE_ADDRESS": head.http_url, "RAYSCOPE_TOKEN": head.token}
    assert JOB_ID in cli(None, "list", "jobs", env=env).stdout
    svc = HeadServiceRecord(pid=head.proc.pid, create_time=0.0, http_url=head.http_url,
                            grpc_address=head.grpc_address or "", db_path=str(head.db_path), log_path="")
    node = NodeRecord(role="head", gcs_address="127.0.0.1:1", temp_dir="/tmp", session_dir="/tmp",
                      ray_pgid=0, head_service=svc, token_file=str(head.token_file), started_at=0.0)
    (tmp_path / "state.json").write_text(State(nodes=[node]).model_dump_json())
    assert JOB_ID in cli(None, "list", "jobs", env={"RAYSCOPE_HOME": str(tmp_path)}).stdout


# ---------------------------------------------------------------- formatting (no head needed)


def test_table_fits_width_dropping_low_priority_columns_and_never_cutting_ids() -> None:
    cols = [
        Column("TASK_ID", lambda r: r[0], priority=0),
        Column("NAME", lambda r: r[1], priority=1, shrink=True),
        Column("ERROR", lambda r: r[2], priority=9, shrink=True),
    ]
    rows = [("f" * 48, "a_really_long_function_name_for_the_table", "Traceback\nValueError")]
    wide = render_table(cols, rows, None)
    assert "ERROR" in wide and "Traceback ⏎ ValueError" in wide and "…" not in wide
    narrow = render_table(cols, rows, 72)
    assert all(len(line) <= 72 for line in narrow.splitlines())
    assert "ERROR" not in narrow and "f" * 48 in narrow and "…" in narrow
    tiny = render_table(cols, rows, 20)
    assert "f" * 48 in tiny and "NAME" not in tiny  # the id survives even past the width


def test_human_units() -> None:
    assert human_bytes(None) == "" and human_bytes(0) == "0 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"
    assert human_duration(0.0123) == "12ms" and human_duration(75) == "1m15s"
    assert human_duration(7260) == "2h01m" and human_duration(None) == ""
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc"
