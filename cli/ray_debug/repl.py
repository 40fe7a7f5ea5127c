"""The pdb-like terminal debugger of `ray-debug attach`, speaking DAP to a paused worker.

Ray users know pdb (Ray's legacy `ray debug` was pdb over TCP), so the prompt, the location
line `> file(line)func()`, the `-> source` line, `list`'s layout, `*** error` lines and the
command names follow pdb. Underneath every command is one or two DAP requests.
"""
from __future__ import annotations

import ast
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Optional, TextIO

from rayscope.debugger.dap import (
    DapClient,
    DapClosed,
    DapError,
    DapRequestFailed,
    PathMapping,
    StackFrame,
    Stopped,
)

PROMPT = "(ray-debug) "
LIST_CONTEXT = 5  # lines before and after the current one, like pdb's 11-line `list`
WAIT_SLICE_S = 0.5
SESSION_CHECK_SLICES = 2  # ask the head whether the session still exists once a second while running

HELP = """\
Commands (pdb names; an empty line repeats the last command):
  w(here), bt        print the stack, most recent frame last
  u(p), d(own)       move to the older / newer frame
  l(ist)             show source around the current line (again: continue listing)
  p EXPR             print the value of an expression in the current frame
  locals             print the current frame's local variables
  n(ext)             run to the next line of this function
  s(tep)             step into a call
  r(eturn)           run until this function returns
  c(ont(inue))       resume; waits for a breakpoint if any is set, else detaches
  b(reak) FILE:LINE  set a line breakpoint (b alone lists them)
  q(uit), exit, ^D   detach and leave the task running
  anything else      run as a Python statement in the current frame"""


@dataclass
class Breakpoints:
    """Line breakpoints by file; DAP replaces a file's whole set on every change."""

    by_file: dict[str, list[int]] = field(default_factory=dict)
    numbers: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, path: str, line: int) -> tuple[int, list[int]]:
        lines = self.by_file.setdefault(path, [])
        if line not in lines:
            lines.append(line)
            self.numbers[(path, line)] = len(self.numbers) + 1
        return self.numbers[(path, line)], list(lines)

    def lines_in(self, path: Optional[str]) -> set[int]:
        return set(self.by_file.get(path or "", []))

    def __bool__(self) -> bool:
        return any(self.by_file.values())


class SourceReader:
    """Source lines for a frame: the local file when it exists (after path mapping), else the
    worker's own copy read through `linecache` in the paused frame (Ray's working_dir packages
    live only on the worker)."""

    def __init__(self, dap: DapClient, mapping: Optional[PathMapping]) -> None:
        self._dap = dap
        self._mapping = mapping
        self._cache: dict[str, list[str]] = {}

    def lines(self, frame: StackFrame) -> list[str]:
        path = frame.path
        if not path:
            return []
        if path not in self._cache:
            self._cache[path] = self._read_local(path) or self._read_remote(path, frame.id)
        return self._cache[path]

    @staticmethod
    def _read_local(path: str) -> list[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def _remote_path(self, path: str) -> str:
        m = self._mapping
        if m and (path == m.local_root or path.startswith(m.local_root.rstrip("/") + "/")):
            return m.remote_root.rstrip("/") + path[len(m.local_root.rstrip("/")):]
        return path

    def _read_remote(self, path: str, frame_id: int) -> list[str]:
        expr = f"__import__('linecache').getlines({self._remote_path(path)!r})"
        try:
            value = self._dap.evaluate(expr, frame_id, context="repl").value
            return [line.rstrip("\n") for line in ast.literal_eval(value)]
        except (DapError, ValueError, SyntaxError):
            return []


class TerminalDebugger:
    """One attached session: a command loop over a `DapClient` stopped on `thread_id`."""

    def __init__(
        self, dap: DapClient, stopped: Stopped, out: TextIO,
        mapping: Optional[PathMapping] = None, read_line: Callable[[str], str] = input,
        exception: Optional[str] = None, still_paused: Callable[[], bool] = lambda: True,
    ) -> None:
        self.dap = dap
        self.out = out
        self.mapping = mapping
        self.read_line = read_line
        self.sources = SourceReader(dap, mapping)
        self.breakpoints = Breakpoints()
        self.thread_id = int(stopped.thread_id or 0)
        self.frames: list[StackFrame] = []
        self.index = 0  # into self.frames; 0 is the newest frame
        self.last_listed: Optional[int] = None
        self.attached = True
        self.exception = exception  # the head's one line ("ValueError: bad input") for a post-mortem session
        self.still_paused = still_paused  # False once the head dropped the session (its frame returned)
        self._commands: dict[str, Callable[[str], bool]] = {}
        for names, handler in (
            (("w", "where", "bt"), self.do_where), (("u", "up"), self.do_up), (("d", "down"), self.do_down),
            (("l", "list"), self.do_list), (("p", "pp", "print"), self.do_print), (("locals",), self.do_locals),
            (("n", "next"), self.do_next), (("s", "step"), self.do_step), (("r", "return"), self.do_return),
            (("c", "cont", "continue"), self.do_continue), (("b", "break"), self.do_break),
            (("q", "quit", "exit", "detach"), self.do_quit), (("h", "help"), self.do_help),
        ):
            for name in names:
                self._commands[name] = handler
        self._on_stop(stopped)

    # ------------------------------------------------------------ loop

    def run(self) -> int:
        """Read commands until quit, detach or the connection ends; 0 unless the connection broke."""
        last = ""
        while self.attached:
            try:
                line = self.read_line(PROMPT)
            except EOFError:
                self._print("")
                self.do_quit("")
                break
            except KeyboardInterrupt:
                self._print("\n--KeyboardInterrupt--")
                continue
            line = line.strip() or last
            if not line:
                continue
            last = line
            try:
                self.onecmd(line)
            except DapClosed as exc:
                self._print(f"*** The debug connection ended: {exc}")
                return 1
            except DapError as exc:
                self._print(f"*** {exc}")
        return 0

    def onecmd(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        handler = self._commands.get(name)
        if handler is None:
            self._exec(line)
        else:
            handler(arg.strip())

    # ------------------------------------------------------------ output

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    @property
    def frame(self) -> StackFrame:
        return self.frames[self.index]

    def _source_line(self, frame: StackFrame) -> str:
        lines = self.sources.lines(frame)
        return lines[frame.line - 1].strip() if 0 < frame.line <= len(lines) else ""

    def _print_frame(self, frame: StackFrame, current: bool) -> None:
        self._print(f"{'>' if current else ' '} {frame.path or '<unknown>'}({frame.line}){frame.name}()")
        source = self._source_line(frame)
        if source:
            self._print(f"-> {source}")

    def _on_stop(self, stopped: Stopped) -> None:
        if stopped.thread_id is not None:
            self.thread_id = int(stopped.thread_id)
        self.frames = self.dap.stack_trace(self.thread_id)
        self.index = 0
        self.last_listed = None
        if stopped.reason == "exception":
            self._print(f"*** {self._exception_text(stopped)}")
        if self.frames:
            self._print_frame(self.frame, current=True)

    def _exception_text(self, stopped: Stopped) -> str:
        """pdb's post-mortem line: `ValueError: bad input`."""
        if self.exception:
            text, self.exception = self.exception, None  # later stops are the debuggee's own
            return text
        try:
            info = self.dap.request("exceptionInfo", {"threadId": self.thread_id})
        except DapError:
            return stopped.text or stopped.description or "exception"
        name = str(info.get("exceptionId") or "Exception")
        if re.fullmatch(r"[\w.]+", name):
            name = name.rsplit(".", 1)[-1]  # builtins.ValueError -> ValueError
        return f"{name}: {info.get('description') or ''}".rstrip(": ")

    # ------------------------------------------------------------ inspection

    def do_help(self, arg: str) -> bool:
        self._print(HELP)
        return True

    def do_where(self, arg: str) -> bool:
        for i in reversed(range(len(self.frames))):
            self._print_frame(self.frames[i], current=(i == self.index))
        return True

    def do_up(self, arg: str) -> bool:
        if self.index + 1 >= len(self.frames):
            self._print("*** Oldest frame")
            return True
        self.index += 1
        self.last_listed = None
        self._print_frame(self.frame, current=True)
        return True

    def do_down(self, arg: str) -> bool:
        if self.index == 0:
            self._print("*** Newest frame")
            return True
        self.index -= 1
        self.last_listed = None
        self._print_frame(self.frame, current=True)
        return True

    def do_list(self, arg: str) -> bool:
        frame = self.frame
        lines = self.sources.lines(frame)
        if not lines:
            self._print(f"*** source of {frame.path} is not available")
            return True
        first = self.last_listed + 1 if self.last_listed else max(1, frame.line - LIST_CONTEXT)
        last = min(len(lines), first + 2 * LIST_CONTEXT)
        if first > len(lines):
            self._print("[EOF]")
            return True
        marks = self.breakpoints.lines_in(frame.path)
        for n in range(first, last + 1):
            s = str(n).rjust(3) + (" " if n < 1000 else "")
            s += "B" if n in marks else " "
            if n == frame.line:
                s += "->"
            self._print(f"{s}\t{lines[n - 1]}")
        self.last_listed = last
        return True

    def do_print(self, arg: str) -> bool:
        if not arg:
            self._print("*** usage: p EXPR")
            return True
        try:
            self._print(self.dap.evaluate(arg, self.frame.id, context="repl").value)
        except DapRequestFailed as exc:
            self._print(f"*** {exc.message.strip().splitlines()[-1]}")
        return True

    def do_locals(self, arg: str) -> bool:
        variables = self.dap.locals(self.frame.id)
        if not variables:
            self._print("(no locals)")
        for var in variables:
            self._print(f"{var.name} = {var.value}")
        return True

    def _exec(self, line: str) -> None:
        """pdb runs unknown input as a statement in the frame; so do we (`!stmt` too)."""
        code = line[1:] if line.startswith("!") else line
        try:
            value = self.dap.evaluate(code, self.frame.id, context="repl").value
        except DapRequestFailed as exc:
            self._print(f"*** {exc.message.strip().splitlines()[-1]}")
            return
        if value:
            self._print(value)

    # ------------------------------------------------------------ breakpoints

    def do_break(self, arg: str) -> bool:
        if not arg:
            if not self.breakpoints:
                self._print("No breakpoints.")
            for (path, line), number in self.breakpoints.numbers.items():
                self._print(f"{number:<4}breakpoint at {path}:{line}")
            return True
        where, _, line_text = arg.rpartition(":")
        if not where:  # `b 42`: a line of the current file
            where, line_text = self.frame.path or "", arg
        if not line_text.strip().isdigit():
            self._print(f"*** bad breakpoint {arg!r}: expected FILE:LINE or LINE")
            return True
        path = self._local_path(where)
        number, lines = self.breakpoints.add(path, int(line_text))
        verified = self.dap.set_breakpoints(path, lines)
        state = verified[lines.index(int(line_text))] if len(verified) == len(lines) else None
        note = "" if state is None or state.verified else f" (not verified: {state.message or 'no code there'})"
        self._print(f"Breakpoint {number} at {path}:{int(line_text)}{note}")
        return True

    def _local_path(self, where: str) -> str:
        """A file as the client names it. A relative name is first matched against the files of
        the stack (`b job.py:12` while stopped in .../job.py), then taken under the local root."""
        where = os.path.expanduser(shlex.split(where)[0]) if where.strip() else where
        if os.path.isabs(where):
            return os.path.normpath(where)
        suffix = "/" + os.path.normpath(where)
        for frame in self.frames:
            if frame.path and frame.path.endswith(suffix):
                return frame.path
        root = self.mapping.local_root if self.mapping else os.getcwd()
        return os.path.normpath(os.path.join(root, where))

    # ------------------------------------------------------------ execution

    def do_next(self, arg: str) -> bool:
        self.dap.next(self.thread_id)
        return self._wait_for_stop()

    def do_step(self, arg: str) -> bool:
        self.dap.step_in(self.thread_id)
        return self._wait_for_stop()

    def do_return(self, arg: str) -> bool:
        self.dap.step_out(self.thread_id)
        return self._wait_for_stop()

    def do_continue(self, arg: str) -> bool:
        if not self.breakpoints:
            # Nothing could stop it again: like `c` in `ray debug`, the session ends here.
            self.dap.continue_(self.thread_id)
            self._detach("Continuing; detached, the task runs on.")
            return False
        self.dap.continue_(self.thread_id)
        self._print("Continuing until a breakpoint is hit (Ctrl-C pauses, q at the prompt detaches).")
        return self._wait_for_stop()

    def do_quit(self, arg: str) -> bool:
        self._detach("Detached; the task runs on.")
        return False

    def _detach(self, message: str) -> None:
        try:
            self.dap.disconnect(terminate=False)
        except DapError:
            pass
        self.attached = False
        self._print(message)

    def _wait_for_stop(self) -> bool:
        """Block until the debuggee stops again (location printed) or goes away. Ctrl-C pauses.
        If nothing stops it and the head drops the session (the task left the paused frame,
        e.g. ran to its end past a breakpoint that was never hit), detach instead of hanging."""
        interrupted = False
        idle_slices = 0
        while True:
            try:
                event = self.dap.next_event(WAIT_SLICE_S)
            except KeyboardInterrupt:
                if interrupted:
                    self._detach("\nDetached; the task runs on.")
                    return False
                interrupted = True
                self._print("\n--KeyboardInterrupt-- pausing (Ctrl-C again detaches)")
                self.dap.pause(self.thread_id)
                continue
            except DapClosed as exc:
                self.attached = False
                self._print(f"The session ended: {exc}")
                return False
            if event is None:
                idle_slices += 1
                if idle_slices % SESSION_CHECK_SLICES == 0 and not self.still_paused():
                    self._detach("The task left the paused frame without stopping again; detached, it runs on.")
                    return False
                continue
            if event.event == "stopped":
                body = event.body
                self._on_stop(Stopped(
                    str(body.get("reason", "")), body.get("threadId"), body.get("description"), body.get("text"),
                ))
                return True
            if event.event in ("terminated", "exited"):
                self.attached = False
                self._print("The program finished; the session ended.")
                return False
