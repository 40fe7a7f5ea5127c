"""Stack dumps as the API shows them: wire -> API models, each dump's headline, and the cluster-wide
summary that groups workers whose task thread has the identical stack.

The headline answers "where is it?" in the user's terms: the innermost frame of the user's own code,
and the Ray or standard-library call it is waiting in, e.g. "ray.get at retriever.py:88". Ray's
and Python's own frames are recognised by path (a `ray/` package directory; the interpreter's lib
directory outside site-packages), since the head cannot import the worker's environment.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Optional, Sequence

from rayscope.dashboard import profiling_models as pm
from rayscope.wire import rayscope_ingest_pb2 as pb

_RAY_PACKAGE = re.compile(r"(^|/)(site|dist)-packages/ray/|(^|/)python/ray/")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?!(site|dist)-packages/)")
_WRAPPER = re.compile(r"wrap|decorat|^inner$|^_?call$")
MAIN_THREAD = "MainThread"


def short_file(path: str) -> str:
    """The last two parts of a path: enough to recognise a file, short enough for a table."""
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:]) if parts else path


def frame_model(f: pb.StackFrame) -> pm.StackFrame:
    return pm.StackFrame(function=f.function, file=f.file, short_file=short_file(f.file), line=f.line,
                         module=f.module or None, native=f.native, locals=dict(f.locals) if f.locals else None)


def thread_model(t: pb.ThreadStack) -> pm.ThreadStack:
    return pm.ThreadStack(thread_id=t.thread_id, name=t.name or None, os_thread_id=t.os_thread_id or None,
                          active=t.active, owns_gil=t.owns_gil, frames=[frame_model(f) for f in t.frames])


def is_internal(frame: pm.StackFrame) -> bool:
    """Ray's or the interpreter's own code (not where a user looks first)."""
    if frame.native or frame.file.startswith("<"):
        return True
    return bool(_RAY_PACKAGE.search(frame.file) or _STDLIB.search(frame.file))


def _called(frame: pm.StackFrame) -> str:
    """How a user names the internal call they are waiting in: `ray.get`, `threading.wait`."""
    if _RAY_PACKAGE.search(frame.file):
        return f"ray.{frame.function}"
    stem = frame.file.rsplit("/", 1)[-1].removesuffix(".py")
    return f"{stem}.{frame.function}" if stem and not frame.file.startswith("<") else frame.function


def _api_frame(internal: Sequence[pm.StackFrame]) -> pm.StackFrame:
    """The call the user made, among the internal frames inside their own (innermost first): the outermost
    one that is not a decorator's wrapper (`ray.get` runs inside client_mode_hook's `wrapper`)."""
    for f in reversed(internal):
        if not _WRAPPER.search(f.function):
            return f
    return internal[-1]


def headline(frames: Sequence[pm.StackFrame]) -> str:
    """'ray.get at retriever.py:88' (waiting in an internal call), 'embed at model.py:41' (in user code),
    or the innermost frame when the stack is all internal (an idle worker's loop)."""
    if not frames:
        return "no Python frames"
    for i, f in enumerate(frames):
        if not is_internal(f):
            where = f"{short_file(f.file).rsplit('/', 1)[-1]}:{f.line}"
            return f"{_called(_api_frame(frames[:i]))} at {where}" if i else f"{f.function} at {where}"
    f = frames[0]
    return f"{f.function} at {short_file(f.file).rsplit('/', 1)[-1]}:{f.line}"


def task_thread(threads: Sequence[pm.ThreadStack]) -> Optional[pm.ThreadStack]:
    """The thread that runs the worker's task: Ray runs normal tasks and sync actors' methods on the
    main thread; otherwise (threaded actors) the first thread with user code, else the first."""
    for t in threads:
        if t.name == MAIN_THREAD:
            return t
    for t in threads:
        if any(not is_internal(f) for f in t.frames):
            return t
    return threads[0] if threads else None


def dump_headline(threads: Sequence[pm.ThreadStack]) -> Optional[str]:
    t = task_thread(threads)
    return None if t is None else headline(t.frames)


def group(dumps: Iterable[tuple[pm.ResolvedTarget, Sequence[pm.ThreadStack]]]) -> list[pm.StackGroup]:
    """Workers whose task thread has the same frames (function, file, line, all the way down) form
    one group; the largest first, ties by headline."""
    frames_of: dict[tuple, list[pm.StackFrame]] = {}
    members: dict[tuple, list[pm.ResolvedTarget]] = defaultdict(list)
    for target, threads in dumps:
        t = task_thread(threads)
        frames = t.frames if t is not None else []
        key = tuple((f.function, f.file, f.line) for f in frames)
        frames_of.setdefault(key, [f.model_copy(update={"locals": None}) for f in frames])
        members[key].append(target)
    groups = [pm.StackGroup(count=len(members[k]), headline=headline(frames_of[k]), frames=frames_of[k], targets=members[k])
              for k in members]
    groups.sort(key=lambda g: (-g.count, g.headline))
    return groups
