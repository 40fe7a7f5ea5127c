"""Guards on the head's read path, against a real head fed through the real wire: a user's regex
cannot stall the head, every page stops at MAX_PAGE_BYTES without losing a row, and /logs/tail
follows any selection with only what was stored after its cursor."""
from __future__ import annotations

import json
import re
import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from head_process import HeadProcess, IngestClient, log_file, log_lines, running_head, task_event
from rayscope.dashboard.store.connection import open_writer
from rayscope.dashboard.store.listing import MAX_PAGE_BYTES
from rayscope.dashboard.store.read_log_tail import log_tail
from rayscope.dashboard.store.read_logs import REGEX_CHUNK_LINES, LineSelector
from rayscope.wire import rayscope_ingest_pb2 as pb

NODE = "ab" * 28
JOB, OTHER_JOB = "01000000", "02000000"
REDOS_FILE, MANY_FILE, BIG_FILE, NL_FILE = "n/redos.out", "n/many.out", "n/big.out", "n/nl.out"
NL_LINES = ["x1", "has\nnewline", "x2", "y" * (20 << 10) + " long x3"]  # a line an agent would not send; a long one
JOB_FILES = ("n/job-a.out", "n/job-b.err")
OTHER_FILE = "n/other.out"
# Python's re needs 2^n steps for `(a+)+$` on n a's and a '!' (27 of them took 5.8 s): this never ends.
REDOS_LINE = "a" * 5000 + "!"
MANY = REGEX_CHUNK_LINES * 2 + 500  # a regex scan crosses chunk boundaries
BIG_LINE_BYTES = 300 << 10
N_BIG = 20  # 6 MiB of lines: more than one page's bytes
BIG_MESSAGE = 5 << 19  # 2.5 MiB error messages: one task per page
N_HUGE_TASKS = 3


def tid(i: int) -> str:
    return f"{i:048x}"


def big_text(i: int) -> str:
    head = f"bigline {i:02d} "
    return head + "x" * (BIG_LINE_BYTES - len(head))


class Feeder:
    """One agent's stream: the next seq for each batch."""

    def __init__(self, head: HeadProcess, agent_id: str) -> None:
        self.client = IngestClient(head.grpc_address, head.token)
        self.agent_id = agent_id

    def __enter__(self) -> "Feeder":
        self.client.__enter__()
        self.seq = self.client.hello(self.agent_id, NODE)
        return self

    def __exit__(self, *exc) -> None:
        self.client.__exit__(*exc)

    def send(self, batch: pb.Batch) -> None:
        self.seq += 1
        batch.seq = self.seq
        assert self.client.send(batch) == self.seq


def feed(head: HeadProcess, *batches: pb.Batch, agent_id: str = "agent-guards") -> None:
    with Feeder(head, agent_id) as f:
        for b in batches:
            f.send(b)


@pytest.fixture(scope="module")
def head():
    with running_head() as h:
        files = [log_file(REDOS_FILE, NODE, "redos.out"), log_file(MANY_FILE, NODE, "many.out"),
                 log_file(BIG_FILE, NODE, "big.out"), log_file(NL_FILE, NODE, "nl.out"),
                 *(log_file(f, NODE, f.split("/")[1], job_id=JOB) for f in JOB_FILES),
                 log_file(OTHER_FILE, NODE, "other.out", job_id=OTHER_JOB)]
        big = log_lines(BIG_FILE, [big_text(i) for i in range(N_BIG)])
        huge = [task_event(tid(i), name="huge", error_type="TASK_EXECUTION_EXCEPTION",
                           error_message=f"huge {i} " + "e" * BIG_MESSAGE, states={"FAILED": 1_700_000_000.0 + i})
                for i in range(N_HUGE_TASKS)]
        feed(h,
             pb.Batch(log_files=files,
                      log_lines=log_lines(REDOS_FILE, [REDOS_LINE, "aaaa", "b"]) + log_lines(NL_FILE, NL_LINES) +
                      log_lines(MANY_FILE, [f"line {i}" for i in range(MANY)])),
             pb.Batch(log_lines=big[: N_BIG // 2]), pb.Batch(log_lines=big[N_BIG // 2:]),
             pb.Batch(tasks=huge))
        yield h


def _send_get(head: HeadProcess, path: str, params: dict) -> socket.socket:
    """GET over a plain socket, left unread: once this returns, the request is in the head's hands."""
    url = urlsplit(head.http_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    sock.sendall(f"GET /api/v1{path}?{urlencode(params)} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                 f"Authorization: Bearer {head.token}\r\nConnection: close\r\n\r\n".encode())
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while chunk := sock.recv(1 << 16):
        data += chunk
    status_line, _, body = data.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def test_a_catastrophic_regex_neither_stalls_the_search_nor_the_other_calls(head: HeadProcess) -> None:
    sock = _send_get(head, "/logs/search", {"regex": "(a+)+$", "filter": f"file_id={REDOS_FILE}"})
    try:
        other = head.get("/tasks", filter="name=huge", limit=1)  # asked while the search is outstanding
        assert other.status_code == 200 and len(other.json()["rows"]) == 1
        status, body = _read_response(sock)
    finally:
        sock.close()
    assert status == 200, body
    assert [h["line"]["text"] for h in body["rows"]] == ["aaaa"] and body["next_cursor"] is None


@pytest.mark.parametrize("pattern, why", [(r"(a)\1", r"\1"), (r"foo(?=bar)", "(?="), (r"(?<!x)y", "(?<!"),
                                          (r"(?>a+)", "(?>"), (r"a\Z", r"\Z")])
def test_a_pattern_re2_cannot_run_is_a_400_naming_what_is_unsupported(head: HeadProcess, pattern: str,
                                                                       why: str) -> None:
    r = head.get("/logs/search", regex=pattern)
    assert r.status_code == 400, r.text
    msg = r.json()["error"]
    assert why in msg and "RE2" in msg and "backreferences" in msg and "lookahead and lookbehind" in msg, msg
    assert "\n" not in msg


# (RE2 pattern, the same for Python's re): the oracle is Python's re, line by line, on what we sent.
SAME_MEANING = [
    (r"^line 1\d{3}$", r"^line 1\d{3}$"),
    (r"line (7|42)\b", r"line (7|42)\b"),
    (r"(?i)LINE 2[0-9]99$", r"(?i)LINE 2[0-9]99$"),
    (r"\Aline 4\d\z", r"\Aline 4\d\Z"),
    (r"\Aline 2[0-4]\d\d\z", r"\Aline 2[0-4]\d\d\Z"),  # in later chunks than the line holding a newline
    (r"(?-m:^line 99$)", r"^line 99$"),
    (r"9$", r"9$"),
    (r"^", r"^"),
]


@pytest.mark.parametrize("filtered", [True, False], ids=["filtered", "all-lines"])
@pytest.mark.parametrize("pattern, oracle", SAME_MEANING)
def test_regex_hits_are_each_line_matched_alone_across_chunks_and_pages(head: HeadProcess, pattern: str,
                                                                        oracle: str, filtered: bool) -> None:
    """Filtered to one file, or over every line (then the hits of that file are compared)."""
    expect = [f"line {i}" for i in range(MANY) if re.search(oracle, f"line {i}")]
    assert expect
    got, cursor = [], None
    with head.client() as c:
        while True:
            params = {"regex": pattern, "limit": 700, **({"filter": f"file_id={MANY_FILE}"} if filtered else {})}
            r = c.get("/api/v1/logs/search", params={**params, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            got += [h["line"]["text"] for h in r.json()["rows"] if h["line"]["file_id"] == MANY_FILE]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
    assert got == expect


@pytest.mark.parametrize("filtered", [True, False], ids=["filtered", "all-lines"])
@pytest.mark.parametrize("pattern", [r"newline$", r"^x\d$", r"x\d$", r"^has", r"^newline", "has.newline", r"\Ax\d"])
def test_a_line_holding_a_newline_or_a_long_line_is_matched_on_its_own(head: HeadProcess, pattern: str,
                                                                       filtered: bool) -> None:
    """(No other file has lines these patterns match: unfiltered, the answer is the same.)"""
    params = {"regex": pattern, **({"filter": f"file_id={NL_FILE}"} if filtered else {})}
    rows = head.get("/logs/search", **params).json()["rows"]
    assert [h["line"]["text"] for h in rows] == [t for t in NL_LINES if re.search(pattern, t)]


def _walk(head: HeadProcess, path: str, params: dict) -> list[tuple[list[dict], int]]:
    """Every page of a listing as (rows, bytes of the answer), following its cursor."""
    pages, cursor = [], None
    with head.client() as c:
        while True:
            r = c.get("/api/v1" + path, params={**params, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            body = r.json()
            pages.append((body["rows"], len(r.content)))
            cursor = body["next_cursor"]
            if cursor is None:
                return pages


def _one_row_over_the_cap(pages: list[tuple[list[dict], int]], row_bytes: int) -> None:
    assert len(pages) > 1
    for rows, size in pages:
        assert size <= MAX_PAGE_BYTES + row_bytes, (len(rows), size)


def test_log_lines_pages_stop_at_the_byte_cap_and_lose_nothing(head: HeadProcess) -> None:
    pages = _walk(head, "/logs/lines", {"file_id": BIG_FILE, "limit": 1000})
    _one_row_over_the_cap(pages, BIG_LINE_BYTES)
    assert [r["text"] for rows, _ in pages for r in rows] == [big_text(i) for i in range(N_BIG)]


def test_search_pages_stop_at_the_byte_cap_with_context_and_lose_nothing(head: HeadProcess) -> None:
    for params in ({"q": "bigline"}, {"regex": r"^bigline \d+ x"}):
        pages = _walk(head, "/logs/search", {**params, "context": 1, "limit": 1000})
        _one_row_over_the_cap(pages, 3 * BIG_LINE_BYTES)
        hits = [h for rows, _ in pages for h in rows]
        assert [h["line"]["text"] for h in hits] == [big_text(i) for i in range(N_BIG)], params
        assert [len(h["before"]) + len(h["after"]) for h in hits] == [1] + [2] * (N_BIG - 2) + [1]


def test_listing_pages_stop_at_the_byte_cap_and_lose_nothing(head: HeadProcess) -> None:
    pages = _walk(head, "/tasks", {"filter": "name=huge", "sort": "creation_time", "limit": 10_000})
    _one_row_over_the_cap(pages, BIG_MESSAGE + 4096)
    rows = [t for rows, _ in pages for t in rows]
    assert sorted(t["task_id"] for t in rows) == [tid(i) for i in range(N_HUGE_TASKS)]
    assert all(len(t["error_message"]) > BIG_MESSAGE for t in rows)


def test_tail_of_a_big_file_keeps_the_newest_lines_within_the_cap(head: HeadProcess) -> None:
    r = head.get("/logs/tail", file_id=BIG_FILE, lines=1000)
    assert r.status_code == 200 and len(r.content) <= MAX_PAGE_BYTES + BIG_LINE_BYTES
    texts = [x["text"] for x in r.json()["rows"]]
    assert 0 < len(texts) < N_BIG and texts == [big_text(i) for i in range(N_BIG - len(texts), N_BIG)]
    again = head.get("/logs/tail", file_id=BIG_FILE, lines=1000, after=r.json()["next_cursor"]).json()
    assert again["rows"] == [] and again["next_cursor"] == r.json()["next_cursor"]


def test_tail_follows_a_job_across_files_with_only_what_was_stored_after_its_cursor(head: HeadProcess) -> None:
    mark = head.get("/logs/tail", job_id=JOB, lines=0).json()
    assert mark["rows"] == [] and mark["next_cursor"]
    with Feeder(head, "agent-tail") as f:
        f.send(pb.Batch(log_lines=log_lines(JOB_FILES[0], ["a0", "a1"]) + log_lines(OTHER_FILE, ["other0"])))
        f.send(pb.Batch(log_lines=log_lines(JOB_FILES[1], ["b0"]) + log_lines(JOB_FILES[0], ["a2"], start_offset=6)))
        first = head.get("/logs/tail", job_id=JOB, after=mark["next_cursor"]).json()
        assert [x["text"] for x in first["rows"]] == ["a0", "a1", "b0", "a2"]  # arrival order
        empty = head.get("/logs/tail", job_id=JOB, after=first["next_cursor"]).json()
        assert empty["rows"] == []
        f.send(pb.Batch(log_lines=log_lines(OTHER_FILE, ["other1"], start_offset=7) +
                        log_lines(JOB_FILES[1], ["b1", "b2"], start_offset=3)))
        pages, cursor = [], empty["next_cursor"]
        while True:  # one line a page: each page resumes where the one before it ended
            page = head.get("/logs/tail", job_id=JOB, after=cursor, lines=1).json()
            if not page["rows"]:
                break
            pages.append([x["text"] for x in page["rows"]])
            cursor = page["next_cursor"]
        assert pages == [["b1"], ["b2"]]
    last = head.get("/logs/tail", job_id=JOB, lines=3).json()
    assert [x["text"] for x in last["rows"]] == ["a2", "b1", "b2"]
    assert head.get("/logs/tail", job_id=JOB, lines=0, after=mark["next_cursor"]).status_code == 400
    file_cursor = head.get("/logs/tail", file_id=JOB_FILES[0], lines=1).json()["next_cursor"]
    assert head.get("/logs/tail", job_id=JOB, after=file_cursor).status_code == 400
    assert head.get("/logs/tail", lines=1).status_code == 400


def test_a_tail_reads_the_selections_files_and_a_poll_only_the_lines_after_its_cursor(tmp_path: Path) -> None:
    """What SQLite runs for /logs/tail of a job: the first call reads the job's files by their
    index (never a walk of every line); a poll is a rowid range from its cursor."""
    conn = open_writer(tmp_path / "head.db")
    conn.row_factory = sqlite3.Row
    # 40 files of 500 lines, one of them the job's, and statistics (the writer runs PRAGMA optimize):
    # left to itself, SQLite answers "the job's last lines" by walking every line from the newest
    conn.executemany("INSERT INTO log_files (file_id, node_id, path, basename, kind, job_id) "
                     "VALUES (?, ?, ?, ?, 'worker_stdout', ?)",
                     [(f"f{k}", NODE, f"f{k}.out", f"f{k}.out", JOB if k == 0 else f"{k:08x}") for k in range(40)])
    conn.executemany("INSERT INTO log_lines (file_id, generation, offset, text, read_at) VALUES (?, 0, ?, 'x', 0)",
                     [(f"f{k}", i) for i in range(500) for k in range(40)])
    conn.execute("ANALYZE")
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    last, mark = log_tail(conn, LineSelector(job_id=JOB), 1000, None)  # the default `lines`
    rows, _ = log_tail(conn, LineSelector(job_id=JOB), 1000, mark)
    conn.set_trace_callback(None)
    assert [r.offset for r in last] == list(range(500)) and rows == []
    plans = {sql: [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)] for sql in seen if "l.text" in sql}
    first = [p for sql, p in plans.items() if "l.id > " not in sql]
    poll = [p for sql, p in plans.items() if "l.id > " in sql]
    assert len(first) == 1 and len(poll) == 1, plans
    assert "SEARCH l USING INDEX sqlite_autoindex_log_lines_1 (file_id=?)" in first[0], first
    assert not any(step.startswith("SCAN l") for step in first[0]), first
    assert poll[0][0] == "SEARCH l USING INTEGER PRIMARY KEY (rowid>?)", poll
    conn.close()
