"""The node-side profiling tools (profiling/) against real processes: py-spy, memray through gdb,
the faulthandler fallback, the stack ladder where ptrace is really denied (tests/no_ptrace.py's
seccomp filter, Docker's default for a container without SYS_PTRACE), and the worker's start-up
registration through rayscope_debugger.pth. No Ray: the targets are small Python processes in
their own sessions (not children of the tool that reads them, as workers are to the agent).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Iterator

import pytest

from polling import die_with_parent, read_line, wait_for, wait_or_kill
from rayscope.debugger.boot import ray_worker_session_dir
from rayscope.profiling import capabilities, fallback, memory, pyspy
from rayscope.profiling.errors import ProfilingError

TESTS = Path(__file__).resolve().parent

SPIN = """\
import sys
def weave_the_pattern(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
if len(sys.argv) > 1:
    from rayscope.profiling import fallback
    fallback.register(sys.argv[1])
print("ready", flush=True)
while True:
    weave_the_pattern(20000)
"""
SPIN_BODY = range(3, 7)  # the lines of weave_the_pattern's body

BLOCKED = """\
import threading
print("ready", flush=True)
threading.Event().wait()
"""

ALLOC = """\
import time
keep = []
def grow_the_heap():
    while True:
        keep.append(bytearray(65536))  # ALLOCATING LINE
        if len(keep) > 200:
            del keep[:100]
        time.sleep(0.001)
print("ready", flush=True)
grow_the_heap()
"""
ALLOC_LINE = 5


class Target:
    """A Python process started in its own session from a script file; killed at the end."""

    def __init__(self, tmp: Path, name: str, source: str, args: list[str], python: str = sys.executable,
                 env: dict[str, str] | None = None) -> None:
        self.script = tmp / f"{name}.py"
        self.script.parent.mkdir(parents=True, exist_ok=True)
        self.script.write_text(source)
        self.proc = subprocess.Popen([python, str(self.script), *args], stdout=subprocess.PIPE, text=True,
                                     start_new_session=True, preexec_fn=die_with_parent, env=env)
        assert read_line(self.proc.stdout, 60, f"{name} ready").strip() == "ready"  # type: ignore[arg-type]
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.kill()
        wait_or_kill(self.proc, 10)


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[list[Target]]:
    started: list[Target] = []
    yield started
    for t in started:
        t.stop()


def start(targets: list[Target], tmp: Path, name: str, source: str, *args: str, **kw: object) -> Target:
    t = Target(tmp, name, source, list(args), **kw)  # type: ignore[arg-type]
    targets.append(t)
    return t


def frames_of(stack: object) -> list[tuple[str, int]]:
    return [(f.function, f.line) for t in stack.threads for f in t.frames]  # type: ignore[attr-defined]


def spinning(pid: int, dump: object) -> bool:
    return any(fn == "weave_the_pattern" and line in SPIN_BODY for fn, line in frames_of(dump))


def dump_when_spinning(pid: int, session: Path) -> object:
    """The fallback's dump once it shows the loop: the first signal may land while the child is
    still in print("ready") (a C call: no Python frame of its own)."""
    def probe() -> object:
        d = fallback.dump_via_signal(pid, str(session))
        return d if spinning(pid, d) else None
    return wait_for("a faulthandler dump inside weave_the_pattern", probe, 10)


# ---------------------------------------------------------------------------------------- py-spy


def test_py_spy_dump_names_the_function_and_line_with_locals(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "spin", SPIN)
    dumps = [pyspy.dump(t.pid, locals=True) for _ in range(3)]  # a dump may land between two calls
    assert any(spinning(t.pid, d) for d in dumps), [frames_of(d) for d in dumps]
    d = next(d for d in dumps if spinning(t.pid, d))
    assert d.method == "py-spy" and d.pid == t.pid and d.took_ms > 0 and d.warning == ""
    main = d.threads[0]
    assert main.active and main.owns_gil and main.os_thread_id == t.pid
    innermost = main.frames[0]
    assert innermost.file == str(t.script) and innermost.locals["n"] == "20000"
    assert [f.function for f in main.frames] == ["weave_the_pattern", "<module>"]  # innermost first


def test_py_spy_errors_are_classified(targets: list[Target], tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(ProfilingError) as e:
        pyspy.dump(gone.pid)
    assert e.value.kind == "process_gone" and str(gone.pid) in e.value.message
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True, preexec_fn=die_with_parent)
    try:
        with pytest.raises(ProfilingError) as e:
            pyspy.dump(sleeper.pid)
        assert e.value.kind == "not_python", e.value.message
        assert "\n" not in e.value.message
    finally:
        sleeper.kill()
        sleeper.wait()


def test_py_spy_record_gives_a_speedscope_profile_dominated_by_the_spinning_function(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "spin", SPIN)
    p = pyspy.record(t.pid, duration_s=1, rate_hz=100)
    assert p.kind == "cpu" and p.method == "py-spy" and p.duration_s == 1 and p.samples > 20
    doc = json.loads(zlib.decompress(p.speedscope_zlib))
    weave = {i for i, f in enumerate(doc["shared"]["frames"]) if f["name"] == "weave_the_pattern"}  # one frame per line
    assert weave
    samples = [s for prof in doc["profiles"] for s in prof["samples"]]
    assert len(samples) == p.samples
    share = sum(bool(weave & set(s)) for s in samples) / len(samples)
    assert share > 0.8, share


def test_a_blocked_process_recorded_with_idle_gives_a_non_empty_profile(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "blocked", BLOCKED)
    p = pyspy.record(t.pid, duration_s=1, idle=True)
    assert p.samples > 0 and p.warning == ""
    doc = json.loads(zlib.decompress(p.speedscope_zlib))
    assert "Event.wait" in {f["name"] for f in doc["shared"]["frames"]}  # py-spy names qualified on 3.11
    d = pyspy.dump(t.pid)
    assert not d.threads[0].active and d.threads[0].frames[0].function.endswith("wait")


# ---------------------------------------------------------------------------------------- memray


def test_memray_record_names_the_allocating_line(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "alloc", ALLOC)  # the agent's own Python: memray is installed in it
    p = memory.record(t.pid, duration_s=1)
    assert p.kind == "memory" and p.method == "memray" and p.samples > 0 and p.total_bytes > 1_000_000
    top = p.top_allocations[0]
    assert (top.function, top.file, top.line) == ("grow_the_heap", str(t.script), ALLOC_LINE), p.top_allocations
    assert top.size > 1_000_000 and top.count > 10
    doc = json.loads(zlib.decompress(p.speedscope_zlib))
    assert {prof["name"] for prof in doc["profiles"]} >= {"Memory"}
    assert t.alive()


def test_memray_missing_in_the_workers_python_is_said_plainly(targets: list[Target], tmp_path: Path) -> None:
    base = str(Path(sys.base_prefix) / "bin" / "python3")  # the interpreter under .venv, without memray
    probe = subprocess.run([base, "-c", "import memray"], capture_output=True, text=True)
    assert probe.returncode != 0, f"{base} has memray: this test needs an interpreter without it"
    t = start(targets, tmp_path, "alloc", ALLOC, python=base, env={"PATH": os.environ["PATH"]})
    with pytest.raises(ProfilingError) as e:
        memory.record(t.pid, duration_s=1)
    assert e.value.kind == "memray_missing", e.value.message
    assert e.value.message.startswith("memray is not installed in the worker's Python environment (")
    assert "pip install memray" in e.value.message and os.path.realpath(base) in e.value.message
    assert t.alive()


# ---------------------------------------------------------------------------------------- fallback


def test_the_fallback_dumps_a_registered_process_by_signal(targets: list[Target], tmp_path: Path) -> None:
    session = tmp_path / "session"
    t = start(targets, tmp_path, "spin", SPIN, str(session))
    d = dump_when_spinning(t.pid, session)
    assert d.method == "faulthandler" and d.pid == t.pid and d.took_ms > 0
    assert [th.name for th in d.threads] == ["current thread"] and d.threads[0].active
    assert d.threads[0].frames[-1].function == "<module>" and d.threads[0].frames[0].file == str(t.script)
    assert (session / "rayscope" / "stacks" / f"{t.pid}.txt").exists()
    assert spinning(t.pid, fallback.dump_via_signal(t.pid, str(session)))  # again: the file was truncated
    assert t.alive()


def test_the_fallback_refuses_a_process_that_did_not_register_and_leaves_it_alive(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "spin", SPIN)
    with pytest.raises(ProfilingError) as e:
        fallback.dump_via_signal(t.pid, str(tmp_path / "session"))
    assert e.value.kind == "tool_missing" and f"process {t.pid} has no stack-dump signal handler" in e.value.message
    assert t.alive() and "State:\tZ" not in Path(f"/proc/{t.pid}/status").read_text()


def test_parse_reads_faulthandlers_all_threads_text() -> None:
    text = ('Thread 0x00007f0000000002 (most recent call first):\n'
            '  File "/usr/lib/python3.11/threading.py", line 324 in wait\n'
            '  File "/w/a.py", line 9 in poll\n\n'
            'Current thread 0x00007f0000000001 (most recent call first):\n'
            '  File "/w/a b.py", line 3 in leaf\n'
            '  File "/w/a b.py", line 30 in <module>\n')
    threads = fallback.parse(text)
    assert [(t.thread_id, t.name) for t in threads] == [(0x7F0000000002, ""), (0x7F0000000001, "current thread")]
    assert [(f.file, f.line, f.function) for f in threads[1].frames] == [("/w/a b.py", 3, "leaf"), ("/w/a b.py", 30, "<module>")]


def test_a_ray_worker_registers_the_fallback_at_interpreter_start(targets: list[Target], tmp_path: Path) -> None:
    """Through rayscope_debugger.pth and debugger/boot.py, as the raylet starts a worker (its argv:
    ray/_private/services.py); a process that is not default_worker.py registers nothing."""
    temp = tmp_path / "ray"
    argv = ["--node-ip-address=127.0.0.1", "--session-name=session_x", f"--temp-dir={temp}"]
    env = {**os.environ, "RAYSCOPE_DEBUGGER": "1"}
    worker_source = SPIN.replace("if len(sys.argv) > 1:", "if False:")
    w = start(targets, tmp_path / "ray" / "_private" / "workers", "default_worker", worker_source, *argv, env=env)
    assert ray_worker_session_dir([str(w.script), *argv]) == str(temp / "session_x")
    dump_when_spinning(w.pid, temp / "session_x")
    other = start(targets, tmp_path, "driver", worker_source, *argv, env=env)
    assert not fallback.signal_caught(fallback.read_status(other.pid))


# ---------------------------------------------------------------------------------------- the ladder

LADDER = """\
import json, sys
from rayscope.profiling import capabilities, pyspy
from rayscope.profiling.errors import ProfilingError
pid, session = int(sys.argv[1]), sys.argv[2]
caps = capabilities.probe()
try:
    pyspy.dump(pid)
    direct = "ok"
except ProfilingError as e:
    direct = e.kind
d = capabilities.take_stack(pid, session, locals=False, native=False, caps=caps)
print(json.dumps({"direct": direct, "ptrace": caps.ptrace, "remedy": caps.remedy, "method": d.method, "warning": d.warning,
                  "frames": [[f.function, f.line] for t in d.threads for f in t.frames]}))
"""


def _ladder(pid: int, session: Path, denied: bool) -> dict:
    cmd = [sys.executable, "-c", LADDER, str(pid), str(session)]
    if denied:
        cmd = [sys.executable, str(TESTS / "no_ptrace.py"), "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_take_stack_falls_back_to_faulthandler_where_ptrace_is_denied(targets: list[Target], tmp_path: Path) -> None:
    session = tmp_path / "session"
    t = start(targets, tmp_path, "spin", SPIN, str(session))
    allowed = _ladder(t.pid, session, denied=False)
    assert allowed["direct"] == "ok" and allowed["method"] == "py-spy" and allowed["warning"] == ""
    denied = _ladder(t.pid, session, denied=True)
    assert denied["direct"] == "ptrace_denied"  # py-spy really refused under the seccomp filter
    assert denied["method"] == "faulthandler", denied
    assert any(fn == "weave_the_pattern" and line in SPIN_BODY for fn, line in denied["frames"]), denied
    assert denied["warning"].startswith("ptrace not permitted (a seccomp filter blocks ptrace")
    assert "fix: start the container with --cap-add SYS_PTRACE" in denied["warning"] and "\n" not in denied["warning"]
    assert denied["ptrace"] == "denied" and "SYS_PTRACE" in denied["remedy"]
    assert t.alive()


def test_take_stack_without_the_fallback_says_both_reasons(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "spin", SPIN)
    cmd = [sys.executable, str(TESTS / "no_ptrace.py"), "--", sys.executable, "-c", LADDER, str(t.pid), str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "ProfilingError: ptrace not permitted" in last and "the faulthandler fallback failed too" in last, out.stderr
    assert t.alive()


def test_probe_reports_the_nodes_tools() -> None:
    caps = capabilities.probe()
    assert caps.py_spy and os.access(caps.py_spy, os.X_OK) and caps.py_spy_version.count(".") == 2
    assert caps.memray and os.access(caps.memray, os.X_OK)
    assert caps.gdb == "/usr/bin/gdb"  # ./run setup installs it
    assert caps.ptrace in {"root", "cap_sys_ptrace", "yama_0", "same_uid", "denied"}
    assert caps.fallback_signal


def test_no_ptrace_denies_reading_memory_but_not_signals(targets: list[Target], tmp_path: Path) -> None:
    t = start(targets, tmp_path, "spin", SPIN)
    dump = subprocess.run([sys.executable, str(TESTS / "no_ptrace.py"), "--", pyspy.find_py_spy() or "py-spy", "dump", "--pid", str(t.pid)],
                          capture_output=True, text=True, timeout=60)
    assert dump.returncode != 0 and "EPERM" in dump.stderr
    kill = subprocess.run([sys.executable, str(TESTS / "no_ptrace.py"), "--", "kill", "-TERM", str(t.pid)], timeout=60)
    assert kill.returncode == 0
    assert t.proc.wait(10) == -15


def test_stale_stack_files_of_exited_workers_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live, dead = fallback.stack_file(str(tmp_path), os.getpid()), fallback.stack_file(str(tmp_path), gone.pid)
    os.makedirs(os.path.dirname(live))
    for path in (live, dead):
        Path(path).write_text("Current thread 0x1 (most recent call first):\n")
    assert fallback.remove_stale(str(tmp_path)) == 1
    assert os.path.exists(live) and not os.path.exists(dead)


def test_start_lines_say_what_is_missing_and_what_to_install() -> None:
    from rayscope.wire import rayscope_ingest_pb2 as pb

    caps = pb.ProfilerCapabilities(py_spy="/v/bin/py-spy", py_spy_version="0.4.3", memray="", gdb="", ptrace="denied",
                                   remedy="start the container with --cap-add SYS_PTRACE",
                                   notes="memray is missing: pip install memray in the agent's environment\n"
                                         "memray needs gdb or lldb on the node: apt install gdb")
    first, *rest = capabilities.summary_lines(caps)
    assert first == ("py-spy 0.4.3, memray MISSING (no gdb); ptrace: denied "
                     "(fix: start the container with --cap-add SYS_PTRACE)")
    assert rest == ["memray is missing: pip install memray in the agent's environment",
                    "memray needs gdb or lldb on the node: apt install gdb"]
    assert capabilities.summary_lines(capabilities.probe())[0].startswith("py-spy 0.")
